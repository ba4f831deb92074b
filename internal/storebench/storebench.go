// Package storebench holds what the benchmarks of the stores (the ClickHouse
// and DuckDB sinks) share: outputs that hand a source's batches to a sink,
// the flows' times spread over a span, and the console's queries timed
// cold and warm.
package storebench

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// Output hands a source's batches to a sink's channel.
type Output chan<- *flow.Batch

// Send sends b on the channel, or releases it once ctx is done.
func (o Output) Send(ctx context.Context, b *flow.Batch) bool {
	select {
	case o <- b:
		return true
	case <-ctx.Done():
		b.Release()
		return false
	}
}

// Spread hands a source's batches to a sink's channel, giving the flows
// times spread evenly from Start over Span (N flows in all).
type Spread struct {
	Out   chan<- *flow.Batch
	Start time.Time
	Span  time.Duration
	N     int
	Fill  func(i int, r *flow.Record) // when set, sets more of flow i
	i     int
}

// Send gives the flows of b their times and sends it on.
func (o *Spread) Send(ctx context.Context, b *flow.Batch) bool {
	for j := range b.Records {
		r := &b.Records[j]
		t := o.Start.Add(time.Duration(int64(o.Span) / int64(o.N) * int64(o.i)))
		d := r.TimeFlowEnd.Sub(r.TimeFlowStart)
		r.TimeReceived, r.TimeFlowEnd, r.TimeFlowStart = t, t, t.Add(-d)
		if o.Fill != nil {
			o.Fill(o.i, r)
		}
		o.i++
	}
	return Output(o.Out).Send(ctx, b)
}

// Query is a query of the console, run through a store; it returns the
// table that answered.
type Query struct {
	Name string
	Run  func(ctx context.Context, st *store.Store) (string, error)
}

// Queries are the console's queries over [start, end): a top-10 time
// series by SrcAS (graph/line, 200 points), a sankey SrcAS → InIfProvider
// → DstCountry, and a top-10 by SrcAddr/24 (from the raw table).
func Queries(start, end time.Time) []Query {
	line := func(dims ...store.Dimension) func(context.Context, *store.Store) (string, error) {
		return func(ctx context.Context, st *store.Store) (string, error) {
			r, err := st.Line(ctx, store.Query{Start: start, End: end, Points: 200, Dimensions: dims, Limit: 10, Metric: store.MetricL3bps})
			if err != nil {
				return "", err
			}
			return r.Table, nil
		}
	}
	return []Query{
		{"line", line(store.Dimension{Column: "SrcAS"})},
		{"sankey", func(ctx context.Context, st *store.Store) (string, error) {
			r, err := st.Sankey(ctx, store.Query{Start: start, End: end, Points: 200,
				Dimensions: []store.Dimension{{Column: "SrcAS"}, {Column: "InIfProvider"}, {Column: "DstCountry"}}, Limit: 10, Metric: store.MetricL3bps})
			if err != nil {
				return "", err
			}
			return r.Table, nil
		}},
		{"srcaddr24", line(store.Dimension{Column: "SrcAddr", Truncate: 24})},
	}
}

// ColdWarm runs q once (cold: the caller emptied the store's caches) and
// five times more (warm: the best of them), reports both as
// <name>-cold-ms and <name>-warm-ms, and logs them after label.
func ColdWarm(b *testing.B, st *store.Store, q Query, label string) {
	b.Helper()
	ctx := context.Background()
	t0 := time.Now()
	table, err := q.Run(ctx, st)
	if err != nil {
		b.Fatalf("%s: %v", q.Name, err)
	}
	cold := time.Since(t0)
	warm := time.Duration(math.MaxInt64)
	for range 5 {
		t0 = time.Now()
		if _, err := q.Run(ctx, st); err != nil {
			b.Fatalf("%s: %v", q.Name, err)
		}
		warm = min(warm, time.Since(t0))
	}
	b.ReportMetric(float64(cold.Microseconds())/1000, q.Name+"-cold-ms")
	b.ReportMetric(float64(warm.Microseconds())/1000, q.Name+"-warm-ms")
	b.Logf("%s, %s over %s: cold %s, warm %s", label, q.Name, table, cold.Round(time.Millisecond), warm.Round(time.Millisecond))
}
