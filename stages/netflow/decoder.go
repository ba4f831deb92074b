package netflow

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/exporterlabel"
)

// Errors Decode returns; each is also counted per exporter under its reason.
var (
	ErrTruncated       = errors.New("truncated packet")
	ErrBadLength       = errors.New("bad set length")
	ErrUnknownVersion  = errors.New("unknown version")
	ErrBadTemplate     = errors.New("bad template")
	ErrReservedSet     = errors.New("reserved set id")
	ErrTemplateLimit   = errors.New("too many templates for exporter")
	ErrTemplatesTotal  = errors.New("too many templates in all")
	ErrTruncatedRecord = errors.New("truncated data record")
	ErrTooManyExports  = errors.New("too many exporters")
)

// reasons label the decode error counter.
var errReasons = map[error]string{
	ErrTruncated:       "truncated",
	ErrBadLength:       "bad_length",
	ErrUnknownVersion:  "unknown_version",
	ErrBadTemplate:     "bad_template",
	ErrReservedSet:     "reserved_set_id",
	ErrTemplateLimit:   "template_limit",
	ErrTemplatesTotal:  "template_limit_total",
	ErrTruncatedRecord: "truncated_record",
}

// Defaults of the bounds on what hostile or broken exporters can make the
// decoder keep.
const (
	DefaultPendingBytes      = 1 << 20
	DefaultPendingBytesTotal = 32 << 20
	DefaultMaxDomains        = 256
	DefaultMaxTemplatesTotal = 65536
)

// DefaultMaxExporters bounds the per-exporter state a flood of spoofed
// sources can create.
const DefaultMaxExporters = 65536

// MissingRate says what to do with a flow whose sampling rate is unknown.
type MissingRate int

// What to do with flows of unknown sampling rate.
const (
	// MissingRateKeep keeps the flow with SamplingRate 1 (and counts it).
	MissingRateKeep MissingRate = iota
	// MissingRateDrop drops the flow (and counts it).
	MissingRateDrop
)

// Config configures a Decoder. The zero value is usable.
type Config struct {
	// DefaultRate applies when neither the packet nor an options record gives a rate.
	DefaultRate RateTable
	// OverrideRate replaces whatever the exporter says.
	OverrideRate RateTable
	// MissingRate says what to do when no rate is known at all.
	MissingRate MissingRate
	// PendingTimeout is how long data sets wait for their template (default 10s).
	PendingTimeout time.Duration
	// PendingLimit bounds the data sets held per exporter (default 256).
	PendingLimit int
	// PendingBytes bounds the bytes of data sets held per exporter (default
	// 1 MiB); the oldest are dropped beyond.
	PendingBytes int
	// PendingBytesTotal bounds the bytes held for all exporters together
	// (default 32 MiB); sets beyond are dropped on arrival.
	PendingBytesTotal int
	// MaxTemplates bounds the templates per exporter (default 1024).
	MaxTemplates int
	// MaxTemplatesTotal bounds the templates of all exporters together
	// (default 65536).
	MaxTemplatesTotal int
	// MaxExporters bounds the exporters known at once (default 65536); when
	// the table is full the idlest are forgotten.
	MaxExporters int
	// MaxDomains bounds the observation domains (v9 source ids, IPFIX
	// observation domains, v5 engines) whose sequence numbers are tracked
	// per exporter (default 256).
	MaxDomains int
	// MaxExporterLabels bounds the exporters with their own metric series
	// (default exporterlabel.Default); the others share exporter="other".
	MaxExporterLabels int
	// Metrics receives the per-exporter counters; nil keeps them unregistered.
	Metrics *Metrics
}

// Decoder decodes NetFlow v5, v9 and IPFIX packets into flow records. It keeps
// templates, sampling rates and held data sets per exporter. It is safe for
// concurrent use; packets of one exporter are decoded one at a time.
type Decoder struct {
	cfg       Config
	m         *Metrics
	mu        sync.RWMutex
	exporters map[netip.Addr]*exporter
	dirty     atomic.Bool
	held      atomic.Int64 // bytes of data sets held, all exporters
	templates atomic.Int64 // templates of all exporters

	// layouts interns compiled templates by their fields: exporters of one
	// kind send the same templates, and a flood of spoofed ones too.
	layoutMu sync.Mutex
	layouts  map[string]*template
}

// maxLayouts bounds the interned template layouts; templates beyond are
// compiled each on its own.
const maxLayouts = 4096

// compile compiles a template, sharing the fields and offsets of an
// identical one compiled before.
func (d *Decoder) compile(version uint16, domain uint32, id uint16, fields []field, scopes int, options bool) (*template, bool) {
	key := make([]byte, 0, 5+8*len(fields))
	key = binary.BigEndian.AppendUint16(key, version)
	key = binary.BigEndian.AppendUint16(key, uint16(scopes))
	if options {
		key = append(key, 1)
	} else {
		key = append(key, 0)
	}
	for _, f := range fields {
		key = binary.BigEndian.AppendUint16(key, f.Type)
		key = binary.BigEndian.AppendUint16(key, f.Length)
		key = binary.BigEndian.AppendUint32(key, f.PEN)
	}
	d.layoutMu.Lock()
	defer d.layoutMu.Unlock()
	if c := d.layouts[string(key)]; c != nil {
		t := *c
		t.domain, t.id = domain, id
		return &t, true
	}
	t, ok := compile(version, domain, id, fields, scopes, options)
	if ok && len(d.layouts) < maxLayouts {
		if d.layouts == nil {
			d.layouts = map[string]*template{}
		}
		d.layouts[string(key)] = t
	}
	return t, ok
}

// dropTemplates takes n templates off the total.
func (d *Decoder) dropTemplates(n int) { d.templates.Add(-int64(n)) }

// NewDecoder returns a decoder.
func NewDecoder(cfg Config) *Decoder {
	if cfg.PendingTimeout <= 0 {
		cfg.PendingTimeout = 10 * time.Second
	}
	if cfg.PendingLimit <= 0 {
		cfg.PendingLimit = 256
	}
	if cfg.MaxTemplates <= 0 {
		cfg.MaxTemplates = 1024
	}
	if cfg.MaxTemplatesTotal <= 0 {
		cfg.MaxTemplatesTotal = DefaultMaxTemplatesTotal
	}
	if cfg.MaxExporters <= 0 {
		cfg.MaxExporters = DefaultMaxExporters
	}
	if cfg.MaxDomains <= 0 {
		cfg.MaxDomains = DefaultMaxDomains
	}
	if cfg.PendingBytes <= 0 {
		cfg.PendingBytes = DefaultPendingBytes
	}
	if cfg.PendingBytesTotal <= 0 {
		cfg.PendingBytesTotal = DefaultPendingBytesTotal
	}
	m := cfg.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	m.labels = exporterlabel.New(cfg.MaxExporterLabels)
	return &Decoder{cfg: cfg, m: m, exporters: map[netip.Addr]*exporter{}}
}

// key of a template: version, observation domain (v9 source id), template id.
func tkey(version uint16, domain uint32, id uint16) uint64 {
	return uint64(version)<<48 | uint64(domain)<<16 | uint64(id)
}

// key of a domain: version and observation domain.
func dkey(version uint16, domain uint32) uint64 { return uint64(version)<<32 | uint64(domain) }

type samplerKey struct {
	domain  uint64 // dkey
	sampler uint64
}

// pendingSet is a data set waiting for its template.
type pendingSet struct {
	key     uint64 // tkey
	gen     uint32 // the IPFIX message that brought it (exporter.gen)
	hdr     header
	data    []byte
	expires time.Time
}

// put sets m[k] = v, making the map on first use: most exporters a flood of
// spoofed sources creates never fill theirs.
func put[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = map[K]V{}
	}
	(*m)[k] = v
}

// exporter is what is known of one exporter. Its maps are nil until used.
type exporter struct {
	mu         sync.Mutex
	addr       netip.Addr
	templates  map[uint64]*template
	samplers   map[samplerKey]uint64 // by sampler id
	domainRate map[uint64]uint64     // last rate learnt per domain, any sampler
	sysInit    map[uint64]uint64     // systemInitTimeMilliseconds per domain
	seq        map[uint64]seqState   // sequence tracking per domain
	gen        uint32                // IPFIX messages decoded
	acc        seqAcc                // records of the IPFIX message being decoded
	pending    []pendingSet
	heldBytes  int // bytes of pending
	override   uint64
	def        uint64
	c          *exporterMetrics
	seen       atomic.Int64 // unix ns of the last packet
	data       atomic.Int64 // unix ns of the last packet that brought flows or templates
	gone       bool         // evicted from the table (under mu)
	st         exporterStats
}

// header is what the packet header says that records need.
type header struct {
	version    uint16
	domain     uint32
	exportSec  uint32
	exportNsec uint32
	uptime     uint32 // ms (v5, v9)
	received   time.Time
	rate       uint64 // v5 header sampling rate
}

func (h *header) exportTime() time.Time {
	return time.Unix(int64(h.exportSec), int64(h.exportNsec)).UTC()
}

func (d *Decoder) exporter(addr netip.Addr) *exporter {
	d.mu.RLock()
	e := d.exporters[addr]
	d.mu.RUnlock()
	if e != nil {
		return e
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e = d.exporters[addr]; e != nil {
		return e
	}
	if len(d.exporters) >= d.cfg.MaxExporters {
		d.evict()
		if len(d.exporters) >= d.cfg.MaxExporters {
			return nil
		}
	}
	e = &exporter{
		addr:     addr,
		override: d.cfg.OverrideRate.Rate(addr),
		def:      d.cfg.DefaultRate.Rate(addr),
		c:        d.m.exporter(addr),
	}
	d.exporters[addr] = e
	d.m.exporters.Set(float64(len(d.exporters)))
	return e
}

// noDataIdle is how much idler than its last packet an exporter that never
// brought flows or templates counts when the table is full: spoofed sources
// go before exporters that sent data in the last few minutes.
const noDataIdle = 5 * time.Minute

// evict forgets the idlest sixteenth of the exporters (d.mu held): least
// recently active first, where activity is the last packet that brought
// flows or templates, or the last packet less noDataIdle for exporters that
// never brought any. An exporter being decoded is not idle and stays.
// Evicting a batch at a time keeps the cost of a flood of new sources at a
// few comparisons each.
func (d *Decoder) evict() {
	want := max(1, len(d.exporters)/16)
	d.evictUntil(func(n, _ int) bool { return n >= want }, false)
}

// makeTemplateRoom forgets the idlest exporters with templates until a
// sixteenth of max_templates is free, when the templates of all exporters
// reached it. e (locked by the caller) stays.
func (d *Decoder) makeTemplateRoom() {
	d.mu.Lock()
	defer d.mu.Unlock()
	need := d.templates.Load() - int64(d.cfg.MaxTemplatesTotal-max(1, d.cfg.MaxTemplatesTotal/16))
	if need <= 0 {
		return
	}
	d.evictUntil(func(_, freed int) bool { return int64(freed) >= need }, true)
}

// evictUntil forgets exporters, idlest first, until enough(exporters
// forgotten, templates freed) (d.mu held); withTemplates: only exporters
// holding templates.
func (d *Decoder) evictUntil(enough func(n, freed int) bool, withTemplates bool) {
	type candidate struct {
		active int64
		e      *exporter
	}
	list := make([]candidate, 0, len(d.exporters))
	for _, e := range d.exporters {
		active := e.data.Load()
		if active == 0 {
			active = e.seen.Load() - int64(noDataIdle)
		}
		list = append(list, candidate{active, e})
	}
	slices.SortFunc(list, func(a, b candidate) int { return cmp.Compare(a.active, b.active) })
	n, freed := 0, 0
	for _, c := range list {
		if enough(n, freed) {
			break
		}
		e := c.e
		if !e.mu.TryLock() {
			continue
		}
		if withTemplates && len(e.templates) == 0 {
			e.mu.Unlock()
			continue
		}
		freed += len(e.templates)
		e.gone = true
		for _, p := range e.pending {
			d.unhold(e, p)
		}
		d.dropTemplates(len(e.templates))
		e.pending = nil
		if len(e.templates)+len(e.samplers)+len(e.sysInit) > 0 {
			d.dirty.Store(true)
		}
		e.mu.Unlock()
		delete(d.exporters, e.addr)
		d.m.forget(e.addr)
		n++
	}
	d.m.evicted.Add(float64(n))
	d.m.exporters.Set(float64(len(d.exporters)))
}

// Decode decodes one packet from exporter, received at now, appending its
// flows to b, which grows past its capacity if needed (tests, tools). It
// returns the number of flows appended; data sets held earlier for a
// template this packet brings are decoded too. err is the first problem met
// (counted per exporter); flows decoded before it are kept.
func (d *Decoder) Decode(pkt []byte, exporter netip.Addr, now time.Time, b *flow.Batch) (int, error) {
	o := output{b: b, limit: math.MaxInt, start: b.Len()}
	return d.decode(pkt, exporter, now, &o)
}

// Flush hands on a batch holding flow.BatchSize records and returns the
// batch to fill next. It may block (back-pressure).
type Flush func(full *flow.Batch) *flow.Batch

// DecodeBatches is Decode for receivers: *b never grows past
// flow.BatchSize records. When it is full, flush hands it on and the
// decoding goes on in the batch flush returns, left in *b. A packet or held
// data of many small records thus becomes several batches, not one large one.
func (d *Decoder) DecodeBatches(pkt []byte, exporter netip.Addr, now time.Time, b **flow.Batch, flush Flush) (int, error) {
	o := output{b: *b, flush: flush, limit: flow.BatchSize, start: (*b).Len()}
	n, err := d.decode(pkt, exporter, now, &o)
	*b = o.b
	return n, err
}

// output is where decoded flows go: a batch, handed on when full.
type output struct {
	b      *flow.Batch
	flush  Flush
	limit  int // records in b past which it is handed on
	start  int // records b held before this packet
	handed int // records of this packet handed on
}

// roll hands the full batch on and goes on in the next. Callers append
// with:
//
//	if len(o.b.Records) >= o.limit {
//		o.roll()
//	}
//	r := o.b.Append()
//
// (a method doing it would not inline).
//
//go:noinline
func (o *output) roll() {
	o.handed += len(o.b.Records) - o.start
	o.start = 0
	o.b = o.flush(o.b)
}

// unappend removes the record appended last (a flow dropped).
func (o *output) unappend() { o.b.Records = o.b.Records[:len(o.b.Records)-1] }

// n returns the flows appended for this packet.
func (o *output) n() int { return o.handed + len(o.b.Records) - o.start }

func (d *Decoder) decode(pkt []byte, addr netip.Addr, now time.Time, b *output) (int, error) {
	addr = addr.Unmap()
	var e *exporter
	for {
		if e = d.exporter(addr); e == nil {
			d.m.tooManyExporters.Inc()
			return 0, ErrTooManyExports
		}
		e.mu.Lock()
		if !e.gone {
			break
		}
		e.mu.Unlock() // evicted meanwhile: take its successor
	}
	defer e.mu.Unlock()
	e.seen.Store(now.UnixNano())
	e.c.bytes.Add(float64(len(pkt)))
	if len(e.pending) > 0 {
		d.expire(e, now)
	}
	if len(pkt) < 2 {
		return 0, d.fail(e, ErrTruncated)
	}
	var err error
	switch v := binary.BigEndian.Uint16(pkt); v {
	case 5:
		e.st.packets.Add(1)
		e.st.version.Store(5)
		e.c.packets[0].Inc()
		err = d.decodeV5(e, pkt, now, b)
	case 9:
		e.st.packets.Add(1)
		e.st.version.Store(9)
		e.c.packets[1].Inc()
		err = d.decodeV9(e, pkt, now, b)
	case 10:
		e.st.packets.Add(1)
		e.st.version.Store(10)
		e.c.packets[2].Inc()
		err = d.decodeIPFIX(e, pkt, now, b)
	default:
		err = d.fail(e, ErrUnknownVersion)
	}
	n := b.n()
	if n > 0 {
		e.st.flows.Add(uint64(n))
		e.c.flows.Add(float64(n))
		e.data.Store(now.UnixNano())
	}
	return n, err
}

func (d *Decoder) fail(e *exporter, err error) error {
	e.st.errors.Add(1)
	e.c.errors(errReasons[err]).Inc()
	return err
}

const (
	v5HeaderLen = 24
	v5RecordLen = 48
)

func (d *Decoder) decodeV5(e *exporter, pkt []byte, now time.Time, b *output) error {
	if len(pkt) < v5HeaderLen {
		return d.fail(e, ErrTruncated)
	}
	count := int(binary.BigEndian.Uint16(pkt[2:]))
	if count == 0 || count > 30 || len(pkt) < v5HeaderLen+count*v5RecordLen {
		return d.fail(e, ErrBadLength)
	}
	h := header{
		version:    5,
		uptime:     binary.BigEndian.Uint32(pkt[4:]),
		exportSec:  binary.BigEndian.Uint32(pkt[8:]),
		exportNsec: binary.BigEndian.Uint32(pkt[12:]),
		domain:     uint32(pkt[20])<<8 | uint32(pkt[21]), // engine type and id
		received:   now,
		rate:       uint64(binary.BigEndian.Uint16(pkt[22:]) & 0x3fff),
	}
	if h.exportNsec >= 1e9 {
		h.exportNsec = 0
	}
	d.sequence(e, dkey(5, h.domain), binary.BigEndian.Uint32(pkt[16:]), uint32(count))
	export := h.exportTime()
	for i := 0; i < count; i++ {
		p := pkt[v5HeaderLen+i*v5RecordLen:]
		if len(b.b.Records) >= b.limit {
			b.roll()
		}
		r := b.b.Append()
		r.SrcAddr = netip.AddrFrom4([4]byte(p[0:4]))
		r.DstAddr = netip.AddrFrom4([4]byte(p[4:8]))
		r.NextHop = netip.AddrFrom4([4]byte(p[8:12]))
		r.InIfIndex = uint32(binary.BigEndian.Uint16(p[12:]))
		r.OutIfIndex = uint32(binary.BigEndian.Uint16(p[14:]))
		r.Packets = uint64(binary.BigEndian.Uint32(p[16:]))
		r.Bytes = uint64(binary.BigEndian.Uint32(p[20:]))
		r.TimeFlowStart = uptimeTime(export, h.uptime, binary.BigEndian.Uint32(p[24:]))
		r.TimeFlowEnd = uptimeTime(export, h.uptime, binary.BigEndian.Uint32(p[28:]))
		r.SrcPort = binary.BigEndian.Uint16(p[32:])
		r.DstPort = binary.BigEndian.Uint16(p[34:])
		r.TCPFlags = p[37]
		r.Proto = p[38]
		r.IPTos = p[39]
		r.SrcAS = uint32(binary.BigEndian.Uint16(p[40:]))
		r.DstAS = uint32(binary.BigEndian.Uint16(p[42:]))
		r.SrcNetMask = p[44]
		r.DstNetMask = p[45]
		r.EType = flow.ETypeIPv4
		if r.Proto == 1 {
			// v5 has no ICMP fields: exporters put type and code in the destination port.
			r.ICMPType, r.ICMPCode = uint8(r.DstPort>>8), uint8(r.DstPort)
		}
		r.TimeReceived = now
		r.ExporterAddress = e.addr
		if !d.setRate(e, r, h.rate) {
			b.unappend()
		}
	}
	return nil
}

// uptimeTime converts a sysUptime-relative timestamp (ms) into an absolute
// time, given the export time and the uptime at export.
func uptimeTime(export time.Time, uptime, at uint32) time.Time {
	return export.Add(-time.Duration(uptime-at) * time.Millisecond)
}

// seqState is the sequence tracking of one domain.
type seqState struct {
	next uint32 // next expected sequence number
	// IPFIX: data sets the message gen held for their template, whose
	// records next does not count yet.
	unknown uint32
	gen     uint32
}

// seqAcc counts the records of one IPFIX message for sequence tracking.
type seqAcc struct {
	live        int // records of this message (held and decoded in it included)
	held        int // sets of this message still held
	earlier     int // records of sets held by the domain's previous message
	earlierSets int
}

// sequence tracks sequence numbers per domain; gaps and resets are counted,
// and the tracking resynchronises on the new number.
func (d *Decoder) sequence(e *exporter, dk uint64, seq, incr uint32) {
	st, ok := e.seq[dk]
	if ok && st.next != seq {
		e.c.sequenceErrors.Inc()
	}
	if ok || d.track(e) {
		put(&e.seq, dk, seqState{next: seq + incr})
	}
}

// track reports whether a new domain's sequence can be tracked, counting
// the packet when the exporter has too many domains tracked already.
func (d *Decoder) track(e *exporter) bool {
	if len(e.seq) < d.cfg.MaxDomains {
		return true
	}
	e.c.untrackedSequences.Inc()
	return false
}

// setRate sets r.SamplingRate from, in order: the override, the rate the
// exporter gave (rate), the default. It returns false when the flow must be
// dropped for lack of a rate.
func (d *Decoder) setRate(e *exporter, r *flow.Record, rate uint64) bool {
	switch {
	case e.override > 0:
		r.SamplingRate = e.override
	case rate > 0:
		r.SamplingRate = rate
	case e.def > 0:
		r.SamplingRate = e.def
	default:
		e.c.missingRate.Inc()
		if d.cfg.MissingRate == MissingRateDrop {
			e.c.droppedMissingRate.Inc()
			return false
		}
		r.SamplingRate = 1
		return true // no rate known: none to show in the exporter's stats
	}
	if r.SamplingRate != e.st.lastRate {
		e.st.rate(r.SamplingRate)
	}
	return true
}

const (
	v9HeaderLen    = 20
	ipfixHeaderLen = 16
)

func (d *Decoder) decodeV9(e *exporter, pkt []byte, now time.Time, b *output) error {
	if len(pkt) < v9HeaderLen {
		return d.fail(e, ErrTruncated)
	}
	h := header{
		version:   9,
		uptime:    binary.BigEndian.Uint32(pkt[4:]),
		exportSec: binary.BigEndian.Uint32(pkt[8:]),
		domain:    binary.BigEndian.Uint32(pkt[16:]),
		received:  now,
	}
	d.sequence(e, dkey(9, h.domain), binary.BigEndian.Uint32(pkt[12:]), 1)
	_, err := d.decodeSets(e, &h, pkt[v9HeaderLen:], b)
	return err
}

func (d *Decoder) decodeIPFIX(e *exporter, pkt []byte, now time.Time, b *output) error {
	if len(pkt) < ipfixHeaderLen {
		return d.fail(e, ErrTruncated)
	}
	length := int(binary.BigEndian.Uint16(pkt[2:]))
	if length < ipfixHeaderLen || length > len(pkt) {
		return d.fail(e, ErrBadLength)
	}
	h := header{
		version:   10,
		exportSec: binary.BigEndian.Uint32(pkt[4:]),
		domain:    binary.BigEndian.Uint32(pkt[12:]),
		received:  now,
	}
	dk := dkey(10, h.domain)
	seq := binary.BigEndian.Uint32(pkt[8:])
	e.gen++
	e.acc = seqAcc{}
	records, err := d.decodeSets(e, &h, pkt[ipfixHeaderLen:length], b)
	// IPFIX sequence numbers count data records, options records included,
	// sent before the message. Records of sets held by the previous message
	// count once decoded; while some are not, the check waits for the next
	// message (resynchronising on this one).
	st, ok := e.seq[dk]
	if ok && int(st.unknown) == e.acc.earlierSets && st.next+uint32(e.acc.earlier) != seq {
		e.c.sequenceErrors.Inc()
	}
	if ok || d.track(e) {
		put(&e.seq, dk, seqState{next: seq + uint32(records+e.acc.live), unknown: uint32(e.acc.held), gen: e.gen})
	}
	return err
}

// decodeSets walks the sets of a v9 or IPFIX message. It returns the number
// of data records seen in this message (for IPFIX sequence tracking).
func (d *Decoder) decodeSets(e *exporter, h *header, sets []byte, b *output) (int, error) {
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	records := 0
	tmplSet, optSet := uint16(0), uint16(1)
	if h.version == 10 {
		tmplSet, optSet = 2, 3
	}
	for len(sets) > 0 {
		if len(sets) < 4 {
			// v9 allows padding after the last set; IPFIX does not, but a few
			// zero bytes are harmless.
			if !allZero(sets) {
				note(d.fail(e, ErrTruncated))
			}
			break
		}
		id := binary.BigEndian.Uint16(sets)
		n := int(binary.BigEndian.Uint16(sets[2:]))
		if n < 4 || n > len(sets) {
			note(d.fail(e, ErrBadLength))
			break
		}
		body := sets[4:n]
		sets = sets[n:]
		switch {
		case id == tmplSet:
			note(d.templateSet(e, h, body, false, b))
		case id == optSet:
			note(d.templateSet(e, h, body, true, b))
		case id < 256:
			note(d.fail(e, ErrReservedSet))
		default:
			t := e.templates[tkey(h.version, h.domain, id)]
			if t == nil {
				d.hold(e, h, id, body)
				continue
			}
			n, err := d.dataSet(e, t, h, body, b)
			records += n
			note(err)
		}
	}
	return records, first
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// templateSet decodes a (options) template set, v9 or IPFIX, adding the
// templates and decoding the data sets held for them.
func (d *Decoder) templateSet(e *exporter, h *header, body []byte, options bool, b *output) error {
	var first error
	ipfix := h.version == 10
	for len(body) >= 4 {
		id := binary.BigEndian.Uint16(body)
		c := int(binary.BigEndian.Uint16(body[2:]))
		if id == 0 && c == 0 && allZero(body) {
			break // padding
		}
		if ipfix && c == 0 {
			d.withdraw(e, h, id, options)
			body = body[4:]
			continue
		}
		hl, count, scopes := 4, c, 0
		if options {
			if len(body) < 6 {
				return firstOf(first, d.fail(e, ErrTruncated))
			}
			hl = 6
			if ipfix {
				scopes = int(binary.BigEndian.Uint16(body[4:]))
			} else {
				sl, ol := c, int(binary.BigEndian.Uint16(body[4:]))
				if sl%4 != 0 || ol%4 != 0 {
					return firstOf(first, d.fail(e, ErrBadTemplate))
				}
				scopes, count = sl/4, (sl+ol)/4
			}
		}
		body = body[hl:]
		if id < 256 || count == 0 || scopes > count || ipfix && options && scopes == 0 {
			return firstOf(first, d.fail(e, ErrBadTemplate))
		}
		// Every field takes at least 4 bytes: a record announcing more
		// fields than the set holds is truncated, whatever it claims.
		if count*4 > len(body) {
			return firstOf(first, d.fail(e, ErrTruncated))
		}
		fields := make([]field, 0, count)
		for i := 0; i < count; i++ {
			if len(body) < 4 {
				return firstOf(first, d.fail(e, ErrTruncated))
			}
			f := field{Type: binary.BigEndian.Uint16(body), Length: binary.BigEndian.Uint16(body[2:])}
			body = body[4:]
			if ipfix && f.Type&0x8000 != 0 {
				if len(body) < 4 {
					return firstOf(first, d.fail(e, ErrTruncated))
				}
				f.Type &= 0x7fff
				f.PEN = binary.BigEndian.Uint32(body)
				body = body[4:]
			}
			fields = append(fields, f)
		}
		if err := d.addTemplate(e, h, id, fields, scopes, options, b); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func firstOf(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (d *Decoder) withdraw(e *exporter, h *header, id uint16, options bool) {
	if id == 2 || id == 3 {
		// Withdraw every template (id 2) or options template (id 3) of the domain.
		for k, t := range e.templates {
			if t.version == h.version && t.domain == h.domain && t.options == (id == 3) {
				delete(e.templates, k)
				d.dropTemplates(1)
			}
		}
	} else if _, ok := e.templates[tkey(h.version, h.domain, id)]; ok {
		delete(e.templates, tkey(h.version, h.domain, id))
		d.dropTemplates(1)
	}
	e.c.templates.Set(float64(len(e.templates)))
	e.st.templates.Store(int64(len(e.templates)))
	d.dirty.Store(true)
}

func (d *Decoder) addTemplate(e *exporter, h *header, id uint16, fields []field, scopes int, options bool, b *output) error {
	k := tkey(h.version, h.domain, id)
	old := e.templates[k]
	if old != nil && old.options == options && old.sameFields(fields, scopes) {
		e.data.Store(h.received.UnixNano())
		return nil // refresh
	}
	if old == nil && len(e.templates) >= d.cfg.MaxTemplates {
		return d.fail(e, ErrTemplateLimit)
	}
	if old == nil && d.templates.Load() >= int64(d.cfg.MaxTemplatesTotal) {
		d.makeTemplateRoom()
		if d.templates.Load() >= int64(d.cfg.MaxTemplatesTotal) {
			return d.fail(e, ErrTemplatesTotal)
		}
	}
	t, ok := d.compile(h.version, h.domain, id, fields, scopes, options)
	if !ok {
		return d.fail(e, ErrBadTemplate)
	}
	if old == nil {
		d.templates.Add(1)
	}
	put(&e.templates, k, t)
	e.c.templates.Set(float64(len(e.templates)))
	e.st.templates.Store(int64(len(e.templates)))
	e.data.Store(h.received.UnixNano())
	d.dirty.Store(true)
	// Decode what waited for this template.
	var first error
	// They leave the held list first: the output may block while handing
	// a full batch on.
	var ready []pendingSet
	kept := e.pending[:0]
	for _, p := range e.pending {
		if p.key != k {
			kept = append(kept, p)
			continue
		}
		ready = append(ready, p)
		d.unhold(e, p)
	}
	for i := len(kept); i < len(e.pending); i++ {
		e.pending[i] = pendingSet{}
	}
	e.pending = kept
	for _, p := range ready {
		n, err := d.dataSet(e, t, &p.hdr, p.data, b)
		if err != nil && first == nil {
			first = err
		}
		if p.hdr.version != 10 {
			continue
		}
		switch {
		case p.gen == e.gen:
			e.acc.live += n
			e.acc.held--
		case p.gen == e.seq[dkey(10, p.hdr.domain)].gen:
			e.acc.earlier += n
			e.acc.earlierSets++
		}
	}
	return first
}

// hold keeps a data set until its template arrives, bounded in time, in
// count and bytes per exporter (the oldest go first), and in bytes for all
// exporters (the new set is refused). Each drop is counted with its reason.
func (d *Decoder) hold(e *exporter, h *header, id uint16, body []byte) {
	e.c.missingTemplates.Inc()
	if h.version == 10 {
		e.acc.held++ // records not counted yet, whether the set is kept or not
	}
	size := len(body)
	if size > d.cfg.PendingBytes {
		e.c.heldDropped("pending_bytes").Inc()
		return
	}
	for len(e.pending) > 0 && (len(e.pending) >= d.cfg.PendingLimit || e.heldBytes+size > d.cfg.PendingBytes) {
		if len(e.pending) >= d.cfg.PendingLimit {
			e.c.heldDropped("overflow").Inc()
		} else {
			e.c.heldDropped("pending_bytes").Inc()
		}
		d.unhold(e, e.pending[0])
		copy(e.pending, e.pending[1:])
		e.pending[len(e.pending)-1] = pendingSet{}
		e.pending = e.pending[:len(e.pending)-1]
	}
	if d.held.Add(int64(size)) > int64(d.cfg.PendingBytesTotal) {
		d.held.Add(-int64(size))
		e.c.heldDropped("pending_bytes_total").Inc()
		return
	}
	e.heldBytes += size
	e.pending = append(e.pending, pendingSet{
		key:     tkey(h.version, h.domain, id),
		gen:     e.gen,
		hdr:     *h,
		data:    append([]byte(nil), body...),
		expires: h.received.Add(d.cfg.PendingTimeout),
	})
}

// unhold takes p's bytes off the held counts (p leaves e.pending).
func (d *Decoder) unhold(e *exporter, p pendingSet) {
	e.heldBytes -= len(p.data)
	d.held.Add(-int64(len(p.data)))
}

// HeldBytes returns the bytes of data sets held for their template.
func (d *Decoder) HeldBytes() int64 { return d.held.Load() }

func (d *Decoder) expire(e *exporter, now time.Time) {
	kept := e.pending[:0]
	for _, p := range e.pending {
		if now.After(p.expires) {
			e.c.heldDropped("expired").Inc()
			d.unhold(e, p)
			continue
		}
		kept = append(kept, p)
	}
	for i := len(kept); i < len(e.pending); i++ {
		e.pending[i] = pendingSet{}
	}
	e.pending = kept
}

// Expire drops the held data sets whose template did not come in time.
func (d *Decoder) Expire(now time.Time) {
	d.mu.RLock()
	list := make([]*exporter, 0, len(d.exporters))
	for _, e := range d.exporters {
		list = append(list, e)
	}
	d.mu.RUnlock()
	for _, e := range list {
		e.mu.Lock()
		if len(e.pending) > 0 {
			d.expire(e, now)
		}
		e.mu.Unlock()
	}
}

// dataSet decodes the records of one data set. It returns the number of
// records it held (flows, options records), kept or not.
func (d *Decoder) dataSet(e *exporter, t *template, h *header, body []byte, b *output) (int, error) {
	if t.options {
		return d.optionsSet(e, t, h, body)
	}
	dk := dkey(h.version, h.domain)
	domainRate := e.domainRate[dk]
	sysInit := e.sysInit[dk]
	export := h.exportTime()
	var lastSID, lastSIDRate uint64
	haveSID := false
	records := 0
	for len(body) > 0 {
		if len(b.b.Records) >= b.limit {
			b.roll()
		}
		r := b.b.Append()
		var x recordExtra
		n := t.decodeRecord(body, r, &x)
		if n == 0 {
			b.unappend()
			if !allZero(body) {
				return records, d.fail(e, ErrTruncatedRecord)
			}
			break
		}
		body = body[n:]
		records++
		r.TimeReceived = h.received
		r.ExporterAddress = e.addr
		// Times.
		if !x.hasStart {
			r.TimeFlowStart = d.relTime(h, export, sysInit, &x, x.hasFirst, x.firstUptime, x.hasStartDelta, x.startDelta)
		}
		if !x.hasEnd {
			r.TimeFlowEnd = d.relTime(h, export, sysInit, &x, x.hasLast, x.lastUptime, x.hasEndDelta, x.endDelta)
		}
		// Sampling rate: the record's own, its sampler's, the domain's.
		rate := x.rate()
		if rate == 0 && x.hasSamplerID {
			if !haveSID || x.samplerID != lastSID {
				lastSID, lastSIDRate, haveSID = x.samplerID, e.samplers[samplerKey{dk, x.samplerID}], true
			}
			rate = lastSIDRate
		}
		if rate == 0 {
			rate = domainRate
		}
		if !d.setRate(e, r, rate) {
			b.unappend()
		}
	}
	return records, nil
}

func (d *Decoder) relTime(h *header, export time.Time, sysInit uint64, x *recordExtra, has bool, at uint32, hasDelta bool, delta uint64) time.Time {
	switch {
	case has && h.version == 9:
		return uptimeTime(export, h.uptime, at)
	case has:
		init := x.systemInit
		if init == 0 {
			init = sysInit
		}
		if init == 0 {
			return export
		}
		return time.UnixMilli(int64(init) + int64(at)).UTC()
	case hasDelta:
		return export.Add(-time.Duration(delta) * time.Microsecond)
	}
	return export
}

// optionsSet learns sampling rates and system init times from options records.
func (d *Decoder) optionsSet(e *exporter, t *template, h *header, body []byte) (int, error) {
	dk := dkey(h.version, h.domain)
	records := 0
	for len(body) > 0 {
		var r flow.Record
		var x recordExtra
		n := t.decodeRecord(body, &r, &x)
		if n == 0 {
			break
		}
		body = body[n:]
		records++
		if rate := x.rate(); rate > 0 {
			sk := samplerKey{dk, x.samplerID}
			if e.samplers[sk] != rate || e.domainRate[dk] != rate {
				if _, ok := e.samplers[sk]; ok || len(e.samplers) < d.cfg.MaxTemplates {
					put(&e.samplers, sk, rate)
				}
				put(&e.domainRate, dk, rate)
				d.dirty.Store(true)
			}
			e.c.samplingRate.Set(float64(rate))
		}
		if x.systemInit > 0 && e.sysInit[dk] != x.systemInit {
			put(&e.sysInit, dk, x.systemInit)
			d.dirty.Store(true)
		}
	}
	return records, nil
}
