package sflow

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

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

// waitMetric waits until the metric reaches want, or 10 seconds pass.
func waitMetric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) float64 {
	t.Helper()
	var v float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if v = metricValue(t, reg, name, labels); v >= want {
			break
		}
	}
	return v
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestExporterSeriesBounded sends datagrams of 50 agents with a bound of 5
// exporters with their own series: the others are counted under "other".
func TestExporterSeriesBounded(t *testing.T) {
	_, _, reg, addr := startSource(t, "sockets = 1\nmax_exporter_labels = 5")
	c := dial(t, addr)
	for i := 0; i < 50; i++ {
		if _, err := c.Write(datagram(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), counterSample())); err != nil {
			t.Fatal(err)
		}
	}
	if n := waitMetric(t, reg, "flowengine_sflow_datagrams_total", map[string]string{"exporter": "other"}, 45); n != 45 {
		t.Errorf("datagrams of other = %v, want 45", n)
	}
	if labels := exporterLabels(t, reg, "flowengine_sflow_datagrams_total"); len(labels) != 6 {
		t.Errorf("exporter labels %v, want 5 addresses and other", labels)
	}
}

// datagramSeq is an sFlow v5 datagram of agent and sub-agent with sequence
// number seq, holding one counter sample.
func datagramSeq(agent netip.Addr, sub, seq uint32) []byte {
	return append(xdr{}.u32(5).addr(agent).u32(sub, seq, 123456, 1), counterSample()...)
}

// TestSequenceTracking sends datagrams with gaps and a restart: lost
// datagrams are counted per agent, sub-agents apart, resets apart.
func TestSequenceTracking(t *testing.T) {
	_, _, reg, addr := startSource(t, "sockets = 1")
	c := dial(t, addr)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	pkts := [][]byte{
		datagramSeq(a, 0, 1), datagramSeq(a, 1, 10), datagramSeq(a, 0, 2), datagramSeq(a, 1, 11),
		datagramSeq(a, 0, 5), datagramSeq(a, 1, 12), // 2 lost on sub-agent 0
		datagramSeq(b, 0, 100), datagramSeq(b, 0, 101), datagramSeq(b, 0, 3), datagramSeq(b, 0, 4), // b restarted
		datagramSeq(b, 0, 6), // 1 lost
	}
	for _, p := range pkts {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	waitMetric(t, reg, "flowengine_sflow_datagrams_total", map[string]string{"exporter": "192.0.2.2"}, 5)
	for _, tc := range []struct {
		name, exporter string
		want           float64
	}{
		{"flowengine_sflow_lost_datagrams_total", "192.0.2.1", 2},
		{"flowengine_sflow_lost_datagrams_total", "192.0.2.2", 1},
		{"flowengine_sflow_sequence_resets_total", "192.0.2.1", 0},
		{"flowengine_sflow_sequence_resets_total", "192.0.2.2", 1},
	} {
		if got := metricValue(t, reg, tc.name, map[string]string{"exporter": tc.exporter}); got != tc.want {
			t.Errorf("%s{exporter=%q} = %v, want %v", tc.name, tc.exporter, got, tc.want)
		}
	}
}

// TestSequenceTrackingBounded tracks at most max_agents agent and
// sub-agent pairs: beyond, the least recently seen are forgotten (counted).
func TestSequenceTrackingBounded(t *testing.T) {
	tr := newSequences(64)
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	em := m.labelled("x")
	now := time.Now()
	a := netip.MustParseAddr("192.0.2.1")
	for i := uint32(0); i < 10000; i++ {
		tr.check(a, i, 1, now, em)
		if len(tr.next) > 64 {
			t.Fatalf("%d pairs tracked, bound 64", len(tr.next))
		}
	}
	if tr.evicted < 10000-64 || tr.evicted > 10000 {
		t.Errorf("%d evicted, want at least %d", tr.evicted, 10000-64)
	}
}
