package engine

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descIn       = prometheus.NewDesc("flowengine_stage_flows_in_total", "Flows accepted into the stage's input.", []string{"stage"}, nil)
	descOut      = prometheus.NewDesc("flowengine_stage_flows_out_total", "Flows the stage passed on.", []string{"stage"}, nil)
	descDropped  = prometheus.NewDesc("flowengine_stage_flows_dropped_total", "Flows dropped at the stage's input (full with when_full = \"drop\", or left at the shutdown deadline).", []string{"stage"}, nil)
	descErrors   = prometheus.NewDesc("flowengine_stage_errors_total", "Stage failures.", []string{"stage"}, nil)
	descRestarts = prometheus.NewDesc("flowengine_stage_restarts_total", "Stage restarts after a failure.", []string{"stage"}, nil)
	descDepth    = prometheus.NewDesc("flowengine_stage_queue_depth", "Batches waiting in the stage's input channel.", []string{"stage"}, nil)
	descCapacity = prometheus.NewDesc("flowengine_stage_queue_capacity", "Capacity of the stage's input channel, in batches.", []string{"stage"}, nil)
)

// stageCollector exports the runtime's own counters, so the API and the
// metrics read the same numbers.
type stageCollector struct{ r *Runtime }

func (c *stageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIn, descOut, descDropped, descErrors, descRestarts, descDepth, descCapacity} {
		ch <- d
	}
}

func (c *stageCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.stages {
		id := s.node.ID.String()
		ch <- prometheus.MustNewConstMetric(descIn, prometheus.CounterValue, float64(s.flowsIn.Load()), id)
		ch <- prometheus.MustNewConstMetric(descOut, prometheus.CounterValue, float64(s.flowsOut.Load()), id)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.dropped.Load()), id)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.errors.Load()), id)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(s.restarts.Load()), id)
		if s.in != nil {
			ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(len(s.in)), id)
			ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(cap(s.in)), id)
		}
	}
}

// StageStats is the live state of one stage, as /api/v0/pipeline shows it.
type StageStats struct {
	ID            string   `json:"id"`
	Kind          Kind     `json:"kind"`
	Type          string   `json:"type"`
	Name          string   `json:"name"`
	Inputs        []string `json:"inputs"`
	Outputs       []string `json:"outputs"`
	Workers       int      `json:"workers"`
	WhenFull      string   `json:"when_full"`
	State         string   `json:"state"`
	FlowsIn       uint64   `json:"flows_in"`
	FlowsOut      uint64   `json:"flows_out"`
	FlowsDropped  uint64   `json:"flows_dropped"`
	Errors        uint64   `json:"errors"`
	Restarts      uint64   `json:"restarts"`
	QueueDepth    int      `json:"queue_depth"`
	QueueCapacity int      `json:"queue_capacity"`
	// Exporters are the source's exporters (ExporterStatser), the most
	// active MaxExporterStats; ExportersTotal counts them all.
	Exporters      []ExporterStats `json:"exporters"`
	ExportersTotal int             `json:"exporters_total,omitempty"`
	// Details is what a stage implementing Detailer says of its state
	// (the BMP routers and peers of enricher "bmp", say).
	Details any `json:"details,omitempty"`
}

// Detailer is implemented by stages with live state worth showing in the
// pipeline API. Details is called from the API's goroutine: it must be safe
// to call while the stage runs, and return a value encoding/json encodes.
type Detailer interface {
	Details() any
}

// PipelineStats is the compiled graph with live counters.
type PipelineStats struct {
	Uptime string       `json:"uptime"`
	Stages []StageStats `json:"stages"`
}

// Stats returns the live per-stage counters in topological order.
func (r *Runtime) Stats() PipelineStats {
	out := PipelineStats{Uptime: time.Since(r.started).Round(time.Second).String()}
	for _, s := range r.stages {
		n := s.node
		st := StageStats{ID: n.ID.String(), Kind: n.ID.Kind, Type: n.ID.Type, Name: n.ID.Name,
			Inputs: []string{}, Outputs: []string{}, Workers: n.Workers, WhenFull: n.WhenFull,
			State: s.state.Load().(string), FlowsIn: s.flowsIn.Load(), FlowsOut: s.flowsOut.Load(),
			FlowsDropped: s.dropped.Load(), Errors: s.errors.Load(), Restarts: s.restarts.Load()}
		for _, in := range n.Inputs {
			st.Inputs = append(st.Inputs, in.ID.String())
		}
		for _, o := range n.Outputs {
			st.Outputs = append(st.Outputs, o.ID.String())
		}
		if s.in != nil {
			st.QueueDepth, st.QueueCapacity = len(s.in), cap(s.in)
		}
		if d, ok := n.Impl.(Detailer); ok {
			st.Details = d.Details()
		}
		if es, ok := n.Impl.(ExporterStatser); ok {
			list := es.ExporterStats()
			st.ExportersTotal = len(list)
			st.Exporters = topExporters(list)
		}
		out.Stages = append(out.Stages, st)
	}
	return out
}
