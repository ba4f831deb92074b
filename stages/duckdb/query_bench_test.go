package duckdb

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/stages/generate"
	"github.com/flowengine/flowengine/store"
)

// spreadOutput hands generated batches on with their times spread evenly
// over span from start.
type spreadOutput struct {
	out   chan<- *flow.Batch
	start time.Time
	span  time.Duration
	n, i  int
}

func (o *spreadOutput) Send(ctx context.Context, b *flow.Batch) bool {
	for j := range b.Records {
		r := &b.Records[j]
		t := o.start.Add(time.Duration(int64(o.span) / int64(o.n) * int64(o.i)))
		d := r.TimeFlowEnd.Sub(r.TimeFlowStart)
		r.TimeReceived, r.TimeFlowEnd, r.TimeFlowStart = t, t, t.Add(-d)
		o.i++
	}
	select {
	case o.out <- b:
		return true
	case <-ctx.Done():
		b.Release()
		return false
	}
}

// BenchmarkQuery24h stores generated flows spread over 24 hours (10M, or
// FLOWENGINE_BENCH_FLOWS), then times the console's queries over the 24
// hours through the store: a top-10 time series by SrcAS (graph/line, 200
// points) and a sankey SrcAS → InIfProvider → DstCountry, and a top-10 by
// SrcAddr/24 from the raw table. Cold is the first run after the database
// was opened again (DuckDB's buffers empty), warm the best of the next five.
func BenchmarkQuery24h(b *testing.B) {
	count := 10000000
	if v, err := strconv.Atoi(os.Getenv("FLOWENGINE_BENCH_FLOWS")); err == nil && v > 0 {
		count = v
	}
	path := filepath.Join(b.TempDir(), "flows.duckdb")
	s, _ := newSink(b, path, "batch_timeout = \"1s\"")
	s.log = slog.New(slog.DiscardHandler)
	provision(b, s)
	cfg, diags := dsl.DecodeString(fmt.Sprintf("count = %d\nrate = 0", count), generate.Spec)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	src, diags := generate.New(cfg, engine.Env{})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	end := time.Now().UTC().Truncate(time.Hour)
	start := end.Add(-24 * time.Hour)
	in := make(chan *flow.Batch, 64)
	loadStart := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background(), in) }()
	if err := src.Run(context.Background(), &spreadOutput{out: in, start: start, span: 24 * time.Hour, n: count}); err != nil {
		b.Fatal(err)
	}
	close(in)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	// Rollups as compaction leaves them once the day is over.
	var c compactor
	c.done = map[string]time.Time{}
	for _, t := range s.tables {
		c.done[t.Name] = start.Add(-time.Hour)
	}
	if err := s.compact(context.Background(), s.mustDB(b), &c, end.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(loadStart)
	st, _ := os.Stat(path)
	b.Logf("%d flows stored in %s (%.0f flows/s), file %d MiB", count, loaded.Round(time.Millisecond), float64(count)/loaded.Seconds(), st.Size()>>20)
	ctx := context.Background()
	queries := []struct {
		name string
		run  func(st *store.Store) (string, error)
	}{
		{"line", func(st *store.Store) (string, error) {
			r, err := st.Line(ctx, store.Query{Start: start, End: end, Points: 200, Dimensions: []store.Dimension{{Column: "SrcAS"}}, Limit: 10, Metric: store.MetricL3bps})
			if err != nil {
				return "", err
			}
			return r.Table, nil
		}},
		{"sankey", func(st *store.Store) (string, error) {
			r, err := st.Sankey(ctx, store.Query{Start: start, End: end, Points: 200,
				Dimensions: []store.Dimension{{Column: "SrcAS"}, {Column: "InIfProvider"}, {Column: "DstCountry"}}, Limit: 10, Metric: store.MetricL3bps})
			if err != nil {
				return "", err
			}
			return r.Table, nil
		}},
		{"srcaddr24", func(st *store.Store) (string, error) {
			r, err := st.Line(ctx, store.Query{Start: start, End: end, Points: 200, Dimensions: []store.Dimension{{Column: "SrcAddr", Truncate: 24}}, Limit: 10, Metric: store.MetricL3bps})
			if err != nil {
				return "", err
			}
			return r.Table, nil
		}},
	}
	b.ResetTimer()
	for range b.N {
		for _, q := range queries {
			s.Close()
			s, _ = newSink(b, path, "")
			st := store.New(s)
			st.Now = func() time.Time { return end }
			t0 := time.Now()
			table, err := q.run(st)
			if err != nil {
				b.Fatalf("%s: %v", q.name, err)
			}
			cold := time.Since(t0)
			warm := time.Duration(math.MaxInt64)
			for range 5 {
				t0 = time.Now()
				if _, err := q.run(st); err != nil {
					b.Fatal(err)
				}
				warm = min(warm, time.Since(t0))
			}
			b.ReportMetric(float64(cold.Microseconds())/1000, q.name+"-cold-ms")
			b.ReportMetric(float64(warm.Microseconds())/1000, q.name+"-warm-ms")
			b.Logf("DuckDB, %s over %s: cold %s, warm %s", q.name, table, cold.Round(time.Millisecond), warm.Round(time.Millisecond))
		}
	}
}
