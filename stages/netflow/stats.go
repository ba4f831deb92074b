package netflow

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/flowengine/flowengine/engine"
)

var _ engine.ExporterStatser = (*Source)(nil)

// maxRates is how many distinct sampling rates an exporter's stats keep.
const maxRates = 4

// exporterStats are an exporter's counters for the API: atomics written
// while decoding (under the exporter's lock) and read without it, since the
// decoding may wait, lock held, for the pipeline to take a batch.
type exporterStats struct {
	packets   atomic.Uint64
	flows     atomic.Uint64
	errors    atomic.Uint64
	templates atomic.Int64
	version   atomic.Uint32
	rates     [maxRates]atomic.Uint64 // distinct rates given to flows lately, 0 unused
	lastRate  uint64                  // the rate given to the last flow (under the exporter's lock)
	nextRate  int                     // the slot a new rate takes when all are used (under the lock)
}

// rate notes the rate given to a flow: the rates of recent flows are kept,
// the oldest replaced when more than maxRates come. The caller skips it
// when r is lastRate, so that repeated rates cost a comparison.
func (s *exporterStats) rate(r uint64) {
	s.lastRate = r
	for i := range s.rates {
		if s.rates[i].Load() == r {
			return
		}
	}
	for i := range s.rates {
		if s.rates[i].Load() == 0 {
			s.rates[i].Store(r)
			return
		}
	}
	s.rates[s.nextRate].Store(r)
	s.nextRate = (s.nextRate + 1) % maxRates
}

var protocols = map[uint32]string{5: "netflow5", 9: "netflow9", 10: "ipfix"}

// ExporterStats returns what the decoder knows of each exporter it keeps.
func (d *Decoder) ExporterStats() []engine.ExporterStats {
	d.mu.RLock()
	list := make([]*exporter, 0, len(d.exporters))
	for _, e := range d.exporters {
		list = append(list, e)
	}
	d.mu.RUnlock()
	out := make([]engine.ExporterStats, 0, len(list))
	for _, e := range list {
		st := &e.st
		x := engine.ExporterStats{
			Address:      e.addr.String(),
			Protocol:     protocols[st.version.Load()],
			Packets:      st.packets.Load(),
			Flows:        st.flows.Load(),
			DecodeErrors: st.errors.Load(),
			Templates:    int(st.templates.Load()),
		}
		if ns := e.seen.Load(); ns != 0 {
			x.LastSeen = time.Unix(0, ns).UTC()
		}
		for i := range st.rates {
			if r := st.rates[i].Load(); r != 0 && !slices.Contains(x.SamplingRates, r) {
				x.SamplingRates = append(x.SamplingRates, r)
			}
		}
		slices.Sort(x.SamplingRates)
		out = append(out, x)
	}
	return out
}

// ExporterStats returns the source's exporters: packets, flows, decode
// errors, templates and sampling rates of each.
func (s *Source) ExporterStats() []engine.ExporterStats { return s.dec.ExporterStats() }
