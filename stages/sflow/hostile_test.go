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
