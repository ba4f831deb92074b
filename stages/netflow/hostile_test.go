package netflow

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// allocBytes returns the bytes f allocates (averaged over runs).
func allocBytes(runs int, f func()) uint64 {
	var before, after runtime.MemStats
	f()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// TestTemplateAnnouncingManyFields sends template records that announce
// 65,535 fields but hold one: the decoder must allocate for what the set
// holds, not for what the record claims.
func TestTemplateAnnouncingManyFields(t *testing.T) {
	rec := cat(u16(300), u16(65535), u16(ieOctetDeltaCount), u16(4))
	pkts := [][]byte{
		v9Packet(1, 1, 1, 0, set(0, rec)),
		ipfixPacket(1, 1, 0, set(2, rec)),
		ipfixPacket(1, 1, 0, set(3, cat(u16(300), u16(65535), u16(1), u16(ieOctetDeltaCount), u16(4)))),
	}
	d := NewDecoder(Config{})
	b := flow.NewBatch()
	defer b.Release()
	for _, p := range pkts {
		if _, err := d.Decode(p, testExporter, testNow, b); err != ErrTruncated {
			t.Errorf("decode: %v, want %v", err, ErrTruncated)
		}
		if n := allocBytes(20, func() { d.Decode(p, testExporter, testNow, b) }); n > 4096 {
			t.Errorf("a %d-byte packet announcing 65535 fields allocates %d bytes", len(p), n)
		}
	}
}

// heldAmplification is the sequence of issue "amplification from held
// data": sets data sets of about 65 KB each for template 300, then a
// template giving that id one 1-byte field, so that every held byte is a flow.
func heldAmplification(sets int) [][]byte {
	body := make([]byte, 65000)
	for i := range body {
		body[i] = byte(i)
	}
	var pkts [][]byte
	for i := 0; i < sets; i++ {
		pkts = append(pkts, v9Packet(1, 1_700_000_000, uint32(i), 0, set(300, body)))
	}
	return append(pkts, v9Packet(1, 1_700_000_000, uint32(sets), 0, set(0, tmpl(300, fs{t: ieProtocol, l: 1}))))
}

// TestHeldDataDecodedInBoundedBatches sends held data sets and their
// template to a running source: the flows come out in batches no larger
// than flow.BatchSize, every one of them.
func TestHeldDataDecodedInBoundedBatches(t *testing.T) {
	cfg, diags := dsl.DecodeString(`listen = "127.0.0.1:0"
state_file = ""`, Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	src, diags := New(cfg, engine.Env{ID: engine.ID{Kind: engine.KindSource, Type: "netflow", Name: "test"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var flows, largest atomic.Int64
	out := engine.OutputFunc(func(ctx context.Context, b *flow.Batch) bool {
		flows.Add(int64(b.Len()))
		if int64(b.Len()) > largest.Load() {
			largest.Store(int64(b.Len()))
		}
		b.Release()
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	addr := src.LocalAddr(ctx)
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range heldAmplification(4) {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := int64(4 * 65000)
	for deadline := time.Now().Add(10 * time.Second); flows.Load() < want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if flows.Load() != want {
		t.Errorf("%d flows, want %d", flows.Load(), want)
	}
	if largest.Load() > flow.BatchSize {
		t.Errorf("a batch of %d flows was handed on, more than %d", largest.Load(), flow.BatchSize)
	}
}

// TestPendingBytes holds data sets past the bytes bounds: per exporter the
// oldest go, beyond the total the new ones are refused, each counted; what
// is held is decoded when the template comes.
func TestPendingBytes(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	d := NewDecoder(Config{PendingBytes: 2500, PendingBytesTotal: 4000, Metrics: m})
	b := flow.NewBatch()
	defer b.Release()
	data := func(seq uint32, n int) []byte { return v9Packet(1, 1, seq, 0, set(300, make([]byte, n))) }
	a, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	d.Decode(data(0, 3000), a, testNow, b) // larger than pending_bytes
	d.Decode(data(1, 1000), a, testNow, b)
	d.Decode(data(2, 1000), a, testNow, b)
	d.Decode(data(3, 1000), a, testNow, b) // the first 1000 go
	if d.HeldBytes() != 2000 {
		t.Errorf("held %d bytes, want 2000", d.HeldBytes())
	}
	d.Decode(data(0, 1500), c, testNow, b)
	d.Decode(data(1, 1000), c, testNow, b) // over the total
	if d.HeldBytes() != 3500 {
		t.Errorf("held %d bytes, want 3500", d.HeldBytes())
	}
	for _, tc := range []struct {
		exporter netip.Addr
		reason   string
		want     float64
	}{{a, "pending_bytes", 2}, {c, "pending_bytes_total", 1}, {c, "pending_bytes", 0}} {
		if n := testutil.ToFloat64(m.heldDropped.WithLabelValues(tc.exporter.String(), tc.reason)); n != tc.want {
			t.Errorf("%v drops %s = %v, want %v", tc.exporter, tc.reason, n, tc.want)
		}
	}
	tp := v9Packet(1, 1, 4, 0, set(0, tmpl(300, fs{t: ieOctetDeltaCount, l: 4}, fs{t: iePacketDeltaCount, l: 4})))
	if n, err := d.Decode(tp, a, testNow, b); n != 250 || err != nil {
		t.Errorf("template decoded %d held flows (%v), want 250", n, err)
	}
	if d.HeldBytes() != 1500 {
		t.Errorf("held %d bytes after the template, want 1500", d.HeldBytes())
	}
	d.Expire(testNow.Add(time.Minute))
	if d.HeldBytes() != 0 {
		t.Errorf("held %d bytes after expiry, want 0", d.HeldBytes())
	}
}

// TestIPFIXSequenceWithHeldData checks IPFIX sequence accounting when data
// comes before its template: records decoded from held sets count, so a
// correct data, template, data sequence has no error, and gaps still show.
func TestIPFIXSequenceWithHeldData(t *testing.T) {
	tp := set(2, tmpl(300, fs{t: ieOctetDeltaCount, l: 4}))
	data := func(n int) []byte { return set(300, make([]byte, 4*n)) }
	cases := []struct {
		name string
		pkts [][]byte
		want float64
	}{
		{"data template data", [][]byte{ipfixPacket(1, 0, 1, data(5)), ipfixPacket(1, 5, 1, tp), ipfixPacket(1, 5, 1, data(3)),
			ipfixPacket(1, 8, 1, data(1))}, 0},
		{"data and template in one message", [][]byte{ipfixPacket(1, 0, 1, data(5), tp), ipfixPacket(1, 5, 1, data(3)),
			ipfixPacket(1, 8, 1, data(1))}, 0},
		{"two messages held", [][]byte{ipfixPacket(1, 10, 1, data(5)), ipfixPacket(1, 15, 1, data(2)), ipfixPacket(1, 17, 1, tp),
			ipfixPacket(1, 17, 1, data(3)), ipfixPacket(1, 20, 1, data(1))}, 0},
		{"gap after held data", [][]byte{ipfixPacket(1, 0, 1, data(5)), ipfixPacket(1, 5, 1, tp), ipfixPacket(1, 9, 1, data(3))}, 1},
		{"gap before the template", [][]byte{ipfixPacket(1, 0, 1, data(5)), ipfixPacket(1, 7, 1, tp), ipfixPacket(1, 7, 1, data(3))}, 1},
		{"gap in live data", [][]byte{ipfixPacket(1, 0, 1, tp), ipfixPacket(1, 0, 1, data(5)), ipfixPacket(1, 6, 1, data(3))}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			d := NewDecoder(Config{Metrics: m})
			decodeAll(t, d, tc.pkts...)
			if n := testutil.ToFloat64(m.sequenceErrors.WithLabelValues(testExporter.String())); n != tc.want {
				t.Errorf("sequence errors = %v, want %v", n, tc.want)
			}
		})
	}
}

// TestSequenceDomainsBounded sends packets from many v9 source ids and IPFIX
// observation domains: sequence tracking keeps at most MaxDomains of them per
// exporter and counts the packets it cannot track.
func TestSequenceDomainsBounded(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	d := NewDecoder(Config{MaxDomains: 16, Metrics: m})
	var pkts [][]byte
	f := []testFlow{randomFlow(rand.New(rand.NewPCG(1, 1)), false)}
	for i := uint32(0); i < 1000; i++ {
		pkts = append(pkts, v9Packet(1, 1, 1, i), ipfixPacket(1, 1, i), v5Packet(1, 1, 0, i, 0, f))
	}
	decodeAll(t, d, pkts...)
	e := d.exporter(testExporter)
	if len(e.seq) != 16 {
		t.Errorf("%d domains tracked, want 16", len(e.seq))
	}
	if n := testutil.ToFloat64(m.untrackedSeq.WithLabelValues(testExporter.String())); n != 2*1000-15 {
		t.Errorf("untracked = %v, want %v", n, 2*1000-15)
	}
	// Tracked domains still see their gaps.
	decodeAll(t, d, v9Packet(1, 1, 5, 0))
	if n := testutil.ToFloat64(m.sequenceErrors.WithLabelValues(testExporter.String())); n != 1 {
		t.Errorf("sequence errors = %v, want 1", n)
	}
}

// exporterLabels gathers reg and returns the exporter label values of the
// series named name.
func exporterLabels(t *testing.T, reg *prometheus.Registry, name string) map[string]bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "exporter" {
					labels[l.GetValue()] = true
				}
			}
		}
	}
	return labels
}

// TestExporterSeriesBounded sends from 100 exporters with a bound of 10
// exporters with their own series: the others are counted under "other".
func TestExporterSeriesBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := NewDecoder(Config{MaxExporterLabels: 10, Metrics: NewMetrics(reg)})
	tp, dp, _ := generatedPackets(rand.New(rand.NewPCG(1, 1)), false, false, 2)
	b := flow.NewBatch()
	defer b.Release()
	for i := 0; i < 100; i++ {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		d.Decode(tp, a, testNow, b)
		d.Decode(dp, a, testNow, b)
	}
	labels := exporterLabels(t, reg, "flowengine_netflow_flows_total")
	if len(labels) != 11 || !labels["other"] || !labels["192.0.2.0"] {
		t.Errorf("exporter labels %v, want 10 addresses and other", labels)
	}
	if n := testutil.ToFloat64(d.m.flows.WithLabelValues("other")); n != 90*2 {
		t.Errorf("flows of other = %v, want 180", n)
	}
}

// TestExporterTableEvictsIdle fills the exporter table with spoofed sources
// after real exporters sent templates and data: the real exporters are not
// refused and keep their templates, idle spoofed ones are evicted (counted),
// and the state file keeps only the exporters in the table.
func TestExporterTableEvictsIdle(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	d := NewDecoder(Config{MaxExporters: 64, Metrics: m})
	b := flow.NewBatch()
	defer b.Release()
	tp, dp, _ := generatedPackets(rand.New(rand.NewPCG(1, 1)), false, false, 2)
	real := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	now := testNow
	for i := 0; i < 8; i++ {
		if _, err := d.Decode(tp, real(i), now, b); err != nil {
			t.Fatal(err)
		}
	}
	// An exporter that sent a template long ago and nothing since.
	if _, err := d.Decode(tp, netip.MustParseAddr("198.51.100.1"), now.Add(-time.Hour), b); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		now = now.Add(time.Millisecond)
		spoofed := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if _, err := d.Decode([]byte{0, 9, 0}, spoofed, now, b); err != ErrTruncated {
			t.Fatalf("spoofed packet %d: %v", i, err)
		}
		if i%100 == 0 {
			for j := 0; j < 8; j++ {
				if n, err := d.Decode(dp, real(j), now, b); err != nil || n != 2 {
					t.Fatalf("exporter %d after %d spoofed: %d flows, %v", j, i, n, err)
				}
			}
		}
	}
	if n := len(d.exporters); n > 64 {
		t.Errorf("%d exporters in the table, bound 64", n)
	}
	if n := testutil.ToFloat64(m.evicted); n < 1000+9-64 {
		t.Errorf("%v exporters evicted, want at least %d", n, 1000+9-64)
	}
	if n := testutil.ToFloat64(m.tooManyExporters); n != 0 {
		t.Errorf("%v packets refused", n)
	}
	for l := range exporterLabels(t, reg, "flowengine_netflow_bytes_total") {
		if a, err := netip.ParseAddr(l); err == nil && d.exporters[a] == nil {
			t.Errorf("series of %v kept after its eviction", a)
		}
	}
	data, err := d.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Exporters) != 8 {
		t.Errorf("state keeps %d exporters, want the 8 live ones", len(st.Exporters))
	}
	for _, e := range st.Exporters {
		if _, ok := d.exporters[e.Address]; !ok {
			t.Errorf("state keeps %v, not in the table", e.Address)
		}
	}
}

// TestTemplatesTotalBounded fills max_templates with the templates of idle
// exporters: a new exporter's template still finds room, the idlest
// exporters holding templates being forgotten; identical templates share
// their compiled layout.
func TestTemplatesTotalBounded(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	d := NewDecoder(Config{MaxTemplatesTotal: 32, Metrics: m})
	b := flow.NewBatch()
	defer b.Release()
	tp, dp, _ := generatedPackets(rand.New(rand.NewPCG(1, 1)), false, false, 2)
	now := testNow
	for i := 0; i < 200; i++ {
		now = now.Add(time.Millisecond)
		if _, err := d.Decode(tp, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), now, b); err != nil {
			t.Fatalf("template %d: %v", i, err)
		}
		if d.templates.Load() > 32 {
			t.Fatalf("%d templates, bound 32", d.templates.Load())
		}
	}
	if n, err := d.Decode(dp, netip.AddrFrom4([4]byte{10, 0, 0, 199}), now, b); n != 2 || err != nil {
		t.Errorf("the last exporter decoded %d flows: %v", n, err)
	}
	if n := int(testutil.ToFloat64(m.evicted)); n != 200-len(d.exporters) || n < 200-32 {
		t.Errorf("%v evicted, %d exporters left", n, len(d.exporters))
	}
	if len(d.layouts) != 1 {
		t.Errorf("%d layouts for one template", len(d.layouts))
	}
}

// TestConcurrentEviction decodes from many exporters on four goroutines
// while the exporter table and the templates are full: the counts of held
// bytes and templates stay those of the exporters in the table.
func TestConcurrentEviction(t *testing.T) {
	d := NewDecoder(Config{MaxExporters: 32, MaxTemplatesTotal: 16, PendingBytesTotal: 20000})
	tp, dp, _ := generatedPackets(rand.New(rand.NewPCG(1, 1)), true, false, 2)
	held := ipfixPacket(1, 1, 7, set(400, make([]byte, 500)))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := flow.NewBatch()
			defer b.Release()
			flush := func(full *flow.Batch) *flow.Batch { full.Records = full.Records[:0]; return full }
			for i := 0; i < 2000; i++ {
				a := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i % 64)})
				now := testNow.Add(time.Duration(i) * time.Millisecond)
				for _, p := range [][]byte{held, tp, dp} {
					d.DecodeBatches(p, a, now, &b, flush)
				}
			}
		}()
	}
	wg.Wait()
	var templates, bytes int64
	for _, e := range d.exporters {
		templates += int64(len(e.templates))
		bytes += int64(e.heldBytes)
	}
	if templates != d.templates.Load() || templates > 16 {
		t.Errorf("%d templates in the table, counted %d", templates, d.templates.Load())
	}
	if bytes != d.HeldBytes() || bytes > 20000 {
		t.Errorf("%d bytes held in the table, counted %d", bytes, d.HeldBytes())
	}
	if len(d.exporters) > 32 {
		t.Errorf("%d exporters", len(d.exporters))
	}
}
