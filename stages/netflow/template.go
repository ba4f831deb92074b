package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// Information element identifiers (NetFlow v9 field types, IANA IPFIX IEs).
const (
	ieOctetDeltaCount          = 1
	iePacketDeltaCount         = 2
	ieProtocol                 = 4
	ieIPClassOfService         = 5
	ieTCPControlBits           = 6
	ieSourceTransportPort      = 7
	ieSourceIPv4Address        = 8
	ieSourceIPv4PrefixLength   = 9
	ieIngressInterface         = 10
	ieDestinationTransportPort = 11
	ieDestinationIPv4Address   = 12
	ieDestinationIPv4PrefixLen = 13
	ieEgressInterface          = 14
	ieIPNextHopIPv4Address     = 15
	ieBGPSourceAS              = 16
	ieBGPDestinationAS         = 17
	ieBGPNextHopIPv4Address    = 18
	ieFlowEndSysUpTime         = 21
	ieFlowStartSysUpTime       = 22
	iePostOctetDeltaCount      = 23
	iePostPacketDeltaCount     = 24
	ieSourceIPv6Address        = 27
	ieDestinationIPv6Address   = 28
	ieSourceIPv6PrefixLength   = 29
	ieDestinationIPv6PrefixLen = 30
	ieICMPTypeCodeIPv4         = 32
	ieSamplingInterval         = 34
	ieSamplingAlgorithm        = 35
	ieSamplerID                = 48
	ieSamplerMode              = 49
	ieSamplerRandomInterval    = 50
	ieMinimumTTL               = 52
	ieMaximumTTL               = 53
	ieSourceMACAddress         = 56
	iePostDestinationMAC       = 57
	ieVlanID                   = 58
	iePostVlanID               = 59
	ieIPVersion                = 60
	ieFlowDirection            = 61
	ieIPNextHopIPv6Address     = 62
	ieBGPNextHopIPv6Address    = 63
	ieDestinationMACAddress    = 80
	iePostSourceMACAddress     = 81
	ieOctetTotalCount          = 85
	iePacketTotalCount         = 86
	ieForwardingStatus         = 89
	ieICMPTypeCodeIPv6         = 139
	ieFlowStartSeconds         = 150
	ieFlowEndSeconds           = 151
	ieFlowStartMilliseconds    = 152
	ieFlowEndMilliseconds      = 153
	ieFlowStartMicroseconds    = 154
	ieFlowEndMicroseconds      = 155
	ieFlowStartNanoseconds     = 156
	ieFlowEndNanoseconds       = 157
	ieFlowStartDeltaMicros     = 158
	ieFlowEndDeltaMicros       = 159
	ieSystemInitTimeMillis     = 160
	ieICMPTypeIPv4             = 176
	ieICMPCodeIPv4             = 177
	ieICMPTypeIPv6             = 178
	ieICMPCodeIPv6             = 179
	ieUDPSourcePort            = 180
	ieUDPDestinationPort       = 181
	ieTCPSourcePort            = 182
	ieTCPDestinationPort       = 183
	ieIPTTL                    = 192
	ieDot1qVlanID              = 243
	iePostDot1qVlanID          = 254
	ieEthernetType             = 256
	ieSelectorID               = 302
	ieSamplingPacketInterval   = 305
	ieSamplingPacketSpace      = 306
	ieSamplingSize             = 309
	ieSamplingPopulation       = 310
)

// op says what a template field does to the record being decoded.
type op uint8

const (
	opSkip op = iota
	opBytes
	opPackets
	opProto
	opTos
	opTCPFlags
	opSrcPort
	opDstPort
	opSrcAddr4
	opDstAddr4
	opSrcAddr6
	opDstAddr6
	opSrcMask
	opDstMask
	opInIf
	opOutIf
	opNextHop4
	opNextHop6
	opSrcAS
	opDstAS
	opFirstUptime
	opLastUptime
	opIPVersion
	opEType
	opICMPTypeCode
	opICMPType
	opICMPCode
	opTTL
	opSrcMAC
	opDstMAC
	opSrcVlan
	opDstVlan
	opDirection
	opForwarding
	opStartSeconds
	opEndSeconds
	opStartMillis
	opEndMillis
	opStartNTP
	opEndNTP
	opStartDeltaMicros
	opEndDeltaMicros
	opSystemInit
	opSamplingInterval
	opSamplingAlgorithm
	opSamplerID
	opSamplerRandomInterval
	opPacketInterval
	opPacketSpace
	opSamplingSize
	opSamplingPopulation
)

func num(max uint16) func(uint16) bool   { return func(n uint16) bool { return n >= 1 && n <= max } }
func exactly(m uint16) func(uint16) bool { return func(n uint16) bool { return n == m } }

// fieldTable maps information elements to ops; group names the column they
// compete for (empty: no competition).
var fieldTable = map[uint16]struct {
	op    op
	group string
	rank  int
	size  func(uint16) bool
}{
	ieOctetDeltaCount:          {opBytes, "bytes", 0, num(8)},
	iePostOctetDeltaCount:      {opBytes, "bytes", 1, num(8)},
	ieOctetTotalCount:          {opBytes, "bytes", 2, num(8)},
	iePacketDeltaCount:         {opPackets, "packets", 0, num(8)},
	iePostPacketDeltaCount:     {opPackets, "packets", 1, num(8)},
	iePacketTotalCount:         {opPackets, "packets", 2, num(8)},
	ieProtocol:                 {opProto, "", 0, num(8)},
	ieIPClassOfService:         {opTos, "", 0, num(8)},
	ieTCPControlBits:           {opTCPFlags, "", 0, num(8)},
	ieSourceTransportPort:      {opSrcPort, "srcport", 0, num(8)},
	ieUDPSourcePort:            {opSrcPort, "srcport", 1, num(8)},
	ieTCPSourcePort:            {opSrcPort, "srcport", 1, num(8)},
	ieDestinationTransportPort: {opDstPort, "dstport", 0, num(8)},
	ieUDPDestinationPort:       {opDstPort, "dstport", 1, num(8)},
	ieTCPDestinationPort:       {opDstPort, "dstport", 1, num(8)},
	ieSourceIPv4Address:        {opSrcAddr4, "", 0, exactly(4)},
	ieDestinationIPv4Address:   {opDstAddr4, "", 0, exactly(4)},
	ieSourceIPv6Address:        {opSrcAddr6, "", 0, exactly(16)},
	ieDestinationIPv6Address:   {opDstAddr6, "", 0, exactly(16)},
	ieSourceIPv4PrefixLength:   {opSrcMask, "", 0, num(8)},
	ieSourceIPv6PrefixLength:   {opSrcMask, "", 0, num(8)},
	ieDestinationIPv4PrefixLen: {opDstMask, "", 0, num(8)},
	ieDestinationIPv6PrefixLen: {opDstMask, "", 0, num(8)},
	ieIngressInterface:         {opInIf, "", 0, num(8)},
	ieEgressInterface:          {opOutIf, "", 0, num(8)},
	ieIPNextHopIPv4Address:     {opNextHop4, "nexthop", 0, exactly(4)},
	ieIPNextHopIPv6Address:     {opNextHop6, "nexthop", 0, exactly(16)},
	ieBGPNextHopIPv4Address:    {opNextHop4, "nexthop", 1, exactly(4)},
	ieBGPNextHopIPv6Address:    {opNextHop6, "nexthop", 1, exactly(16)},
	ieBGPSourceAS:              {opSrcAS, "", 0, num(8)},
	ieBGPDestinationAS:         {opDstAS, "", 0, num(8)},
	ieIPVersion:                {opIPVersion, "etype", 1, num(8)},
	ieEthernetType:             {opEType, "etype", 0, num(8)},
	ieICMPTypeCodeIPv4:         {opICMPTypeCode, "", 0, num(8)},
	ieICMPTypeCodeIPv6:         {opICMPTypeCode, "", 0, num(8)},
	ieICMPTypeIPv4:             {opICMPType, "", 0, num(8)},
	ieICMPTypeIPv6:             {opICMPType, "", 0, num(8)},
	ieICMPCodeIPv4:             {opICMPCode, "", 0, num(8)},
	ieICMPCodeIPv6:             {opICMPCode, "", 0, num(8)},
	ieIPTTL:                    {opTTL, "ttl", 0, num(8)},
	ieMinimumTTL:               {opTTL, "ttl", 1, num(8)},
	ieMaximumTTL:               {opTTL, "ttl", 2, num(8)},
	ieSourceMACAddress:         {opSrcMAC, "srcmac", 0, exactly(6)},
	iePostSourceMACAddress:     {opSrcMAC, "srcmac", 1, exactly(6)},
	ieDestinationMACAddress:    {opDstMAC, "dstmac", 0, exactly(6)},
	iePostDestinationMAC:       {opDstMAC, "dstmac", 1, exactly(6)},
	ieVlanID:                   {opSrcVlan, "srcvlan", 0, num(8)},
	ieDot1qVlanID:              {opSrcVlan, "srcvlan", 1, num(8)},
	iePostVlanID:               {opDstVlan, "dstvlan", 0, num(8)},
	iePostDot1qVlanID:          {opDstVlan, "dstvlan", 1, num(8)},
	ieFlowDirection:            {opDirection, "", 0, num(8)},
	ieForwardingStatus:         {opForwarding, "", 0, num(8)},
	ieSamplingInterval:         {opSamplingInterval, "", 0, num(8)},
	ieSamplingAlgorithm:        {opSamplingAlgorithm, "", 0, num(8)},
	ieSamplerID:                {opSamplerID, "samplerid", 1, num(8)},
	ieSelectorID:               {opSamplerID, "samplerid", 0, num(8)},
	ieSamplerRandomInterval:    {opSamplerRandomInterval, "", 0, num(8)},
	ieSamplingPacketInterval:   {opPacketInterval, "", 0, num(8)},
	ieSamplingPacketSpace:      {opPacketSpace, "", 0, num(8)},
	ieSamplingSize:             {opSamplingSize, "", 0, num(8)},
	ieSamplingPopulation:       {opSamplingPopulation, "", 0, num(8)},
	ieSystemInitTimeMillis:     {opSystemInit, "", 0, num(8)},
}

// Time fields differ between NetFlow v9 and IPFIX only for 21/22, which are
// relative to the exporter's uptime in both (v9: header sysUptime, IPFIX:
// systemInitTimeMilliseconds). The absolute ones exist only in IPFIX but are
// harmless in v9.
var timeTable = map[uint16]struct {
	op    op
	group string
	rank  int
}{
	ieFlowStartSysUpTime:    {opFirstUptime, "start", 3},
	ieFlowEndSysUpTime:      {opLastUptime, "end", 3},
	ieFlowStartSeconds:      {opStartSeconds, "start", 2},
	ieFlowEndSeconds:        {opEndSeconds, "end", 2},
	ieFlowStartMilliseconds: {opStartMillis, "start", 1},
	ieFlowEndMilliseconds:   {opEndMillis, "end", 1},
	ieFlowStartMicroseconds: {opStartNTP, "start", 0},
	ieFlowEndMicroseconds:   {opEndNTP, "end", 0},
	ieFlowStartNanoseconds:  {opStartNTP, "start", 0},
	ieFlowEndNanoseconds:    {opEndNTP, "end", 0},
	ieFlowStartDeltaMicros:  {opStartDeltaMicros, "start", 4},
	ieFlowEndDeltaMicros:    {opEndDeltaMicros, "end", 4},
}

// varLength marks an IPFIX variable-length field.
const varLength = 0xffff

// field is a template field as the exporter sent it.
type field struct {
	Type   uint16 `json:"type"`
	Length uint16 `json:"length"`
	PEN    uint32 `json:"pen,omitempty"`
}

// fieldOp is one compiled field: where it is in the record and what it sets.
type fieldOp struct {
	off    uint16 // offset in a fixed-length record
	length uint16 // length in bytes, or varLength
	op     op
}

// template is a compiled (options) template.
type template struct {
	version uint16
	domain  uint32
	id      uint16
	scopes  int  // number of scope fields (options templates)
	options bool // options template: its records describe the exporter, not flows
	fields  []field
	// ops: for fixed-length templates, only the fields that set something,
	// with their offsets; for variable-length ones, every field in order.
	ops      []fieldOp
	recLen   int  // record length (fixed) or minimum record length (variable)
	variable bool // has variable-length fields
}

// compile builds a template from its fields. ok is false for templates that
// cannot describe data: no field, a record of zero or absurd length.
func compile(version uint16, domain uint32, id uint16, fields []field, scopes int, options bool) (*template, bool) {
	if len(fields) == 0 || len(fields) > 1024 {
		return nil, false
	}
	t := &template{version: version, domain: domain, id: id, scopes: scopes, options: options, fields: fields}
	ops := make([]op, len(fields))
	ranks := make([]int, len(fields))
	groups := make([]string, len(fields))
	best := map[string]int{}
	off := 0
	for i, f := range fields {
		if f.Length == varLength && version == 10 {
			t.variable = true
			off++
		} else {
			off += int(f.Length)
		}
		if f.PEN != 0 || f.Length == varLength && version != 10 {
			continue
		}
		if e, ok := fieldTable[f.Type]; ok && (f.Length == varLength || e.size(f.Length)) {
			ops[i], groups[i], ranks[i] = e.op, e.group, e.rank
		} else if e, ok := timeTable[f.Type]; ok && f.Length >= 1 && f.Length <= 8 {
			ops[i], groups[i], ranks[i] = e.op, e.group, e.rank
		}
		if ops[i] == opSkip || groups[i] == "" {
			continue
		}
		if r, ok := best[groups[i]]; !ok || ranks[i] < r {
			best[groups[i]] = ranks[i]
		}
	}
	// Of the fields competing for one column, keep the best ranked (both
	// families of the same rank for next hops).
	for i := range ops {
		if groups[i] != "" && ranks[i] != best[groups[i]] {
			ops[i] = opSkip
		}
	}
	if off == 0 || off > 65535 {
		return nil, false
	}
	t.recLen = off
	if t.variable {
		t.ops = make([]fieldOp, len(fields))
		for i, f := range fields {
			t.ops[i] = fieldOp{length: f.Length, op: ops[i]}
			if version != 10 || f.Length != varLength {
				continue
			}
			t.ops[i].length = varLength
		}
		return t, true
	}
	off = 0
	for i, f := range fields {
		if ops[i] != opSkip {
			t.ops = append(t.ops, fieldOp{off: uint16(off), length: f.Length, op: ops[i]})
		}
		off += int(f.Length)
	}
	return t, true
}

// sameFields reports whether a template's fields equal fields.
func (t *template) sameFields(fields []field, scopes int) bool {
	if len(t.fields) != len(fields) || t.scopes != scopes {
		return false
	}
	for i := range fields {
		if t.fields[i] != fields[i] {
			return false
		}
	}
	return true
}

// recordExtra collects what a record says beside the flow columns: sampling
// parameters and the times that need the packet header to resolve.
type recordExtra struct {
	samplerID        uint64
	hasSamplerID     bool
	samplingInterval uint64
	randomInterval   uint64
	packetInterval   uint64
	packetSpace      uint64
	samplingSize     uint64
	population       uint64
	systemInit       uint64 // ms since epoch
	firstUptime      uint32
	lastUptime       uint32
	hasFirst         bool
	hasLast          bool
	hasStart         bool
	hasEnd           bool
	startDelta       uint64
	endDelta         uint64
	hasStartDelta    bool
	hasEndDelta      bool
}

// rate returns the sampling rate the record carries, 0 when none.
func (x *recordExtra) rate() uint64 {
	switch {
	case x.packetInterval > 0:
		return (x.packetInterval + x.packetSpace) / x.packetInterval
	case x.population > 0 && x.samplingSize > 0:
		return x.population / x.samplingSize
	case x.randomInterval > 0:
		return x.randomInterval
	case x.samplingInterval > 0:
		return x.samplingInterval
	}
	return 0
}

// be reads a big-endian unsigned number of up to 8 bytes (the last 8 when longer).
func be(v []byte) uint64 {
	switch len(v) {
	case 1:
		return uint64(v[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(v))
	case 4:
		return uint64(binary.BigEndian.Uint32(v))
	case 8:
		return binary.BigEndian.Uint64(v)
	}
	if len(v) > 8 {
		v = v[len(v)-8:]
	}
	var n uint64
	for _, c := range v {
		n = n<<8 | uint64(c)
	}
	return n
}

func mac(v []byte) uint64 {
	return uint64(v[0])<<40 | uint64(v[1])<<32 | uint64(v[2])<<24 | uint64(v[3])<<16 | uint64(v[4])<<8 | uint64(v[5])
}

func zero4(v []byte) bool { return binary.BigEndian.Uint32(v) == 0 }
func zero16(v []byte) bool {
	return binary.BigEndian.Uint64(v) == 0 && binary.BigEndian.Uint64(v[8:]) == 0
}

// ntpTime converts an NTP timestamp (seconds since 1900 and a binary fraction).
func ntpTime(v uint64) time.Time {
	sec := int64(v>>32) - 2208988800
	frac := (v & 0xffffffff) * 1e9 >> 32
	return time.Unix(sec, int64(frac)).UTC()
}

// apply sets what one field says. The value is v (its length already checked
// against the field's size at compile time, or at decode time for
// variable-length fields).
func apply(o op, v []byte, r *flow.Record, x *recordExtra) {
	switch o {
	case opBytes:
		r.Bytes = be(v)
	case opPackets:
		r.Packets = be(v)
	case opProto:
		r.Proto = uint8(be(v))
	case opTos:
		r.IPTos = uint8(be(v))
	case opTCPFlags:
		r.TCPFlags = uint8(be(v))
	case opSrcPort:
		if p := uint16(be(v)); p != 0 || r.SrcPort == 0 {
			r.SrcPort = p
		}
	case opDstPort:
		if p := uint16(be(v)); p != 0 || r.DstPort == 0 {
			r.DstPort = p
		}
	case opSrcAddr4:
		if len(v) == 4 && (!r.SrcAddr.IsValid() || !zero4(v)) {
			r.SrcAddr = netip.AddrFrom4([4]byte(v))
			r.EType = flow.ETypeIPv4
		}
	case opDstAddr4:
		if len(v) == 4 && (!r.DstAddr.IsValid() || !zero4(v)) {
			r.DstAddr = netip.AddrFrom4([4]byte(v))
			if r.EType == 0 {
				r.EType = flow.ETypeIPv4
			}
		}
	case opSrcAddr6:
		if len(v) == 16 && (!r.SrcAddr.IsValid() || !zero16(v)) {
			r.SrcAddr = netip.AddrFrom16([16]byte(v))
			r.EType = flow.ETypeIPv6
		}
	case opDstAddr6:
		if len(v) == 16 && (!r.DstAddr.IsValid() || !zero16(v)) {
			r.DstAddr = netip.AddrFrom16([16]byte(v))
			if r.EType == 0 || r.EType == flow.ETypeIPv4 && !r.SrcAddr.Is4() {
				r.EType = flow.ETypeIPv6
			}
		}
	case opSrcMask:
		r.SrcNetMask = uint8(be(v))
	case opDstMask:
		r.DstNetMask = uint8(be(v))
	case opInIf:
		r.InIfIndex = uint32(be(v))
	case opOutIf:
		r.OutIfIndex = uint32(be(v))
	case opNextHop4:
		if len(v) == 4 && (!r.NextHop.IsValid() || !zero4(v)) {
			r.NextHop = netip.AddrFrom4([4]byte(v))
		}
	case opNextHop6:
		if len(v) == 16 && (!r.NextHop.IsValid() || !zero16(v)) {
			r.NextHop = netip.AddrFrom16([16]byte(v))
		}
	case opSrcAS:
		r.SrcAS = uint32(be(v))
	case opDstAS:
		r.DstAS = uint32(be(v))
	case opFirstUptime:
		x.firstUptime, x.hasFirst = uint32(be(v)), true
	case opLastUptime:
		x.lastUptime, x.hasLast = uint32(be(v)), true
	case opIPVersion:
		switch be(v) {
		case 4:
			r.EType = flow.ETypeIPv4
		case 6:
			r.EType = flow.ETypeIPv6
		}
	case opEType:
		r.EType = uint16(be(v))
	case opICMPTypeCode:
		tc := be(v)
		r.ICMPType, r.ICMPCode = uint8(tc>>8), uint8(tc)
	case opICMPType:
		r.ICMPType = uint8(be(v))
	case opICMPCode:
		r.ICMPCode = uint8(be(v))
	case opTTL:
		r.IPTTL = uint8(be(v))
	case opSrcMAC:
		if len(v) == 6 {
			r.SrcMAC = mac(v)
		}
	case opDstMAC:
		if len(v) == 6 {
			r.DstMAC = mac(v)
		}
	case opSrcVlan:
		r.SrcVlan = uint16(be(v)) & 0xfff
	case opDstVlan:
		r.DstVlan = uint16(be(v)) & 0xfff
	case opDirection:
		r.FlowDirection = uint8(be(v))
	case opForwarding:
		r.ForwardingStatus = uint8(be(v))
	case opStartSeconds:
		r.TimeFlowStart, x.hasStart = time.Unix(int64(be(v)), 0).UTC(), true
	case opEndSeconds:
		r.TimeFlowEnd, x.hasEnd = time.Unix(int64(be(v)), 0).UTC(), true
	case opStartMillis:
		r.TimeFlowStart, x.hasStart = time.UnixMilli(int64(be(v))).UTC(), true
	case opEndMillis:
		r.TimeFlowEnd, x.hasEnd = time.UnixMilli(int64(be(v))).UTC(), true
	case opStartNTP:
		r.TimeFlowStart, x.hasStart = ntpTime(be(v)), true
	case opEndNTP:
		r.TimeFlowEnd, x.hasEnd = ntpTime(be(v)), true
	case opStartDeltaMicros:
		x.startDelta, x.hasStartDelta = be(v), true
	case opEndDeltaMicros:
		x.endDelta, x.hasEndDelta = be(v), true
	case opSystemInit:
		x.systemInit = be(v)
	case opSamplingInterval:
		x.samplingInterval = be(v)
	case opSamplerID:
		x.samplerID, x.hasSamplerID = be(v), true
	case opSamplerRandomInterval:
		x.randomInterval = be(v)
	case opPacketInterval:
		x.packetInterval = be(v)
	case opPacketSpace:
		x.packetSpace = be(v)
	case opSamplingSize:
		x.samplingSize = be(v)
	case opSamplingPopulation:
		x.population = be(v)
	}
}

// sizeOK checks a variable-length value against what an op expects.
func sizeOK(o op, n int) bool {
	switch o {
	case opSkip:
		return true
	case opSrcAddr4, opDstAddr4, opNextHop4:
		return n == 4
	case opSrcAddr6, opDstAddr6, opNextHop6:
		return n == 16
	case opSrcMAC, opDstMAC:
		return n == 6
	}
	return n >= 1 && n <= 8
}

// decodeRecord decodes one data record at the start of data into r and x. It
// returns the record's length, or 0 when data is too short (the rest of the
// set is padding or truncated).
func (t *template) decodeRecord(data []byte, r *flow.Record, x *recordExtra) int {
	if !t.variable {
		if len(data) < t.recLen {
			return 0
		}
		rec := data[:t.recLen]
		for _, f := range t.ops {
			apply(f.op, rec[f.off:int(f.off)+int(f.length)], r, x)
		}
		return t.recLen
	}
	pos := 0
	for _, f := range t.ops {
		n := int(f.length)
		if f.length == varLength {
			if pos >= len(data) {
				return 0
			}
			n = int(data[pos])
			pos++
			if n == 255 {
				if pos+2 > len(data) {
					return 0
				}
				n = int(binary.BigEndian.Uint16(data[pos:]))
				pos += 2
			}
			if pos+n > len(data) {
				return 0
			}
			if f.op != opSkip && sizeOK(f.op, n) {
				apply(f.op, data[pos:pos+n], r, x)
			}
			pos += n
			continue
		}
		if pos+n > len(data) {
			return 0
		}
		if f.op != opSkip {
			apply(f.op, data[pos:pos+n], r, x)
		}
		pos += n
	}
	if pos == 0 {
		return 0
	}
	return pos
}
