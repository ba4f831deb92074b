package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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

// BenchmarkGenerate is the pipeline `source "generate"` (as fast as
// possible) → `sink "clickhouse"` with the default consolidation (1m, 5m,
// 1h), rollups computed in the engine or by views on the server, and
// without consolidation for reference. It reports rows/s over the whole run
// (source, sink and server, on this machine) and the server's CPU per flow.
// FLOWENGINE_BENCH_FLOWS sets the number of flows per run (default 3M; each
// b.N iteration is one run), FLOWENGINE_BENCH_SINK adds sink attributes.
func BenchmarkGenerate(b *testing.B) {
	count := 3000000
	if v, err := strconv.Atoi(os.Getenv("FLOWENGINE_BENCH_FLOWS")); err == nil && v > 0 {
		count = v
	}
	extra := os.Getenv("FLOWENGINE_BENCH_SINK") // more sink attributes
	forEachServerB(b, func(b *testing.B, srv *chServer) {
		for _, mode := range []struct{ name, extra string }{
			{"consolidate_in=engine", `consolidate_in = "engine"`},
			{"consolidate_in=server", `consolidate_in = "server"`},
			{"consolidate=false", `consolidate = false`},
		} {
			b.Run(mode.name, func(b *testing.B) {
				db := testDB(b, srv)
				var elapsed, serverCPU, clientCPU time.Duration
				var rollupRows float64
				for range b.N {
					b.StopTimer()
					s, reg := newSink(b, srv, db, "batch_timeout = \"1s\"\nallow_destructive = true\n"+extra+"\n"+mode.extra)
					s.log = slog.New(slog.DiscardHandler)
					provision(b, s)
					if err := srv.client(b).Exec(context.Background(), "TRUNCATE TABLE "+db+".flows"); err != nil {
						b.Fatal(err)
					}
					cfg, diags := dsl.DecodeString(fmt.Sprintf("count = %d\nrate = 0", count), generate.Spec)
					if diags.HasErrors() {
						b.Fatal(diags)
					}
					src, diags := generate.New(cfg, engine.Env{})
					if diags.HasErrors() {
						b.Fatal(diags)
					}
					in := make(chan *flow.Batch, 64)
					b.StartTimer()
					start, cpu0, client0 := time.Now(), srv.cpuTime(), processCPU()
					errc := runSink(b, s, in)
					if err := src.Run(context.Background(), storebench.Output(in)); err != nil {
						b.Fatal(err)
					}
					close(in)
					if err := <-errc; err != nil {
						b.Fatal(err)
					}
					elapsed += time.Since(start)
					serverCPU += srv.cpuTime() - cpu0
					clientCPU += processCPU() - client0
					rollupRows += counter(b, reg, "flowengine_clickhouse_rollup_rows_inserted_total")
				}
				flows := float64(count * b.N)
				b.ReportMetric(flows/elapsed.Seconds(), "rows/s")
				b.ReportMetric(float64(elapsed.Nanoseconds())/flows, "ns/flow")
				b.ReportMetric(float64(serverCPU.Nanoseconds())/flows, "server-cpu-ns/flow")
				b.ReportMetric(float64(clientCPU.Nanoseconds())/flows, "client-cpu-ns/flow")
				b.ReportMetric(rollupRows/flows, "rollup-rows/flow")
			})
		}
	})
}

// BenchmarkQuery24h stores generated flows spread over 24 hours (10M, or
// FLOWENGINE_BENCH_FLOWS), then times the console's queries over the 24
// hours through the store: a top-10 time series by SrcAS (graph/line, 200
// points) and a sankey SrcAS → InIfProvider → DstCountry. Cold is the first
// run after the server's caches were dropped, warm the best of the next
// five runs.
func BenchmarkQuery24h(b *testing.B) {
	count := 10000000
	if v, err := strconv.Atoi(os.Getenv("FLOWENGINE_BENCH_FLOWS")); err == nil && v > 0 {
		count = v
	}
	forEachServerB(b, func(b *testing.B, srv *chServer) {
		db := testDB(b, srv)
		s, _ := newSink(b, srv, db, "batch_timeout = \"1s\"\n"+os.Getenv("FLOWENGINE_BENCH_SINK"))
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
		errc := runSink(b, s, in)
		if err := src.Run(context.Background(), &storebench.Spread{Out: in, Start: start, Span: 24 * time.Hour, N: count}); err != nil {
			b.Fatal(err)
		}
		close(in)
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		b.Logf("ClickHouse %s: %d flows stored in %s", srv.Version, count, time.Since(loadStart).Round(time.Millisecond))
		st := store.New(s)
		st.Now = func() time.Time { return end }
		ctx := context.Background()
		conn := srv.client(b)
		b.ResetTimer()
		for range b.N {
			for _, q := range storebench.Queries(start, end)[:2] { // line, sankey
				for _, stmt := range []string{"SYSTEM DROP MARK CACHE", "SYSTEM DROP UNCOMPRESSED CACHE"} {
					if err := conn.Exec(ctx, stmt); err != nil {
						b.Logf("%s: %v", stmt, err)
					}
				}
				storebench.ColdWarm(b, st, q, "ClickHouse "+srv.Version)
			}
		}
	})
}
