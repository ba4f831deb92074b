// Package blackhole provides sink "blackhole", which counts flows and discards
// them: the end of benchmark and test pipelines.
package blackhole

import (
	"context"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// Spec documents sink "blackhole".
var Spec = &dsl.Spec{Description: "Counts flows and discards them (benchmarks, tests)."}

func init() {
	engine.RegisterSink("blackhole", Spec, New)
}

// Sink discards flows.
type Sink struct {
	flows   atomic.Uint64
	batches atomic.Uint64
}

var _ engine.Sink = (*Sink)(nil)

// New builds the sink.
func New(_ *dsl.Config, env engine.Env) (*Sink, hcl.Diagnostics) {
	s := &Sink{}
	engine.NewMetrics(env.Metrics).CounterFunc(prometheus.CounterOpts{
		Name: "flowengine_blackhole_flows_total", Help: "Flows discarded by the blackhole sink.",
	}, func() float64 { return float64(s.flows.Load()) })
	return s, nil
}

// Concurrent lets the sink run several workers.
func (s *Sink) Concurrent() bool { return true }

// Flows returns the number of flows discarded so far.
func (s *Sink) Flows() uint64 { return s.flows.Load() }

// Run discards every batch.
func (s *Sink) Run(_ context.Context, in <-chan *flow.Batch) error {
	for b := range in {
		s.flows.Add(uint64(b.Len()))
		s.batches.Add(1)
		b.Release()
	}
	return nil
}
