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

// Every kind of collector of the factory registers once, under the stage's
// labels, and a second build gets the first one back.
func TestMetricsEveryKind(t *testing.T) {
	reg := prometheus.NewRegistry()
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"stage": "source.x.y"}, reg)
	build := func() []prometheus.Collector {
		m := engine.NewMetrics(wrapped)
		out := []prometheus.Collector{
			m.Gauge(prometheus.GaugeOpts{Name: "k_gauge", Help: "Test."}),
			m.GaugeVec(prometheus.GaugeOpts{Name: "k_gauge_vec", Help: "Test."}, []string{"l"}),
			m.Histogram(prometheus.HistogramOpts{Name: "k_hist", Help: "Test."}),
			m.HistogramVec(prometheus.HistogramOpts{Name: "k_hist_vec", Help: "Test."}, []string{"l"}),
			m.Collector(prometheus.NewCounter(prometheus.CounterOpts{Name: "k_own_total", Help: "Test."})),
		}
		if err := m.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, second := build(), build()
	for i := range first {
		if first[i] != second[i] {
			t.Errorf("collector %d: the second build got a new one", i)
		}
	}
	first[0].(prometheus.Gauge).Set(3)
	first[1].(*prometheus.GaugeVec).WithLabelValues("a").Set(1)
	first[2].(prometheus.Histogram).Observe(1)
	first[3].(*prometheus.HistogramVec).WithLabelValues("a").Observe(1)
	first[4].(prometheus.Counter).Inc()
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 5 {
		t.Errorf("%d series (%v), want 5", n, err)
	}
}
