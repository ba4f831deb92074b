package generate

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

func collect(t *testing.T, src string) []flow.Record {
	t.Helper()
	cfg, diags := dsl.DecodeString(src, Spec)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	impl, diags := New(cfg, engine.Env{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var out []flow.Record
	err := impl.Run(context.Background(), engine.OutputFunc(func(_ context.Context, b *flow.Batch) bool {
		out = append(out, b.Records...)
		b.Release()
		return true
	}))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCountSkewAndDeterminism(t *testing.T) {
	src := `
rate      = 0
count     = 20000
exporters = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
`
	a, b := collect(t, src), collect(t, src)
	if len(a) != 20000 || len(b) != 20000 {
		t.Fatalf("got %d and %d flows, want 20000", len(a), len(b))
	}
	perExporter := map[string]int{}
	for i := range a {
		if a[i].SrcAddr != b[i].SrcAddr || a[i].Bytes != b[i].Bytes {
			t.Fatal("the same seed must give the same flows")
		}
		r := &a[i]
		perExporter[r.ExporterAddress.String()]++
		if !r.SrcAddr.IsValid() || !r.DstAddr.IsValid() || r.Packets == 0 || r.Bytes < r.Packets*28 || r.TimeReceived.IsZero() {
			t.Fatalf("incomplete flow %+v", r)
		}
		if (r.EType == flow.ETypeIPv6) != r.SrcAddr.Is6() {
			t.Fatalf("EType %#x for %s", r.EType, r.SrcAddr)
		}
	}
	// Skew: the most popular exporter sends clearly more than the least.
	if perExporter["192.0.2.1"] < 2*perExporter["192.0.2.4"] {
		t.Errorf("no skew across exporters: %v", perExporter)
	}
}

// TestAttributes: the model's flows keep to the source's prefixes, ports,
// protocols, hosts, interfaces and sampling rate.
func TestAttributes(t *testing.T) {
	recs := collect(t, `
rate          = 0
count         = 5000
exporters     = ["10.0.0.1", "10.0.0.2"]
interfaces    = 4
src_prefixes  = ["192.0.2.0/24"]
dst_prefixes  = ["198.51.100.0/24", "2001:db8::/32"]
ports         = ["443", "8443"]
protocols     = ["tcp", "icmp"]
hosts         = 20
sampling_rate = 100
`)
	clients, servers := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")
	hosts := map[netip.Addr]bool{}
	var answers int
	for _, r := range recs {
		c, srv := r.SrcAddr, r.DstAddr
		if servers.Contains(c) {
			c, srv = srv, c
			answers++
		}
		if !clients.Contains(c) || !servers.Contains(srv) {
			t.Fatalf("flow %v -> %v: want one end in %v and the other in %v (IPv4 only: no IPv6 client prefix)", r.SrcAddr, r.DstAddr, clients, servers)
		}
		hosts[c], hosts[srv] = true, true
		switch r.Proto {
		case 6:
			if p := min(r.SrcPort, r.DstPort); p != 443 && p != 8443 {
				t.Fatalf("TCP flow with ports %d -> %d", r.SrcPort, r.DstPort)
			}
		case 1:
			if r.SrcPort != 0 || r.DstPort != 0 {
				t.Fatalf("ICMP flow with ports %d -> %d", r.SrcPort, r.DstPort)
			}
		default:
			t.Fatalf("protocol %d", r.Proto)
		}
		if r.InIfIndex < 1 || r.InIfIndex > 4 || r.OutIfIndex < 1 || r.OutIfIndex > 4 || r.SamplingRate != 100 {
			t.Fatalf("flow %+v", r)
		}
	}
	if len(hosts) > 40 {
		t.Errorf("%d hosts, want at most 20 per side", len(hosts))
	}
	if answers < len(recs)*2/5 || answers > len(recs)*3/5 {
		t.Errorf("%d answers of %d flows, want about half", answers, len(recs))
	}
}

func TestInvalidConfig(t *testing.T) {
	cfg, _ := dsl.DecodeString(`
exporters    = ["nope"]
src_prefixes = ["10.0.0.0/33"]
protocols    = ["sctpx"]
skew         = 1
`, Spec)
	_, diags := New(cfg, engine.Env{})
	lines := map[int]bool{}
	for _, d := range diags {
		lines[d.Subject.Start.Line] = true
	}
	for _, l := range []int{2, 3, 4, 5} {
		if !lines[l] {
			t.Errorf("no diagnostic on line %d: %v", l, diags)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg, _ := dsl.DecodeString(`rate = 0`, Spec)
	impl, _ := New(cfg, engine.Env{})
	s := impl
	s.count = int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	_ = s.Run(context.Background(), engine.OutputFunc(func(_ context.Context, bt *flow.Batch) bool {
		bt.Release()
		return true
	}))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
}

func TestBackfill(t *testing.T) {
	before := time.Now()
	flows := collect(t, `
rate     = 0
count    = 10000
backfill = "24h"
`)
	after := time.Now()
	if len(flows) != 10000 {
		t.Fatalf("got %d flows, want 10000", len(flows))
	}
	first, last := flows[0].TimeReceived, flows[len(flows)-1].TimeReceived
	if first.Before(before.Add(-24*time.Hour)) || first.After(after.Add(-24*time.Hour)) {
		t.Errorf("oldest flow at %s, want 24 h before the start (%s)", first, before)
	}
	step := 24 * time.Hour / 10000
	if got := after.Sub(last); got < step-time.Second || got > step+time.Second+after.Sub(before) {
		t.Errorf("newest flow %s before the end, want about %s", got, step)
	}
	for i := range flows {
		r := &flows[i]
		if i > 0 {
			if d := r.TimeReceived.Sub(flows[i-1].TimeReceived); d < step-time.Microsecond || d > step+time.Microsecond {
				t.Fatalf("flow %d is %s after the previous one, want %s (evenly spread, oldest first)", i, d, step)
			}
		}
		if !r.TimeFlowEnd.Equal(r.TimeReceived) || !r.TimeFlowStart.Before(r.TimeFlowEnd) {
			t.Fatalf("flow %d: start %s end %s received %s", i, r.TimeFlowStart, r.TimeFlowEnd, r.TimeReceived)
		}
	}
}

func TestBackfillNeedsCount(t *testing.T) {
	for _, src := range []string{"backfill = \"1h\"", "count = 10\nbackfill = \"-1h\""} {
		cfg, diags := dsl.DecodeString(src, Spec)
		if !diags.HasErrors() {
			_, diags = New(cfg, engine.Env{})
		}
		if !diags.HasErrors() || !strings.Contains(diags.Error(), "backfill") {
			t.Errorf("%s: got %v, want an error on backfill", src, diags)
		}
	}
}
