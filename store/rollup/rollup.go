// Package rollup aggregates flows into rollup rows: one row per interval and
// set of dimension values, with Bytes, Packets and Flows summed and already
// multiplied by SamplingRate. Both stores use it, so rollups are computed once,
// in the engine, whatever the store.
package rollup

import (
	"net/netip"
	"time"

	"github.com/flowengine/flowengine/flow"
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
//
// Rows are found in an open-addressing table keyed by a hash of the
// interval and the dimension columns only (hashDims), and told apart by
// comparing those columns (sameDims): a flow is neither copied nor hashed
// whole unless it starts a new row.
type Aggregator struct {
	interval time.Duration
	secs     int64
	slots    []slot // power of two long, at most half full
	rows     []Row
	hashes   []uint64 // of rows, to grow slots without hashing again
	strs     strCache
}

// slot is a row of the table: row+1 (0: empty) and its hash.
type slot struct {
	hash uint64
	row  int32
}

// New returns an aggregator over interval (a whole number of seconds).
func New(interval time.Duration) *Aggregator {
	return &Aggregator{interval: interval, secs: int64(interval / time.Second), slots: make([]slot, 1024)}
}

// Interval is the aggregator's interval.
func (a *Aggregator) Interval() time.Duration { return a.interval }

func (a *Aggregator) bucket(s int64) int64 {
	return s - ((s%a.secs)+a.secs)%a.secs
}

// Add aggregates records.
func (a *Aggregator) Add(recs []flow.Record) {
	for i := range recs {
		r := &recs[i]
		sr := r.SamplingRate
		if sr == 0 {
			sr = 1
		}
		b := a.bucket(r.TimeReceived.Unix())
		a.add(r, b, hashDims(r, b, &a.strs), r.Bytes*sr, r.Packets*sr, sr)
	}
}

// AddRows aggregates rows of a finer aggregator (whose interval divides this one's).
func (a *Aggregator) AddRows(rows []Row) {
	for i := range rows {
		r := &rows[i]
		b := a.bucket(r.Key.TimeReceived.Unix())
		a.add(&r.Key, b, hashDims(&r.Key, b, &a.strs), r.Key.Bytes, r.Key.Packets, r.Flows)
	}
}

// add adds the sums of r (a flow or a finer row) to the row of bucket b and
// r's dimensions, h being their hash.
func (a *Aggregator) add(r *flow.Record, b int64, h uint64, bytes, packets, flows uint64) {
	mask := uint64(len(a.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &a.slots[i]
		if sl.row == 0 {
			break
		}
		if sl.hash != h {
			continue
		}
		row := &a.rows[sl.row-1]
		if row.Key.TimeReceived.Unix() == b && sameDims(&row.Key, r) {
			row.Key.Bytes += bytes
			row.Key.Packets += packets
			row.Flows += flows
			return
		}
	}
	a.rows = append(a.rows, Row{Flows: flows})
	row := &a.rows[len(a.rows)-1]
	copyDimensions(&row.Key, r)
	row.Key.TimeReceived = time.Unix(b, 0).UTC()
	row.Key.Bytes, row.Key.Packets = bytes, packets
	a.hashes = append(a.hashes, h)
	if 2*len(a.rows) > len(a.slots) {
		a.grow()
		return
	}
	a.insert(h, int32(len(a.rows)))
}

func (a *Aggregator) insert(h uint64, row int32) {
	mask := uint64(len(a.slots) - 1)
	i := h & mask
	for a.slots[i].row != 0 {
		i = (i + 1) & mask
	}
	a.slots[i] = slot{hash: h, row: row}
}

// grow doubles the table and puts every row back.
func (a *Aggregator) grow() {
	a.slots = make([]slot, 2*len(a.slots))
	for i, h := range a.hashes {
		a.insert(h, int32(i+1))
	}
}

// Rows returns the rows aggregated since the last Reset, in the order their
// keys first appeared. The slice is reused after Reset.
func (a *Aggregator) Rows() []Row { return a.rows }

// Len is the number of rows.
func (a *Aggregator) Len() int { return len(a.rows) }

// Reset forgets every row, keeping the memory.
func (a *Aggregator) Reset() {
	clear(a.slots)
	clear(a.rows) // drop the strings
	a.rows = a.rows[:0]
	a.hashes = a.hashes[:0]
	a.strs.reset()
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
	dst.DstASPath, dst.DstCommunities, dst.DstLargeCommunities = flow.Uint32s{}, flow.Uint32s{}, flow.LargeCommunities{}
}
