package duckdb

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/storebench"
	"github.com/flowengine/flowengine/stages/generate"
	"github.com/flowengine/flowengine/store"
)

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
	if err := src.Run(context.Background(), &storebench.Spread{Out: in, Start: start, Span: 24 * time.Hour, N: count}); err != nil {
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
	b.ResetTimer()
	for range b.N {
		for _, q := range storebench.Queries(start, end) {
			s.Close() // cold: DuckDB's buffers empty
			s, _ = newSink(b, path, "")
			st := store.New(s)
			st.Now = func() time.Time { return end }
			storebench.ColdWarm(b, st, q, "DuckDB")
		}
	}
}
