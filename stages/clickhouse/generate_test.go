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
	"github.com/flowengine/flowengine/stages/generate"
)

// chanOutput hands a source's batches to a sink's channel.
type chanOutput chan<- *flow.Batch

func (o chanOutput) Send(ctx context.Context, b *flow.Batch) bool {
	select {
	case o <- b:
		return true
	case <-ctx.Done():
		b.Release()
		return false
	}
}

// BenchmarkGenerate is the pipeline `source "generate"` (as fast as
// possible) → `sink "clickhouse"` with the default consolidation (1m, 5m,
// 1h), rollups computed in the engine or by views on the server, and
// without consolidation for reference. It reports rows/s over the whole run
// (source, sink and server, on this machine) and the server's CPU per flow.
// FLOWENGINE_BENCH_FLOWS sets the number of flows per run (default 3M; each
// b.N iteration is one run).
func BenchmarkGenerate(b *testing.B) {
	count := 3000000
	if v, err := strconv.Atoi(os.Getenv("FLOWENGINE_BENCH_FLOWS")); err == nil && v > 0 {
		count = v
	}
	forEachServerB(b, func(b *testing.B, srv *chServer) {
		for _, mode := range []struct{ name, extra string }{
			{"consolidate_in=engine", `consolidate_in = "engine"`},
			{"consolidate_in=server", `consolidate_in = "server"`},
			{"consolidate=false", `consolidate = false`},
		} {
			b.Run(mode.name, func(b *testing.B) {
				db := testDB(b, srv)
				var elapsed, serverCPU, clientCPU time.Duration
				for range b.N {
					b.StopTimer()
					s, _ := newSink(b, srv, db, "batch_timeout = \"1s\"\nallow_destructive = true\n"+mode.extra)
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
					if err := src.Run(context.Background(), chanOutput(in)); err != nil {
						b.Fatal(err)
					}
					close(in)
					if err := <-errc; err != nil {
						b.Fatal(err)
					}
					elapsed += time.Since(start)
					serverCPU += srv.cpuTime() - cpu0
					clientCPU += processCPU() - client0
				}
				flows := float64(count * b.N)
				b.ReportMetric(flows/elapsed.Seconds(), "rows/s")
				b.ReportMetric(float64(elapsed.Nanoseconds())/flows, "ns/flow")
				b.ReportMetric(float64(serverCPU.Nanoseconds())/flows, "server-cpu-ns/flow")
				b.ReportMetric(float64(clientCPU.Nanoseconds())/flows, "client-cpu-ns/flow")
			})
		}
	})
}
