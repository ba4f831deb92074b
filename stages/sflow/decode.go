package sflow

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// Errors of a malformed datagram. The whole datagram is dropped.
var (
	ErrVersion   = errors.New("not an sFlow v5 datagram")
	ErrTruncated = errors.New("truncated sFlow datagram")
	ErrBogus     = errors.New("bogus sFlow datagram")
)

// sFlow v5 structure formats (enterprise 0).
const (
	sampleFlow            = 1
	sampleCounters        = 2
	sampleFlowExpanded    = 3
	sampleCountersExpand  = 4
	recordRawHeader       = 1
	recordSampledIPv4     = 3
	recordSampledIPv6     = 4
	recordExtendedSwitch  = 1001
	recordExtendedRouter  = 1002
	recordExtendedGateway = 1003

	headerEthernet = 1
	headerIPv4     = 11
	headerIPv6     = 12

	// minFlowSample is the smallest flow sample: its 8-byte header and the 32
	// bytes of a compact flow sample. It bounds the number of flows a datagram
	// may produce.
	minFlowSample = 40
	// maxSamples bounds the sample count of a datagram (a 64 KiB datagram
	// cannot hold more).
	maxSamples = 65535 / 8
)

// Result summarizes one decoded datagram.
type Result struct {
	Agent           netip.Addr // the agent address, or the UDP source when unset
	Flows           int        // records appended to the batch
	CounterSamples  int        // counter samples skipped
	OtherSamples    int        // samples of unknown formats skipped
	SamplingRate    uint64     // rate of the last flow sample (after defaults/overrides)
	SubAgentID      uint32
	SequenceNumber  uint32
	AgentUptimeMsec uint32
}

// Decoder decodes sFlow v5 datagrams into flow records. It keeps no state
// between datagrams; one decoder may serve many goroutines.
type Decoder struct {
	// DefaultRate applies when a sample reports a sampling rate of 0.
	DefaultRate RateTable
	// OverrideRate, when it matches the agent, replaces the sample's rate.
	OverrideRate RateTable
}

// MaxFlows returns an upper bound of the number of flows a datagram of n
// bytes can produce: callers make room for that many records before Decode.
func MaxFlows(n int) int { return n / minFlowSample }

// reader is a bounds-checked big-endian cursor. Reads past the end set bad
// and return zeroes, so a decoding path checks once at its end.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.bad = true
		r.b = nil
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// opaque reads an XDR variable-length opaque: a length, the bytes, and the
// padding to a multiple of four.
func (r *reader) opaque(max int) []byte {
	n := r.u32()
	if n > uint32(max) || int(n) > len(r.b) {
		r.bad = true
		r.b = nil
		return nil
	}
	v := r.b[:n]
	pad := (int(n) + 3) &^ 3
	if pad > len(r.b) {
		pad = len(r.b) // tolerate a missing final padding
	}
	r.b = r.b[pad:]
	return v
}

// address reads an sFlow address: a type (0 unknown, 1 IPv4, 2 IPv6) and the
// address bytes.
func (r *reader) address() netip.Addr {
	switch r.u32() {
	case 0:
		return netip.Addr{}
	case 1:
		b := r.bytes(4)
		if b == nil {
			return netip.Addr{}
		}
		return netip.AddrFrom4([4]byte(b))
	case 2:
		b := r.bytes(16)
		if b == nil {
			return netip.Addr{}
		}
		return netip.AddrFrom16([16]byte(b))
	default:
		r.bad = true
		r.b = nil
		return netip.Addr{}
	}
}

// Decode decodes one datagram received from src at now, appending one record
// per flow sample to b. On error nothing is appended (records appended before
// the error are removed) and the result still names the agent when it could
// be read, for per-exporter error counters.
//
// Callers that must not let b grow past its pooled capacity flush it first
// when len(b.Records)+MaxFlows(len(data)) exceeds cap(b.Records).
func (d *Decoder) Decode(data []byte, src netip.Addr, now time.Time, b *flow.Batch) (Result, error) {
	var res Result
	res.Agent = src
	start := len(b.Records)
	r := reader{b: data}
	if r.u32() != 5 {
		return res, ErrVersion
	}
	agent := r.address()
	res.SubAgentID = r.u32()
	res.SequenceNumber = r.u32()
	res.AgentUptimeMsec = r.u32()
	nsamples := r.u32()
	if r.bad {
		return res, ErrTruncated
	}
	if agent.IsValid() && !agent.IsUnspecified() {
		res.Agent = agent
	}
	exporter := res.Agent.Unmap()
	override, hasOverride := d.OverrideRate.Lookup(exporter)
	defRate, hasDefault := d.DefaultRate.Lookup(exporter)
	if nsamples > maxSamples || int(nsamples)*8 > len(r.b) {
		return res, ErrBogus
	}
	for i := uint32(0); i < nsamples; i++ {
		format := r.u32()
		body := r.bytes(int(r.u32()))
		if r.bad {
			b.Records = b.Records[:start]
			res.Flows = 0
			return res, ErrTruncated
		}
		if format>>12 != 0 { // enterprise-specific
			res.OtherSamples++
			continue
		}
		switch format {
		case sampleFlow, sampleFlowExpanded:
		case sampleCounters, sampleCountersExpand:
			res.CounterSamples++
			continue
		default:
			res.OtherSamples++
			continue
		}
		rec := b.Append()
		if err := decodeFlowSample(body, format == sampleFlowExpanded, rec); err != nil {
			b.Records = b.Records[:start]
			res.Flows = 0
			return res, err
		}
		switch {
		case hasOverride:
			rec.SamplingRate = override
		case rec.SamplingRate == 0 && hasDefault:
			rec.SamplingRate = defRate
		}
		res.SamplingRate = rec.SamplingRate
		rec.ExporterAddress = exporter
		rec.TimeReceived = now
		rec.TimeFlowStart = now
		rec.TimeFlowEnd = now
		res.Flows++
	}
	if len(r.b) != 0 {
		// Trailing bytes after the announced samples: the count is wrong.
		b.Records = b.Records[:start]
		res.Flows = 0
		return res, ErrBogus
	}
	return res, nil
}

// decodeFlowSample fills rec from a flow sample (compact or expanded).
func decodeFlowSample(body []byte, expanded bool, rec *flow.Record) error {
	r := reader{b: body}
	r.u32() // sequence number
	var in, out uint32
	if expanded {
		r.u32() // source id type
		r.u32() // source id index
		rec.SamplingRate = uint64(r.u32())
		r.u32() // sample pool
		r.u32() // drops
		inFormat := r.u32()
		in = r.u32()
		outFormat := r.u32()
		out = r.u32()
		if inFormat != 0 {
			in = 0
		}
		if outFormat != 0 {
			out = 0
		}
	} else {
		r.u32() // source id
		rec.SamplingRate = uint64(r.u32())
		r.u32() // sample pool
		r.u32() // drops
		in = r.u32()
		out = r.u32()
		// The top two bits are a format: 0 is an ifIndex, 1 a discard
		// reason, 2 a count of output interfaces.
		if in>>30 != 0 {
			in = 0
		}
		if out>>30 != 0 {
			out = 0
		}
	}
	rec.InIfIndex = in
	rec.OutIfIndex = out
	nrecords := r.u32()
	if r.bad {
		return ErrTruncated
	}
	if int(nrecords)*8 > len(r.b) {
		return ErrBogus
	}
	rec.Packets = 1
	haveHeader := false
	var gatewayNextHop netip.Addr
	for i := uint32(0); i < nrecords; i++ {
		format := r.u32()
		data := r.bytes(int(r.u32()))
		if r.bad {
			return ErrTruncated
		}
		if format>>12 != 0 {
			continue
		}
		var err error
		switch format {
		case recordRawHeader:
			err = decodeRawHeader(data, rec)
			haveHeader = true
		case recordSampledIPv4:
			if !haveHeader {
				err = decodeSampledIP(data, false, rec)
			}
		case recordSampledIPv6:
			if !haveHeader {
				err = decodeSampledIP(data, true, rec)
			}
		case recordExtendedSwitch:
			err = decodeExtendedSwitch(data, rec)
		case recordExtendedRouter:
			err = decodeExtendedRouter(data, rec)
		case recordExtendedGateway:
			gatewayNextHop, err = decodeExtendedGateway(data, rec)
		}
		if err != nil {
			return err
		}
	}
	if len(r.b) != 0 {
		return ErrBogus
	}
	if gatewayNextHop.IsValid() && !gatewayNextHop.IsUnspecified() {
		rec.NextHop = gatewayNextHop
	}
	return nil
}

func decodeRawHeader(data []byte, rec *flow.Record) error {
	r := reader{b: data}
	proto := r.u32()
	frameLength := r.u32()
	stripped := r.u32()
	header := r.opaque(len(data))
	if r.bad {
		return ErrTruncated
	}
	if stripped < frameLength {
		frameLength -= stripped
	}
	rec.Bytes = uint64(frameLength)
	switch proto {
	case headerEthernet:
		parseEthernet(header, frameLength, rec)
	case headerIPv4, headerIPv6:
		parseIP(header, frameLength, rec)
	}
	return nil
}

func mac(b []byte) uint64 {
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}

// parseEthernet decodes an Ethernet frame header and what it carries.
func parseEthernet(h []byte, frameLength uint32, rec *flow.Record) {
	if len(h) < 14 {
		return
	}
	rec.DstMAC = mac(h[0:6])
	rec.SrcMAC = mac(h[6:12])
	etype := binary.BigEndian.Uint16(h[12:14])
	off := 14
	for tags := 0; (etype == 0x8100 || etype == 0x88a8) && tags < 2; tags++ {
		if len(h) < off+4 {
			return
		}
		if rec.SrcVlan == 0 {
			rec.SrcVlan = binary.BigEndian.Uint16(h[off:]) & 0xfff
		}
		etype = binary.BigEndian.Uint16(h[off+2:])
		off += 4
	}
	if etype == 0x8847 { // MPLS unicast: skip the label stack
		for {
			if len(h) < off+4 {
				return
			}
			bottom := h[off+2]&1 == 1
			off += 4
			if bottom {
				break
			}
		}
		if len(h) <= off {
			return
		}
		switch h[off] >> 4 {
		case 4:
			etype = flow.ETypeIPv4
		case 6:
			etype = flow.ETypeIPv6
		default:
			return
		}
	}
	rec.EType = etype
	var l2 uint32 = uint32(off)
	if frameLength > l2 {
		// Without an IP header, count the frame past its L2 header.
		rec.Bytes = uint64(frameLength - l2)
	}
	switch etype {
	case flow.ETypeIPv4, flow.ETypeIPv6:
		parseIP(h[off:], frameLength-min(frameLength, l2), rec)
	}
}

// parseIP decodes an IPv4 or IPv6 header (by its version nibble) and the
// transport header after it. ipLength is the IP packet length as the frame
// says, used when the header carries none.
func parseIP(h []byte, ipLength uint32, rec *flow.Record) {
	if len(h) < 1 {
		return
	}
	var proto uint8
	var l4 []byte
	switch h[0] >> 4 {
	case 4:
		if len(h) < 20 {
			return
		}
		rec.EType = flow.ETypeIPv4
		ihl := int(h[0]&0xf) * 4
		rec.IPTos = h[1]
		if total := binary.BigEndian.Uint16(h[2:4]); total != 0 {
			rec.Bytes = uint64(total)
		} else if ipLength != 0 {
			rec.Bytes = uint64(ipLength)
		}
		rec.IPTTL = h[8]
		proto = h[9]
		rec.Proto = proto
		rec.SrcAddr = netip.AddrFrom4([4]byte(h[12:16]))
		rec.DstAddr = netip.AddrFrom4([4]byte(h[16:20]))
		if binary.BigEndian.Uint16(h[6:8])&0x1fff != 0 || ihl < 20 || len(h) < ihl {
			return // a later fragment or a bad header: no transport header
		}
		l4 = h[ihl:]
	case 6:
		if len(h) < 40 {
			return
		}
		rec.EType = flow.ETypeIPv6
		rec.IPTos = h[0]<<4 | h[1]>>4
		if plen := binary.BigEndian.Uint16(h[4:6]); plen != 0 {
			rec.Bytes = uint64(plen) + 40
		} else if ipLength != 0 {
			rec.Bytes = uint64(ipLength)
		}
		proto = h[6]
		rec.IPTTL = h[7]
		rec.SrcAddr = netip.AddrFrom16([16]byte(h[8:24]))
		rec.DstAddr = netip.AddrFrom16([16]byte(h[24:40]))
		l4 = h[40:]
		// Skip extension headers (hop-by-hop, routing, destination options,
		// fragment) to reach the transport header.
		for range 4 {
			switch proto {
			case 0, 43, 60:
				if len(l4) < 8 {
					rec.Proto = proto
					return
				}
				n := (int(l4[1]) + 1) * 8
				proto = l4[0]
				if len(l4) < n {
					rec.Proto = proto
					return
				}
				l4 = l4[n:]
				continue
			case 44:
				if len(l4) < 8 {
					rec.Proto = proto
					return
				}
				next := l4[0]
				offset := binary.BigEndian.Uint16(l4[2:4]) >> 3
				proto = next
				l4 = l4[8:]
				if offset != 0 {
					rec.Proto = proto
					return
				}
				continue
			}
			break
		}
		rec.Proto = proto
	default:
		return
	}
	switch proto {
	case 6: // TCP
		if len(l4) >= 4 {
			rec.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			rec.DstPort = binary.BigEndian.Uint16(l4[2:4])
		}
		if len(l4) >= 14 {
			rec.TCPFlags = l4[13]
		}
	case 17, 132: // UDP, SCTP
		if len(l4) >= 4 {
			rec.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			rec.DstPort = binary.BigEndian.Uint16(l4[2:4])
		}
	case 1, 58: // ICMP, ICMPv6
		if len(l4) >= 2 {
			rec.ICMPType = l4[0]
			rec.ICMPCode = l4[1]
		}
	}
}

// decodeSampledIP decodes the sampled IPv4/IPv6 records, used when a sample
// carries no raw header.
func decodeSampledIP(data []byte, v6 bool, rec *flow.Record) error {
	r := reader{b: data}
	length := r.u32()
	proto := r.u32()
	if v6 {
		src, dst := r.bytes(16), r.bytes(16)
		if !r.bad {
			rec.SrcAddr = netip.AddrFrom16([16]byte(src))
			rec.DstAddr = netip.AddrFrom16([16]byte(dst))
		}
		rec.EType = flow.ETypeIPv6
	} else {
		src, dst := r.bytes(4), r.bytes(4)
		if !r.bad {
			rec.SrcAddr = netip.AddrFrom4([4]byte(src))
			rec.DstAddr = netip.AddrFrom4([4]byte(dst))
		}
		rec.EType = flow.ETypeIPv4
	}
	srcPort, dstPort := r.u32(), r.u32()
	flags := r.u32()
	tos := r.u32()
	if r.bad {
		return ErrTruncated
	}
	rec.Bytes = uint64(length)
	rec.Proto = uint8(proto)
	if proto == 1 || proto == 58 {
		rec.ICMPType, rec.ICMPCode = uint8(srcPort), uint8(dstPort)
	} else {
		rec.SrcPort, rec.DstPort = uint16(srcPort), uint16(dstPort)
	}
	rec.TCPFlags = uint8(flags)
	rec.IPTos = uint8(tos)
	return nil
}

func decodeExtendedSwitch(data []byte, rec *flow.Record) error {
	r := reader{b: data}
	src := r.u32()
	r.u32() // source priority
	dst := r.u32()
	if r.bad {
		return ErrTruncated
	}
	if src != 0 {
		rec.SrcVlan = uint16(src & 0xfff)
	}
	if dst != 0 {
		rec.DstVlan = uint16(dst & 0xfff)
	}
	return nil
}

func decodeExtendedRouter(data []byte, rec *flow.Record) error {
	r := reader{b: data}
	nh := r.address()
	src, dst := r.u32(), r.u32()
	if r.bad {
		return ErrTruncated
	}
	if nh.IsValid() && !nh.IsUnspecified() {
		rec.NextHop = nh
	}
	rec.SrcNetMask = uint8(min(src, 128))
	rec.DstNetMask = uint8(min(dst, 128))
	return nil
}

// maxPathSegments and maxPathLength bound what an extended gateway record
// may announce; the record's length bounds it anyway.
const (
	maxPathSegments = 64
	maxPathLength   = 1024
)

func decodeExtendedGateway(data []byte, rec *flow.Record) (netip.Addr, error) {
	r := reader{b: data}
	nh := r.address()
	as := r.u32()
	srcAS := r.u32()
	r.u32() // source peer AS
	nseg := r.u32()
	if r.bad {
		return netip.Addr{}, ErrTruncated
	}
	if nseg > maxPathSegments || int(nseg)*8 > len(r.b) {
		return netip.Addr{}, ErrBogus
	}
	var last uint32
	found := false
	for range nseg {
		r.u32() // segment type: set or sequence
		n := r.u32()
		if r.bad {
			return netip.Addr{}, ErrTruncated
		}
		if n > maxPathLength || int(n)*4 > len(r.b) {
			return netip.Addr{}, ErrBogus
		}
		if n > 0 {
			seg := r.bytes(int(n) * 4)
			last = binary.BigEndian.Uint32(seg[len(seg)-4:])
			found = true
		}
	}
	// Communities and local preference follow; they are not kept, but the
	// record must hold them.
	ncomm := r.u32()
	if r.bad {
		return netip.Addr{}, ErrTruncated
	}
	if int(ncomm) > len(r.b)/4 {
		return netip.Addr{}, ErrBogus
	}
	if srcAS != 0 {
		rec.SrcAS = srcAS
	} else {
		rec.SrcAS = as
	}
	if found {
		rec.DstAS = last
	} else {
		rec.DstAS = as
	}
	return nh, nil
}
