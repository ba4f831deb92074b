package engine_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowengine/flowengine/engine"
)

func TestMetricsReuse(t *testing.T) {
	reg := prometheus.NewRegistry()
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"stage": "sink.file.out"}, reg)
	opts := prometheus.CounterOpts{Name: "test_total", Help: "Test."}

	m1 := engine.NewMetrics(wrapped)
	c1 := m1.Counter(opts)
	v1 := m1.CounterVec(prometheus.CounterOpts{Name: "test_vec_total", Help: "Test."}, []string{"reason"})
	n := 1.0
	m1.GaugeFunc(prometheus.GaugeOpts{Name: "test_func", Help: "Test."}, func() float64 { return n })

	// A second build of the same stage gets the collectors already registered,
	// and its functions replace the older ones.
	m2 := engine.NewMetrics(wrapped)
	c2 := m2.Counter(opts)
	v2 := m2.CounterVec(prometheus.CounterOpts{Name: "test_vec_total", Help: "Test."}, []string{"reason"})
	m2.GaugeFunc(prometheus.GaugeOpts{Name: "test_func", Help: "Test."}, func() float64 { return 2 })
	if c1 != c2 || v1 != v2 {
		t.Error("second registration did not return the registered collectors")
	}
	if err := m2.Err(); err != nil {
		t.Fatal(err)
	}
	c2.Inc()
	if got := testutil.ToFloat64(c1); got != 1 {
		t.Errorf("counter = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "test_func"); err != nil || n != 1 {
		t.Errorf("test_func series = %d (%v), want 1", n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "test_func" && mf.Metric[0].GetGauge().GetValue() != 2 {
			t.Errorf("test_func = %v, want the newer function's 2", mf.Metric[0].GetGauge().GetValue())
		}
	}

	// A conflicting description is reported, and the collector still works.
	m3 := engine.NewMetrics(wrapped)
	c3 := m3.Counter(prometheus.CounterOpts{Name: "test_total", Help: "Other help."})
	c3.Inc()
	if m3.Err() == nil {
		t.Error("conflicting description not reported")
	}

	// Without a registry, collectors work unregistered.
	c4 := engine.NewMetrics(nil).Counter(opts)
	c4.Inc()
	if got := testutil.ToFloat64(c4); got != 1 {
		t.Errorf("unregistered counter = %v, want 1", got)
	}
	if got := engine.Register(wrapped, prometheus.NewCounter(opts)); got != c1 {
		t.Error("Register did not return the registered counter")
	}
}
