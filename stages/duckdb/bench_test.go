package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/stages/generate"
)

// generated returns n batches of flows from source "generate" (defaults).
func generated(t testing.TB, n int) []*flow.Batch {
	t.Helper()
	cfg, diags := dsl.DecodeString(fmt.Sprintf("rate = 0\ncount = %d", n*flow.BatchSize), generate.Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	src, diags := generate.New(cfg, engine.Env{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var out []*flow.Batch
	err := src.Run(context.Background(), engine.OutputFunc(func(_ context.Context, b *flow.Batch) bool {
		out = append(out, b)
		return true
	}))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkInsert measures the sink alone: prepared batches of generated
// flows (reused), appended with their rollups, one transaction per
// batch_size flows. b.N is a number of flows.
func BenchmarkInsert(b *testing.B) {
	for _, bc := range []struct{ size, concurrency int }{{122880, 1}, {122880, 2}, {491520, 2}} {
		b.Run(fmt.Sprintf("batch=%d/concurrency=%d", bc.size, bc.concurrency), func(b *testing.B) {
			s, _ := newSink(b, filepath.Join(b.TempDir(), "flows.duckdb"),
				fmt.Sprintf("batch_size = %d\ninsert_concurrency = %d\nbatch_timeout = \"10s\"", bc.size, bc.concurrency))
			provision(b, s)
			batches := generated(b, 100)
			for _, bt := range batches {
				bt.Retain(1 << 30)
			}
			in := make(chan *flow.Batch, 16)
			errc := make(chan error, 1)
			go func() { errc <- s.Run(context.Background(), in) }()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			start := time.Now()
			sent := 0
			for sent < b.N {
				bt := batches[(sent/flow.BatchSize)%len(batches)]
				in <- bt
				sent += len(bt.Records)
			}
			close(in)
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(sent), "ns/flow")
			b.ReportMetric(float64(sent)/elapsed.Seconds(), "flows/s")
			b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(sent), "cpu-ns/flow")
			b.ReportMetric(float64(maxRSS())/(1<<20), "maxrss-MiB")
		})
	}
}

// processCPU is the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSS is the peak resident memory of the process, in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// BenchmarkFill measures the Go side of appending: filling a data chunk's
// vectors from flows (no DuckDB work), column by column or row by row.
func BenchmarkFill(b *testing.B) {
	s, _ := newSink(b, filepath.Join(b.TempDir(), "flows.duckdb"), "")
	provision(b, s)
	db := s.mustDB(b)
	w, err := newWriter(context.Background(), db, s.tables)
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	a := w.flows
	var recs []flow.Record
	for _, bt := range generated(b, 2) {
		recs = append(recs, bt.Records...)
	}
	recs = recs[:a.size]
	for i := range recs {
		recs[i].InIfName = []string{"et-0/0/1", "et-0/0/2", "xe-1/2/3.100"}[i%3]
		recs[i].InIfDescription = "transit: provider A, circuit 1234"
	}
	for _, mode := range []string{"columns", "rows"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				a.n = 0
				if mode == "columns" {
					if err := a.addRecords(recs); err != nil {
						b.Fatal(err)
					}
				} else {
					for j := range recs {
						a.add(&recs[j], 0)
					}
				}
			}
			a.n = 0
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/flow")
		})
	}
}
