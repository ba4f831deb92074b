package engine

import (
	"cmp"
	"slices"
	"time"
)

// ExporterStats is what a source knows of one exporter (a router or switch
// sending it flows), as /api/v0/pipeline shows it under the source.
type ExporterStats struct {
	Address  string `json:"address"`
	Name     string `json:"name,omitempty"`     // when the source knows it
	Protocol string `json:"protocol,omitempty"` // of the last packet: netflow5, netflow9, ipfix, sflow5
	Packets  uint64 `json:"packets"`            // packets (sFlow: datagrams) received
	Flows    uint64 `json:"flows"`              // flows decoded
	// DecodeErrors counts the packets, sets or datagrams dropped as malformed.
	DecodeErrors uint64 `json:"decode_errors"`
	// Templates is the number of NetFlow v9/IPFIX templates known.
	Templates int `json:"templates"`
	// SamplingRates are the rates given to the exporter's recent flows,
	// ascending (several when it has several samplers); empty when the
	// exporter announced none (its flows are kept with rate 1).
	SamplingRates []uint64  `json:"sampling_rates"`
	LastSeen      time.Time `json:"last_seen"`
}

// ExporterStatser is implemented by sources that keep per-exporter state
// (NetFlow, sFlow). ExporterStats is called by the API while the source
// runs: it must not wait on the decoding (read counters, not locks held
// while batches are handed on).
type ExporterStatser interface {
	ExporterStats() []ExporterStats
}

// MaxExporterStats bounds the exporters listed per source in
// PipelineStats, the most active (by packets) first: a flood of spoofed
// addresses must not make every poll of the API megabytes long.
const MaxExporterStats = 200

// topExporters sorts list by packets (then address) and keeps the first
// MaxExporterStats.
func topExporters(list []ExporterStats) []ExporterStats {
	slices.SortFunc(list, func(a, b ExporterStats) int {
		if c := cmp.Compare(b.Packets, a.Packets); c != 0 {
			return c
		}
		return cmp.Compare(a.Address, b.Address)
	})
	if len(list) > MaxExporterStats {
		list = list[:MaxExporterStats]
	}
	for i := range list {
		if list[i].SamplingRates == nil {
			list[i].SamplingRates = []uint64{}
		}
	}
	return list
}
