package clickhouse

import (
	"fmt"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/rollup"
)

// Rollups computed in the engine (consolidate_in = "engine"). Consecutive
// row buffers of flows form a group of up to rollup_batch_size flows; the
// flows of the group are aggregated per interval over the rollup columns
// (store/rollup), Bytes, Packets and Flows scaled by SamplingRate, and
// inserted into the flows_<interval> tables by the group's last buffer once
// its own flows are in, over the same native-protocol path. The batches of
// a group are released only when its flows and its rollups were inserted;
// the group closes early when the input idles for batch_timeout. The
// SummingMergeTree engine of the rollup tables adds up the partial sums of
// several groups, or of several sinks.
//
// Retries. A buffer remembers which of its inserts succeeded (the flows,
// then each rollup table in turn): a failed insert is retried alone, so an
// insert the server acknowledged is never sent again, and partial sums are
// not counted twice by the sink's own retries. On servers from 22.2, each
// rollup insert also carries an insert_deduplication_token (this sink's
// random instance, the number of the build, the table and the rows' range,
// the same on every retry) and the rollup tables remember their last
// blocks (non_replicated_deduplication_window): an INSERT the server
// committed but whose acknowledgement was lost (connection cut at that
// moment) is not added twice when it is retried. On older servers that
// case counts the rows twice in the rollups. What no store can tell apart
// is a process stopped between a buffer's inserts: its batches were not
// released, the source sends the flows again, and they are counted twice
// in the raw table and in the rollups already inserted.

// rollupGroup is consecutive flow buffers whose rollups are aggregated and
// inserted together, by the last one (the closer), after its flows: fewer,
// larger rollup inserts (each makes a part per table on the server). The
// batches of the members inserted before the closer are held until then.
type rollupGroup struct {
	st      *rollupState
	batches []*flow.Batch // of every member, to aggregate
	rows    int           // flows of the members
	closer  *rowBuffer    // nil while the group is open
	held    []*flow.Batch // batches of inserted members, released with the closer's
}

// rollupState holds the rollup rows of a group of row buffers and the
// progress of their inserts.
type rollupState struct {
	aggs    []*rollup.Aggregator // by consolidation
	cascade []bool               // aggs[i] is fed with the rows of aggs[i-1]
	tables  []*rowBuffer         // by consolidation: rollup columns, then Flows
	flows   []*colBuf            // the Flows column of each table
	sql     []string
	names   []string
	keys    []flow.Record // scratch

	seq       uint64 // number of the build, in deduplication tokens
	built     bool   // tables hold the rollup rows of the buffer's batches
	flowsDone bool   // the closer's flows are inserted
	done      int    // rollup tables inserted
}

// flowsColumn is the Flows column of rollup tables; it is not a column of
// the flow record, so the sink fills it itself.
var flowsColumn = flow.Column{Name: "Flows", Kind: flow.KindUint, Bits: 64, Description: "flows, scaled by SamplingRate"}

// newRollupState prepares the rollups of one row buffer, or returns nil
// when the sink computes none.
func (s *Sink) newRollupState() *rollupState {
	if s.cfg.consolidateIn != consolidateInEngine || len(s.cfg.consolidations) == 0 {
		return nil
	}
	cols := rollupColumns(s.columns)
	names := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		names = append(names, quote(c.Name))
	}
	names = append(names, quote(flowsColumn.Name))
	st := &rollupState{}
	var prev time.Duration
	for _, cn := range s.cfg.consolidations {
		st.aggs = append(st.aggs, rollup.New(cn.Interval))
		st.cascade = append(st.cascade, prev > 0 && cn.Interval%prev == 0)
		prev = cn.Interval
		rb := newRowBuffer(cols, s.feats)
		fc := &colBuf{col: flowsColumn}
		rb.cols = append(rb.cols, fc)
		st.tables = append(st.tables, rb)
		st.flows = append(st.flows, fc)
		name := consolidatedName(cn.Interval)
		st.names = append(st.names, name)
		st.sql = append(st.sql, fmt.Sprintf("INSERT INTO %s.%s (%s) VALUES", quote(s.cfg.database), quote(name), strings.Join(names, ", ")))
	}
	return st
}

// build aggregates the records of batches into the rollup tables' buffers.
func (st *rollupState) build(batches []*flow.Batch) {
	for i, a := range st.aggs {
		if st.cascade[i] {
			a.AddRows(st.aggs[i-1].Rows())
			continue
		}
		for _, b := range batches {
			a.Add(b.Records)
		}
	}
	for i, a := range st.aggs {
		rb, fc := st.tables[i], st.flows[i]
		rows := a.Rows()
		st.keys = st.keys[:0]
		fc.u64 = grow(fc.u64, len(rows))
		for j := range rows {
			st.keys = append(st.keys, rows[j].Key)
			fc.u64 = append(fc.u64, rows[j].Flows)
		}
		for _, cb := range rb.cols[:len(rb.cols)-1] {
			cb.append(st.keys)
		}
		rb.rows += len(rows)
	}
	clear(st.keys) // the keys' strings belong to the batches
	st.built = true
}

// reset forgets the rows and the progress, keeping the memory.
func (st *rollupState) reset() {
	if st == nil {
		return
	}
	for i, a := range st.aggs {
		a.Reset()
		st.tables[i].reset()
	}
	st.built, st.flowsDone, st.done = false, false, 0
}
