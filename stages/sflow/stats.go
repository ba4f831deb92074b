package sflow

import (
	"sync/atomic"
	"time"

	"github.com/flowengine/flowengine/engine"
)

var _ engine.ExporterStatser = (*Source)(nil)

// exporterStats are an exporter's counters for the API, beside its metric
// series (the exporters beyond max_exporter_labels share "other").
type exporterStats struct {
	address   string
	datagrams atomic.Uint64
	flows     atomic.Uint64
	errors    atomic.Uint64
	rate      atomic.Uint64 // of the last flow sample
	seen      atomic.Int64  // unix ns of the last datagram
}

// ExporterStats returns the agents that sent datagrams: datagrams, flows,
// malformed datagrams and the sampling rate of the last flow sample of
// each. The agents beyond max_exporter_labels are added up under the
// address "other".
func (s *Source) ExporterStats() []engine.ExporterStats {
	m := s.metrics
	m.mu.Lock()
	list := make([]*exporterMetrics, 0, len(m.exporters)+1)
	for _, em := range m.exporters {
		list = append(list, em)
	}
	m.mu.Unlock()
	list = append(list, m.other)
	out := make([]engine.ExporterStats, 0, len(list))
	for _, em := range list {
		st := &em.st
		n := st.datagrams.Load()
		if n == 0 {
			continue
		}
		x := engine.ExporterStats{Address: st.address, Protocol: "sflow5", Packets: n, Flows: st.flows.Load(),
			DecodeErrors: st.errors.Load(), SamplingRates: []uint64{}}
		if r := st.rate.Load(); r != 0 {
			x.SamplingRates = append(x.SamplingRates, r)
		}
		if ns := st.seen.Load(); ns != 0 {
			x.LastSeen = time.Unix(0, ns).UTC()
		}
		out = append(out, x)
	}
	return out
}
