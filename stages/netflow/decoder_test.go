package netflow

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zclconf/go-cty/cty"

	"github.com/flowengine/flowengine/flow"
)

var (
	testExporter = netip.MustParseAddr("192.0.2.10")
	testNow      = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
)

func decodeAll(t *testing.T, d *Decoder, pkts ...[]byte) ([]flow.Record, []error) {
	t.Helper()
	b := flow.NewBatch()
	defer b.Release()
	var errs []error
	for _, p := range pkts {
		if _, err := d.Decode(p, testExporter, testNow, b); err != nil {
			errs = append(errs, err)
		}
	}
	return append([]flow.Record(nil), b.Records...), errs
}

var recordCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func TestDecode(t *testing.T) {
	a4 := netip.MustParseAddr
	f1 := testFlow{src: a4("10.0.0.1"), dst: a4("10.0.0.2"), nextHop: a4("10.0.0.254"), sport: 1234, dport: 80,
		proto: 6, tos: 8, tcp: 0x1b, ttl: 64, bytes: 1500, packets: 3, in: 10, out: 20, srcAS: 65001, dstAS: 65002,
		srcMask: 24, dstMask: 16, srcMAC: 0x0a0b0c0d0e0f, dstMAC: 0x010203040506, srcVlan: 100, dstVlan: 200, fwd: 64,
		first: 150000, last: 190000}
	f6 := f1
	f6.src, f6.dst, f6.nextHop = a4("2001:db8::1"), a4("2001:db8::2"), a4("2001:db8::fe")
	f6.srcMask, f6.dstMask = 48, 64
	// Expected v9 record from f1: export time 1700000100 s, uptime 200000 ms.
	export := time.Unix(1_700_000_100, 0).UTC()
	want1 := flow.Record{TimeReceived: testNow, TimeFlowStart: export.Add(-50 * time.Second), TimeFlowEnd: export.Add(-10 * time.Second),
		SamplingRate: 1, ExporterAddress: testExporter, SrcAddr: f1.src, DstAddr: f1.dst, NextHop: f1.nextHop,
		SrcNetMask: 24, DstNetMask: 16, SrcMAC: f1.srcMAC, DstMAC: f1.dstMAC, SrcVlan: 100, DstVlan: 200,
		SrcAS: 65001, DstAS: 65002, InIfIndex: 10, OutIfIndex: 20, EType: flow.ETypeIPv4, Proto: 6, SrcPort: 1234, DstPort: 80,
		TCPFlags: 0x1b, IPTos: 8, IPTTL: 64, ForwardingStatus: 64, Bytes: 1500, Packets: 3}
	want6 := want1
	want6.SrcAddr, want6.DstAddr, want6.NextHop, want6.EType = f6.src, f6.dst, f6.nextHop, flow.ETypeIPv6
	want6.SrcNetMask, want6.DstNetMask = 48, 64
	withRate := func(r flow.Record, rate uint64) flow.Record { r.SamplingRate = rate; return r }
	ipfixTimes := func(r flow.Record) flow.Record {
		r.TimeFlowStart, r.TimeFlowEnd = ms(1_700_000_000_000+150000), ms(1_700_000_000_000+190000)
		return r
	}
	v9T := func(id uint16, v6 bool) []byte { return set(0, tmpl(id, commonFields(v6, false)...)) }
	ipfixT := func(id uint16, v6 bool) []byte { return set(2, tmpl(id, commonFields(v6, true)...)) }

	// v5: engine type/id 0, sampling interval 100 with mode bits set.
	v5 := v5Packet(200000, 1_700_000_100, 500_000_000, 1, 0x4000|100, []testFlow{f1})
	want5 := want1
	want5.SamplingRate = 100
	want5.TimeFlowStart = want5.TimeFlowStart.Add(500 * time.Millisecond)
	want5.TimeFlowEnd = want5.TimeFlowEnd.Add(500 * time.Millisecond)
	want5.SrcAS, want5.DstAS = 65001&0xffff, 65002&0xffff
	want5.SrcMAC, want5.DstMAC, want5.SrcVlan, want5.DstVlan, want5.ForwardingStatus, want5.IPTTL = 0, 0, 0, 0, 0, 0

	cases := []struct {
		name    string
		cfg     Config
		packets [][]byte
		want    []flow.Record
		errs    []error
		metric  map[string]float64 // counter name{labels} → value, read with testutil
	}{
		{name: "v5", packets: [][]byte{v5}, want: []flow.Record{want5}},
		{
			name:    "v9 two templates and data in one packet",
			packets: [][]byte{v9Packet(200000, 1_700_000_100, 1, 0, v9T(256, false), v9T(257, true), set(256, f1.record(false)), set(257, f6.record(false)))},
			want:    []flow.Record{want1, want6},
		},
		{
			name: "v9 data before template is held then decoded",
			packets: [][]byte{
				v9Packet(200000, 1_700_000_100, 1, 0, set(256, f1.record(false))),
				v9Packet(200000, 1_700_000_100, 2, 0, v9T(256, false)),
			},
			want: []flow.Record{want1},
		},
		{
			name: "v9 data before template in the same packet",
			packets: [][]byte{
				v9Packet(200000, 1_700_000_100, 1, 0, set(256, f1.record(false)), v9T(256, false)),
			},
			want: []flow.Record{want1},
		},
		{
			name: "v9 templates are per source id",
			packets: [][]byte{
				v9Packet(200000, 1_700_000_100, 1, 0, v9T(256, false)),
				v9Packet(200000, 1_700_000_100, 1, 1, set(256, f1.record(false))),
			},
			want: nil,
		},
		{
			name: "ipfix v4 and v6",
			packets: [][]byte{ipfixPacket(1_700_000_100, 1, 0, ipfixT(300, false), ipfixT(301, true),
				set(300, f1.record(true)), set(301, f6.record(true)))},
			want: []flow.Record{ipfixTimes(want1), ipfixTimes(want6)},
		},
		{
			name:    "default and override sampling rates",
			cfg:     Config{DefaultRate: SingleRate(512)},
			packets: [][]byte{v9Packet(200000, 1_700_000_100, 1, 0, v9T(256, false), set(256, f1.record(false)))},
			want:    []flow.Record{withRate(want1, 512)},
		},
		{
			name:    "override beats the packet",
			cfg:     Config{OverrideRate: mustRates(t, cty.MapVal(map[string]cty.Value{"192.0.2.0/24": cty.NumberIntVal(10), "192.0.2.10/32": cty.NumberIntVal(20), "0.0.0.0/0": cty.NumberIntVal(5)}))},
			packets: [][]byte{v5},
			want:    []flow.Record{withRate(want5, 20)},
		},
		{
			name:    "missing sampling rate dropped",
			cfg:     Config{MissingRate: MissingRateDrop},
			packets: [][]byte{v9Packet(200000, 1_700_000_100, 1, 0, v9T(256, false), set(256, f1.record(false)))},
			want:    nil,
		},
		{
			name: "v9 options with two samplers",
			packets: [][]byte{v9Packet(200000, 1_700_000_100, 1, 0,
				set(1, v9OptTmpl(260, []fs{{t: 1, l: 4}}, []fs{{t: ieSamplerID, l: 1}, {t: ieSamplingAlgorithm, l: 1}, {t: ieSamplingInterval, l: 4}})),
				set(260, cat(u32(0), []byte{1, 2}, u32(100)), cat(u32(0), []byte{2, 2}, u32(1000)), []byte{0, 0}),
				set(0, tmpl(256, append(commonFields(false, false), fs{t: ieSamplerID, l: 1})...)),
				set(256, cat(f1.record(false), []byte{2}), cat(f1.record(false), []byte{1}), cat(f1.record(false), []byte{3})))},
			want: []flow.Record{withRate(want1, 1000), withRate(want1, 100), withRate(want1, 1000)}, // sampler 3 unknown: last domain rate
		},
		{
			name: "ipfix options with packet interval and space",
			packets: [][]byte{ipfixPacket(1_700_000_100, 1, 0,
				set(3, ipfixOptTmpl(400, []fs{{t: 149, l: 4}}, []fs{{t: ieSelectorID, l: 8}, {t: ieSamplingPacketInterval, l: 4}, {t: ieSamplingPacketSpace, l: 4}})),
				set(400, cat(u32(0), u32(0), u32(5), u32(1), u32(99))),
				ipfixT(300, false), set(300, f1.record(true)))},
			want: []flow.Record{withRate(ipfixTimes(want1), 100)},
		},
		{
			name: "ipfix rate in the data record, variable-length and enterprise fields, flow label",
			packets: [][]byte{ipfixPacket(1_700_000_100, 1, 0,
				set(2, tmpl(300, append([]fs{{t: 82, l: varLength}, {t: 1, l: 4, pen: 9}, {t: 31, l: 4}, {t: 999, l: 3}, {t: ieSamplingInterval, l: 4}}, commonFields(false, true)...)...)),
				set(300, cat([]byte{3}, []byte("eth"), u32(7), u32(0xabcde), []byte{1, 2, 3}, u32(64), f1.record(true)),
					cat([]byte{255, 0, 2}, []byte("e0"), u32(7), u32(0xabcde), []byte{1, 2, 3}, u32(64), f1.record(true)), []byte{0, 0, 0}))},
			want: []flow.Record{withRate(ipfixTimes(want1), 64), withRate(ipfixTimes(want1), 64)},
		},
		{
			name: "ipfix withdrawal",
			packets: [][]byte{
				ipfixPacket(1_700_000_100, 1, 0, ipfixT(300, false)),
				ipfixPacket(1_700_000_100, 1, 0, set(2, cat(u16(300), u16(0)))),
				ipfixPacket(1_700_000_100, 1, 0, set(300, f1.record(true))),
			},
			want: nil,
		},
		{
			name: "sequence reset",
			packets: [][]byte{
				v9Packet(200000, 1_700_000_100, 1000, 0, v9T(256, false), set(256, f1.record(false))),
				v9Packet(100, 1_700_000_200, 0, 0, set(256, f1.record(false))),
			},
			want: []flow.Record{want1, func() flow.Record {
				r := want1
				// Restarted exporter: uptime 100 ms, flow at 150000 ms "in the future"
				// of uptime wraps; the flow is still delivered.
				r.TimeFlowStart = uptimeTime(time.Unix(1_700_000_200, 0).UTC(), 100, 150000)
				r.TimeFlowEnd = uptimeTime(time.Unix(1_700_000_200, 0).UTC(), 100, 190000)
				return r
			}()},
			metric: map[string]float64{"sequence": 1},
		},
		{
			name:    "unknown version",
			packets: [][]byte{cat(u16(7), make([]byte, 30))},
			errs:    []error{ErrUnknownVersion},
		},
		{
			name:    "truncated v9 header",
			packets: [][]byte{cat(u16(9), make([]byte, 10))},
			errs:    []error{ErrTruncated},
		},
		{
			name:    "v5 count beyond packet",
			packets: [][]byte{v5[:len(v5)-1]},
			errs:    []error{ErrBadLength},
		},
		{
			name:    "ipfix length beyond packet",
			packets: [][]byte{func() []byte { p := ipfixPacket(1, 1, 0, ipfixT(300, false)); p[3] += 10; return p }()},
			errs:    []error{ErrBadLength},
		},
		{
			name:    "set length beyond packet",
			packets: [][]byte{func() []byte { p := v9Packet(1, 1, 1, 0, v9T(256, false)); p[23] += 4; return p }()},
			errs:    []error{ErrBadLength},
		},
		{
			name:    "template with zero fields",
			packets: [][]byte{v9Packet(1, 1, 1, 0, set(0, cat(u16(256), u16(0))))},
			errs:    []error{ErrBadTemplate},
		},
		{
			name:    "template of zero-length fields",
			packets: [][]byte{v9Packet(1, 1, 1, 0, set(0, tmpl(256, fs{t: 1, l: 0}, fs{t: 2, l: 0})))},
			errs:    []error{ErrBadTemplate},
		},
		{
			name:    "template id below 256",
			packets: [][]byte{v9Packet(1, 1, 1, 0, set(0, tmpl(12, fs{t: 1, l: 4})))},
			errs:    []error{ErrBadTemplate},
		},
		{
			name:    "absurd field length",
			packets: [][]byte{v9Packet(1, 1, 1, 0, set(0, tmpl(256, fs{t: 1, l: 40000}, fs{t: 2, l: 40000})))},
			errs:    []error{ErrBadTemplate},
		},
		{
			name:    "template fields truncated",
			packets: [][]byte{v9Packet(1, 1, 1, 0, set(0, cat(u16(256), u16(3), u16(1), u16(4))))},
			errs:    []error{ErrTruncated},
		},
		{
			name:    "reserved set id",
			packets: [][]byte{ipfixPacket(1, 1, 0, set(100, u32(0)))},
			errs:    []error{ErrReservedSet},
		},
		{
			name:    "template limit",
			cfg:     Config{MaxTemplates: 1},
			packets: [][]byte{v9Packet(1, 1, 1, 0, v9T(256, false), v9T(257, false))},
			errs:    []error{ErrTemplateLimit},
		},
		{
			name:    "truncated data record",
			packets: [][]byte{v9Packet(200000, 1_700_000_100, 1, 0, v9T(256, false), set(256, f1.record(false), f1.record(false)[:40]))},
			want:    []flow.Record{want1},
			errs:    []error{ErrTruncatedRecord},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			tc.cfg.Metrics = m
			d := NewDecoder(tc.cfg)
			got, errs := decodeAll(t, d, tc.packets...)
			if diff := cmp.Diff(got, tc.want, recordCmp); diff != "" {
				t.Errorf("records (-got +want):\n%s", diff)
			}
			if len(errs) != len(tc.errs) {
				t.Fatalf("errors: got %v, want %v", errs, tc.errs)
			}
			for i := range errs {
				if !errors.Is(errs[i], tc.errs[i]) {
					t.Errorf("error %d: got %v, want %v", i, errs[i], tc.errs[i])
				}
				reason := errReasons[tc.errs[i]]
				if n := testutil.ToFloat64(m.errors.WithLabelValues(testExporter.String(), reason)); n < 1 {
					t.Errorf("decode_errors_total{reason=%q} = %v, want ≥ 1", reason, n)
				}
			}
			if want, ok := tc.metric["sequence"]; ok {
				if n := testutil.ToFloat64(m.sequenceErrors.WithLabelValues(testExporter.String())); n != want {
					t.Errorf("sequence errors = %v, want %v", n, want)
				}
			}
		})
	}
}

func mustRates(t *testing.T, v cty.Value) RateTable {
	t.Helper()
	rt, err := ParseRateTable(v)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestPendingExpiresAndOverflows(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	d := NewDecoder(Config{PendingLimit: 2, PendingTimeout: time.Second, Metrics: m})
	b := flow.NewBatch()
	defer b.Release()
	rec := make([]byte, 8)
	for i := 0; i < 3; i++ {
		d.Decode(v9Packet(1, 1, uint32(i), 0, set(256, rec)), testExporter, testNow, b)
	}
	d.Expire(testNow.Add(2 * time.Second))
	d.Decode(v9Packet(1, 1, 3, 0, set(0, tmpl(256, fs{t: 1, l: 4}, fs{t: 2, l: 4}))), testExporter, testNow.Add(2*time.Second), b)
	if b.Len() != 0 {
		t.Errorf("decoded %d flows from expired sets", b.Len())
	}
	l := testExporter.String()
	if n := testutil.ToFloat64(m.heldDropped.WithLabelValues(l, "overflow")); n != 1 {
		t.Errorf("overflow drops = %v, want 1", n)
	}
	if n := testutil.ToFloat64(m.heldDropped.WithLabelValues(l, "expired")); n != 2 {
		t.Errorf("expired drops = %v, want 2", n)
	}
	if n := testutil.ToFloat64(m.missingTemplates.WithLabelValues(l)); n != 3 {
		t.Errorf("missing templates = %v, want 3", n)
	}
}

func TestStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tp, dp, _ := generatedPackets(r, false, false, 5)
	d := NewDecoder(Config{})
	opts := v9Packet(1, 1, 1, 7,
		set(1, v9OptTmpl(260, []fs{{t: 1, l: 4}}, []fs{{t: ieSamplerID, l: 1}, {t: ieSamplingInterval, l: 4}})),
		set(260, cat(u32(0), []byte{1}, u32(100))))
	want, errs := decodeAll(t, d, tp, opts, dp)
	if len(errs) > 0 || len(want) != 5 {
		t.Fatalf("decode: %d flows, %v", len(want), errs)
	}
	if !d.Dirty() {
		t.Error("decoder not dirty after learning templates")
	}
	path := t.TempDir() + "/state.json"
	if err := saveState(d, path); err != nil {
		t.Fatal(err)
	}
	d2 := NewDecoder(Config{})
	if err := loadState(d2, path); err != nil {
		t.Fatal(err)
	}
	got, errs := decodeAll(t, d2, dp)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(got, want, recordCmp); diff != "" {
		t.Errorf("after restore (-got +want):\n%s", diff)
	}
	if got[0].SamplingRate != 100 {
		t.Errorf("sampling rate after restore = %d, want 100", got[0].SamplingRate)
	}
}

func TestParseRateTable(t *testing.T) {
	cases := []struct {
		v    cty.Value
		addr string
		want uint64
		err  bool
	}{
		{v: cty.NumberIntVal(100), addr: "2001:db8::1", want: 100},
		{v: cty.ObjectVal(map[string]cty.Value{"10.0.0.0/8": cty.NumberIntVal(10), "10.1.0.0/16": cty.NumberIntVal(20)}), addr: "10.1.2.3", want: 20},
		{v: cty.ObjectVal(map[string]cty.Value{"10.0.0.0/8": cty.NumberIntVal(10), "10.1.0.0/16": cty.NumberIntVal(20)}), addr: "10.2.2.3", want: 10},
		{v: cty.ObjectVal(map[string]cty.Value{"10.0.0.0/8": cty.NumberIntVal(10)}), addr: "192.0.2.1", want: 0},
		{v: cty.ObjectVal(map[string]cty.Value{"nope": cty.NumberIntVal(10)}), err: true},
		{v: cty.NumberFloatVal(1.5), err: true},
		{v: cty.NumberIntVal(0), err: true},
		{v: cty.StringVal("x"), err: true},
	}
	for _, tc := range cases {
		rt, err := ParseRateTable(tc.v)
		if (err != nil) != tc.err {
			t.Errorf("%#v: err = %v", tc.v, err)
			continue
		}
		if err == nil {
			if got := rt.Rate(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("%#v lookup %s = %d, want %d", tc.v, tc.addr, got, tc.want)
			}
		}
	}
}
