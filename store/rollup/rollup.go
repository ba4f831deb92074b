// Package rollup aggregates flows into rollup rows: one row per interval and
// set of dimension values, with Bytes, Packets and Flows summed and already
// multiplied by SamplingRate. Both stores use it, so rollups are computed once,
// in the engine, whatever the store.
package rollup

import (
	"net/netip"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// Row is one rollup row. Key holds TimeReceived (the start of the interval)
// and the dimension columns (store.RollupColumns); its other fields are zero,
// Bytes and Packets are the scaled sums, and Flows is the scaled flow count.
type Row struct {
	Key   flow.Record
	Flows uint64
}

// Aggregator sums flows over one interval. It is not safe for concurrent use.
// Feed it records with Add, or the rows of a finer aggregator with AddRows
// (1m rows make 5m rows cheaply), then read Rows and Reset.
type Aggregator struct {
	interval time.Duration
	secs     int64
	index    map[flow.Record]int32
	rows     []Row
	copyDims func(dst, src *flow.Record)
}

// New returns an aggregator over interval (a whole number of seconds).
func New(interval time.Duration) *Aggregator {
	return &Aggregator{interval: interval, secs: int64(interval / time.Second), index: map[flow.Record]int32{}, copyDims: copyDimensions}
}

// Interval is the aggregator's interval.
func (a *Aggregator) Interval() time.Duration { return a.interval }

func (a *Aggregator) bucket(t time.Time) time.Time {
	s := t.Unix()
	s -= ((s % a.secs) + a.secs) % a.secs
	return time.Unix(s, 0).UTC()
}

// Add aggregates records.
func (a *Aggregator) Add(recs []flow.Record) {
	var key flow.Record
	for i := range recs {
		r := &recs[i]
		a.copyDims(&key, r)
		key.TimeReceived = a.bucket(r.TimeReceived)
		sr := r.SamplingRate
		if sr == 0 {
			sr = 1
		}
		a.add(&key, r.Bytes*sr, r.Packets*sr, sr)
	}
}

// AddRows aggregates rows of a finer aggregator (whose interval divides this one's).
func (a *Aggregator) AddRows(rows []Row) {
	var key flow.Record
	for i := range rows {
		r := &rows[i]
		key = r.Key
		key.Bytes, key.Packets = 0, 0
		key.TimeReceived = a.bucket(r.Key.TimeReceived)
		a.add(&key, r.Key.Bytes, r.Key.Packets, r.Flows)
	}
}

func (a *Aggregator) add(key *flow.Record, bytes, packets, flows uint64) {
	if j, ok := a.index[*key]; ok {
		row := &a.rows[j]
		row.Key.Bytes += bytes
		row.Key.Packets += packets
		row.Flows += flows
		return
	}
	a.index[*key] = int32(len(a.rows))
	row := Row{Key: *key, Flows: flows}
	row.Key.Bytes, row.Key.Packets = bytes, packets
	a.rows = append(a.rows, row)
}

// Rows returns the rows aggregated since the last Reset, in the order their
// keys first appeared. The slice is reused after Reset.
func (a *Aggregator) Rows() []Row { return a.rows }

// Len is the number of rows.
func (a *Aggregator) Len() int { return len(a.rows) }

// Reset forgets every row, keeping the memory.
func (a *Aggregator) Reset() {
	clear(a.index)
	a.rows = a.rows[:0]
}

// Set is the usual cascade of rollups: each interval aggregates the rows of
// the previous one, so only the finest reads every flow.
type Set struct {
	Aggs []*Aggregator // finest first
}

// NewSet returns aggregators for intervals, finest first; each interval must
// be a multiple of the previous one.
func NewSet(intervals ...time.Duration) *Set {
	s := &Set{}
	for _, iv := range intervals {
		s.Aggs = append(s.Aggs, New(iv))
	}
	return s
}

// Add aggregates records into every interval.
func (s *Set) Add(recs []flow.Record) {
	if len(s.Aggs) == 0 {
		return
	}
	s.Aggs[0].Add(recs)
}

// Finish cascades the finest rows into the coarser aggregators; call it once
// after the last Add of a batch, before reading Rows.
func (s *Set) Finish() {
	for i := 1; i < len(s.Aggs); i++ {
		s.Aggs[i].AddRows(s.Aggs[i-1].rows)
	}
}

// Reset resets every aggregator.
func (s *Set) Reset() {
	for _, a := range s.Aggs {
		a.Reset()
	}
}

// Columns are the rollup columns, for stores writing rows.
func Columns() []flow.Column { return store.RollupColumns() }

// copyDimensions copies the rollup columns of src but TimeReceived, Bytes and
// Packets into dst and zeroes the others (TestCopyDimensions checks it against
// store.RollupColumns).
func copyDimensions(dst, src *flow.Record) {
	*dst = *src
	dst.TimeReceived = time.Time{}
	dst.TimeFlowStart = time.Time{}
	dst.TimeFlowEnd = time.Time{}
	dst.SamplingRate = 0
	dst.SrcAddr = netip.Addr{}
	dst.DstAddr = netip.Addr{}
	dst.SrcNetMask, dst.DstNetMask = 0, 0
	dst.SrcMAC, dst.DstMAC = 0, 0
	dst.SrcPort, dst.DstPort = 0, 0
	dst.TCPFlags, dst.IPTos, dst.IPTTL = 0, 0, 0
	dst.Bytes, dst.Packets = 0, 0
}
