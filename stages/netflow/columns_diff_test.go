package netflow

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	feexporter "github.com/flowengine/flowengine/exporter"
	"github.com/flowengine/flowengine/flow"
)

// goflowRecord maps a goflow2 message onto a flow.Record, column for column.
// TimeReceived and ExporterAddress come from the socket in both collectors,
// so they are filled the way this decoder is given them.
func goflowRecord(m *protoproducer.ProtoProducerMessage, exp netip.Addr, now time.Time) flow.Record {
	nsTime := func(ns uint64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, int64(ns)).UTC()
	}
	return flow.Record{
		TimeReceived: now, ExporterAddress: exp,
		TimeFlowStart: nsTime(m.TimeFlowStartNs), TimeFlowEnd: nsTime(m.TimeFlowEndNs), SamplingRate: m.SamplingRate,
		SrcAddr: addrOf(m.SrcAddr), DstAddr: addrOf(m.DstAddr), SrcNetMask: uint8(m.SrcNet), DstNetMask: uint8(m.DstNet),
		NextHop: addrOf(m.NextHop), SrcMAC: m.SrcMac, DstMAC: m.DstMac, SrcVlan: uint16(m.SrcVlan), DstVlan: uint16(m.DstVlan),
		SrcAS: m.SrcAs, DstAS: m.DstAs, InIfIndex: m.InIf, OutIfIndex: m.OutIf,
		EType: uint16(m.Etype), Proto: uint8(m.Proto), SrcPort: uint16(m.SrcPort), DstPort: uint16(m.DstPort),
		TCPFlags: uint8(m.TcpFlags), IPTos: uint8(m.IpTos), IPTTL: uint8(m.IpTtl), ICMPType: uint8(m.IcmpType),
		ICMPCode: uint8(m.IcmpCode), ForwardingStatus: uint8(m.ForwardingStatus), Bytes: m.Bytes, Packets: m.Packets,
	}
}

// columnDiffs compares every column of flow.Columns in got and want and
// returns, for each column that differs, one example "got vs want".
func columnDiffs(got, want *flow.Record) map[string]string {
	out := map[string]string{}
	for i, c := range flow.Columns {
		acc := flow.ColumnAccessors[i]
		var g, w any
		same := true
		switch {
		case acc.Time != nil:
			gt, wt := acc.Time(got), acc.Time(want)
			g, w, same = gt, wt, gt.Equal(wt)
		case acc.Uint != nil:
			g, w = acc.Uint(got), acc.Uint(want)
			same = g == w
		case acc.String != nil:
			g, w = acc.String(got), acc.String(want)
			same = g == w
		case acc.Addr != nil:
			g, w = acc.Addr(got), acc.Addr(want)
			same = g == w
		}
		if !same {
			out[c.Name] = fmt.Sprintf("%v vs %v", g, w)
		}
	}
	return out
}

// compareSource decodes pkts with this decoder and with goflow2, compares
// every column of every flow, and checks that the columns that differ are
// exactly the keys of known (column → why the difference is kept).
func compareSource(t *testing.T, pkts [][]byte, known map[string]string) {
	t.Helper()
	ref := newGoflowReference()
	d := NewDecoder(Config{})
	b := flow.NewBatch()
	defer b.Release()
	seen := map[string]string{}
	total := 0
	for p, pkt := range pkts {
		msgs, err := ref.decode(pkt)
		if err != nil {
			t.Fatalf("packet %d: goflow2: %v", p, err)
		}
		b.Records = b.Records[:0]
		if _, err := d.Decode(pkt, testExporter, testNow, b); err != nil {
			t.Fatalf("packet %d: %v", p, err)
		}
		if len(msgs) != len(b.Records) {
			t.Fatalf("packet %d: %d flows, goflow2 %d", p, len(b.Records), len(msgs))
		}
		for i := range b.Records {
			want := goflowRecord(msgs[i].(*protoproducer.ProtoProducerMessage), testExporter, testNow)
			for col, ex := range columnDiffs(&b.Records[i], &want) {
				if _, ok := seen[col]; !ok {
					seen[col] = fmt.Sprintf("packet %d flow %d: %s", p, i, ex)
				}
			}
		}
		total += len(b.Records)
	}
	if total == 0 {
		t.Fatal("no flows compared")
	}
	var unexpected, missing []string
	for col, ex := range seen {
		if _, ok := known[col]; !ok {
			unexpected = append(unexpected, col+" ("+ex+")")
		}
	}
	for col := range known {
		if _, ok := seen[col]; !ok {
			missing = append(missing, col)
		}
	}
	sort.Strings(unexpected)
	sort.Strings(missing)
	if len(unexpected) > 0 {
		t.Errorf("columns differing from goflow2 (flowengine vs goflow2), not in the known list:\n  %s", strings.Join(unexpected, "\n  "))
	}
	if len(missing) > 0 {
		t.Errorf("known differences that no longer occur (remove them): %v", missing)
	}
	t.Logf("%d flows, %d columns compared, known differences: %v", total, len(flow.Columns), slices.Sorted(mapKeys(known)))
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Differences kept on purpose, shared by the sources below.
const (
	whyRate      = "goflow2 reports 0 when no sampling rate is announced; this decoder keeps the flow with rate 1 (unsampled), which scales counters correctly"
	whyDirection = "goflow2's protobuf message has no flow direction; this decoder keeps flowDirection (61)"
)

// exporterPackets encodes synthetic flows with flowengine exporter's encoders.
func exporterPackets(t *testing.T, ipfix bool, v6share float64, rate uint32) [][]byte {
	t.Helper()
	now := testNow.Add(-time.Second)
	g := feexporter.NewGenerator(feexporter.GeneratorOptions{Seed: 11, Interfaces: 16, IPv6Share: v6share})
	flows := make([]feexporter.Flow, 200)
	for i := range flows {
		g.Next(now, &flows[i])
	}
	opts := feexporter.EncoderOptions{SourceID: 3, SamplingRate: rate, Boot: now.Add(-time.Hour)}
	var enc feexporter.Encoder = feexporter.NewNetFlow9(opts)
	if ipfix {
		var err error
		if enc, err = feexporter.NewIPFIX(opts); err != nil {
			t.Fatal(err)
		}
	}
	var pkts [][]byte
	for len(flows) > 0 {
		pkt, n := enc.Encode(nil, now, flows)
		if n == 0 {
			t.Fatal("Encode took no flow")
		}
		flows = flows[n:]
		pkts = append(pkts, pkt)
	}
	return pkts
}

func TestDifferentialGoflow2Columns(t *testing.T) {
	cases := []struct {
		name  string
		pkts  func(t *testing.T) [][]byte
		known map[string]string
	}{
		{"exporter v9 ipv4", func(t *testing.T) [][]byte { return exporterPackets(t, false, 0, 1) }, nil},
		{"exporter v9 ipv6", func(t *testing.T) [][]byte { return exporterPackets(t, false, 1, 1) }, nil},
		{"exporter v9 sampled mixed", func(t *testing.T) [][]byte { return exporterPackets(t, false, 0.5, 1000) }, nil},
		{"exporter ipfix ipv4", func(t *testing.T) [][]byte { return exporterPackets(t, true, 0, 1) }, nil},
		{"exporter ipfix ipv6", func(t *testing.T) [][]byte { return exporterPackets(t, true, 1, 1) }, nil},
		{"exporter ipfix sampled mixed", func(t *testing.T) [][]byte { return exporterPackets(t, true, 0.5, 1000) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { compareSource(t, tc.pkts(t), tc.known) })
	}
}
