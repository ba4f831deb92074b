package engine

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns the collector to use: c, or the
// collector already registered under the same description when there is one
// of c's type (a stage built twice against one registry, a second runtime on
// one graph). Any other registration error (a conflicting description) leaves
// c working but unregistered; Metrics.Err reports it. reg may be nil: c is
// then returned unregistered.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	c, _ = register(reg, c)
	return c
}

func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, err
}

// Metrics is the one factory stages build their collectors with: each method
// creates a collector, registers it, and returns the one to use (see
// Register). Build it from Env.Metrics: NewMetrics(env.Metrics).
type Metrics struct {
	reg prometheus.Registerer

	mu   sync.Mutex
	errs []error
}

// NewMetrics returns a factory registering with reg (nil: collectors work
// but are not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics { return &Metrics{reg: reg} }

// Err returns the registration errors other than "already registered".
func (m *Metrics) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

func add[T prometheus.Collector](m *Metrics, c T) T {
	c, err := register(m.reg, c)
	if err != nil {
		m.mu.Lock()
		m.errs = append(m.errs, err)
		m.mu.Unlock()
	}
	return c
}

// Collector registers a collector of the stage's own making.
func (m *Metrics) Collector(c prometheus.Collector) prometheus.Collector { return add(m, c) }

// Counter returns a registered counter.
func (m *Metrics) Counter(opts prometheus.CounterOpts) prometheus.Counter {
	return add(m, prometheus.NewCounter(opts))
}

// CounterVec returns a registered counter vector.
func (m *Metrics) CounterVec(opts prometheus.CounterOpts, labels []string) *prometheus.CounterVec {
	return add(m, prometheus.NewCounterVec(opts, labels))
}

// Gauge returns a registered gauge.
func (m *Metrics) Gauge(opts prometheus.GaugeOpts) prometheus.Gauge {
	return add(m, prometheus.NewGauge(opts))
}

// GaugeVec returns a registered gauge vector.
func (m *Metrics) GaugeVec(opts prometheus.GaugeOpts, labels []string) *prometheus.GaugeVec {
	return add(m, prometheus.NewGaugeVec(opts, labels))
}

// Histogram returns a registered histogram.
func (m *Metrics) Histogram(opts prometheus.HistogramOpts) prometheus.Histogram {
	return add(m, prometheus.NewHistogram(opts))
}

// HistogramVec returns a registered histogram vector.
func (m *Metrics) HistogramVec(opts prometheus.HistogramOpts, labels []string) *prometheus.HistogramVec {
	return add(m, prometheus.NewHistogramVec(opts, labels))
}

// CounterFunc registers a counter read from f. A function registered before
// under the same description is replaced: it reads the state of an older
// build of the stage.
func (m *Metrics) CounterFunc(opts prometheus.CounterOpts, f func() float64) {
	m.replace(prometheus.NewCounterFunc(opts, f))
}

// GaugeFunc registers a gauge read from f, replacing an earlier one (see CounterFunc).
func (m *Metrics) GaugeFunc(opts prometheus.GaugeOpts, f func() float64) {
	m.replace(prometheus.NewGaugeFunc(opts, f))
}

func (m *Metrics) replace(c prometheus.Collector) {
	if m.reg == nil {
		return
	}
	err := m.reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		m.reg.Unregister(are.ExistingCollector)
		err = m.reg.Register(c)
	}
	if err != nil {
		m.mu.Lock()
		m.errs = append(m.errs, err)
		m.mu.Unlock()
	}
}
