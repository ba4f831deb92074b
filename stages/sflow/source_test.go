package sflow

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

// collector is an engine.Output keeping copies of what it receives.
type collector struct {
	mu      sync.Mutex
	records []flow.Record
	batches int
	notify  chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) Send(ctx context.Context, b *flow.Batch) bool {
	c.mu.Lock()
	c.records = append(c.records, b.Records...)
	c.batches++
	c.mu.Unlock()
	b.Release()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return true
}

func (c *collector) snapshot() []flow.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]flow.Record(nil), c.records...)
}

// waitFor waits until n records arrived or the deadline passes (a generous
// bound against hangs, not a timing assertion).
func (c *collector) waitFor(t *testing.T, n int, d time.Duration) []flow.Record {
	t.Helper()
	timeout := time.After(d)
	for {
		if r := c.snapshot(); len(r) >= n {
			return r
		}
		select {
		case <-c.notify:
		case <-timeout:
			return c.snapshot()
		}
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// startSource runs a source "sflow" built from hcl on a free port.
func startSource(t *testing.T, hcl string) (*Source, *collector, *prometheus.Registry, string) {
	t.Helper()
	port := testenv.FreePort(t, "udp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg, diags := dsl.DecodeString(fmt.Sprintf("listen = %q\n%s", addr, hcl), Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	reg := prometheus.NewRegistry()
	st, diags := New(cfg, engine.Env{Metrics: reg})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	src := st
	col := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, col) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if _, err := src.Addr(ctx); err != nil {
		t.Fatal(err)
	}
	return src, col, reg, addr
}

func TestSourceUDP(t *testing.T) {
	start := time.Now()
	src, col, reg, addr := startSource(t, `sockets = 2
override_sampling_rate = { "192.0.2.0/24" = 100, "192.0.2.10/32" = 4000 }`)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tcp4 := ether(macB, macA, 0, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, 0x28, 61, 1500, tcp(443, 51000, 0x18)))
	good := datagram(testAgent, flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4)), counterSample(), flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4)))
	bogus := append([]byte(nil), good...)
	bogus[27] = 0xff // sample count
	other := datagram(a("192.0.2.11"), flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4)))
	const rounds = 50
	for range rounds {
		for _, d := range [][]byte{good, bogus, other} {
			if _, err := conn.Write(d); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := col.waitFor(t, 3*rounds, 10*time.Second)
	if len(got) != 3*rounds {
		t.Fatalf("got %d flows, want %d", len(got), 3*rounds)
	}
	rates := map[netip.Addr]uint64{}
	for _, r := range got {
		rates[r.ExporterAddress] = r.SamplingRate
		if r.DstPort != 51000 || r.Bytes != 1500 || r.Packets != 1 {
			t.Fatalf("unexpected record %+v", r)
		}
	}
	if rates[testAgent] != 4000 || rates[a("192.0.2.11")] != 100 {
		t.Errorf("sampling rates = %v, want 4000 for %s and 100 for 192.0.2.11", rates, testAgent)
	}
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"flowengine_sflow_datagrams_total", map[string]string{"exporter": "192.0.2.10"}, 2 * rounds},
		{"flowengine_sflow_flows_total", map[string]string{"exporter": "192.0.2.10"}, 2 * rounds},
		{"flowengine_sflow_decode_errors_total", map[string]string{"exporter": "192.0.2.10"}, rounds},
		{"flowengine_sflow_samples_skipped_total", map[string]string{"exporter": "192.0.2.10", "kind": "counter"}, rounds},
		{"flowengine_sflow_flows_total", map[string]string{"exporter": "192.0.2.11"}, rounds},
		{"flowengine_sflow_sampling_rate", map[string]string{"exporter": "192.0.2.11"}, 100},
	} {
		if got := metricValue(t, reg, m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	// The pipeline API's view of the same exporters.
	want := map[string]engine.ExporterStats{
		"192.0.2.10": {Address: "192.0.2.10", Protocol: "sflow5", Packets: 2 * rounds, Flows: 2 * rounds, DecodeErrors: rounds, SamplingRates: []uint64{4000}},
		"192.0.2.11": {Address: "192.0.2.11", Protocol: "sflow5", Packets: rounds, Flows: rounds, SamplingRates: []uint64{100}},
	}
	stats := src.ExporterStats()
	if len(stats) != len(want) {
		t.Fatalf("ExporterStats: %+v, want %d exporters", stats, len(want))
	}
	for _, g := range stats {
		w := want[g.Address]
		if g.LastSeen.Before(start) || g.LastSeen.After(time.Now()) {
			t.Errorf("%s: last seen %v, want since %v", g.Address, g.LastSeen, start)
		}
		g.LastSeen = time.Time{}
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("ExporterStats: got %+v\nwant %+v", g, w)
		}
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name, hcl, err string
	}{
		{name: "defaults", hcl: ``},
		{name: "number", hcl: `default_sampling_rate = 1000`},
		{name: "map", hcl: `override_sampling_rate = { "10.0.0.0/8" = 10, "::/0" = 20 }`},
		{name: "bad cidr", hcl: `override_sampling_rate = { "10.0.0.0/33" = 10 }`, err: `"10.0.0.0/33" is not a CIDR prefix`},
		{name: "bad rate", hcl: `default_sampling_rate = 1.5`, err: "not a whole number"},
		{name: "zero rate", hcl: `default_sampling_rate = { "10.0.0.0/8" = 0 }`, err: "not a whole number from 1"},
		{name: "bad type", hcl: `default_sampling_rate = "often"`, err: "A number or a map"},
		{name: "bad listen", hcl: `listen = "6343"`, err: "is not host:port"},
		{name: "bad sockets", hcl: `sockets = 0`, err: "between 1 and 256"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := dsl.DecodeString(tc.hcl, Spec)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			st, diags := New(cfg, engine.Env{Metrics: prometheus.NewRegistry()})
			if tc.err == "" {
				if diags.HasErrors() {
					t.Fatalf("New: %v", diags)
				}
				if l := st.Listens(); len(l) != 1 || l[0].Network != "udp" {
					t.Errorf("Listens() = %v", l)
				}
				if tc.hcl == "" && st.sock.ReceiveBuffer != 8<<20 {
					t.Errorf("default receive buffer %d, want 8MiB", st.sock.ReceiveBuffer)
				}
				return
			}
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.err) {
				t.Fatalf("New diagnostics = %v, want %q", diags, tc.err)
			}
			if diags[0].Subject == nil {
				t.Errorf("diagnostic without a range")
			}
		})
	}
}
