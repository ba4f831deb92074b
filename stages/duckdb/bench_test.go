package duckdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
// batch_size flows. b.N is a number of flows. $FLOWENGINE_BENCH_CONFIG adds
// settings to the sink's block (e.g. "threads = 1"); each case runs with
// empty text stored as NULL (empty=null, emptyAsNull) and as "" (empty=text,
// as before), in the same run. $FLOWENGINE_BENCH_FLUSH sets
// flushRows, $FLOWENGINE_BENCH_SQL is run before inserting (e.g. "SET GLOBAL
// disabled_compression_methods = 'fsst'"). The /lists case gives flows AS
// paths and communities, the /named case names as the default pipeline's
// enrichers set them (generated flows have no text).
func BenchmarkInsert(b *testing.B) {
	defer func(old bool) { emptyAsNull = old }(emptyAsNull)
	if n, err := strconv.Atoi(os.Getenv("FLOWENGINE_BENCH_FLUSH")); err == nil {
		defer func(old int) { flushRows = old }(flushRows)
		flushRows = n
	}
	type benchCase struct {
		size, concurrency  int
		lists, named, null bool
	}
	var cases []benchCase
	for _, bc := range []benchCase{{122880, 1, false, false, false}, {122880, 2, false, false, false}, {491520, 2, false, false, false},
		{122880, 2, true, false, false}, {122880, 2, false, true, false}} {
		for _, null := range []bool{false, true} {
			bc.null = null
			cases = append(cases, bc)
		}
	}
	for _, bc := range cases {
		name := fmt.Sprintf("batch=%d/concurrency=%d", bc.size, bc.concurrency)
		if bc.lists {
			name += "/lists"
		}
		if bc.named {
			name += "/named"
		}
		name += map[bool]string{false: "/empty=text", true: "/empty=null"}[bc.null]
		b.Run(name, func(b *testing.B) {
			emptyAsNull = bc.null
			s, _ := newSink(b, filepath.Join(b.TempDir(), "flows.duckdb"),
				fmt.Sprintf("batch_size = %d\ninsert_concurrency = %d\nbatch_timeout = \"10s\"\n%s", bc.size, bc.concurrency, os.Getenv("FLOWENGINE_BENCH_CONFIG")))
			provision(b, s)
			if q := os.Getenv("FLOWENGINE_BENCH_SQL"); q != "" {
				if _, err := s.mustDB(b).Exec(q); err != nil {
					b.Fatal(err)
				}
			}
			batches := generated(b, 100)
			for _, bt := range batches {
				bt.Retain(1 << 30)
				if bc.lists {
					setLists(bt.Records)
				}
				if bc.named {
					setNames(bt.Records)
				}
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

// setNames fills the text columns the default pipeline's enrichers fill
// (exporter and interface names, descriptions, connectivity and provider of
// transit interfaces, countries), leaving the others empty.
func setNames(recs []flow.Record) {
	pick := func(vals []string, i int) string { return vals[i%len(vals)] }
	var ifNames, descs []string
	for i := range 16 {
		ifNames = append(ifNames, fmt.Sprintf("et-0/0/%d", i))
		descs = append(descs, fmt.Sprintf("transit: provider%d circuit %d", i%3, 1000+i))
	}
	names := []string{"edge1.par", "edge2.par", "edge1.nyc"}
	countries := []string{"FR", "US", "DE", "NL", "GB", ""}
	for i := range recs {
		r := &recs[i]
		r.ExporterName = pick(names, int(r.ExporterAddress.As16()[15]))
		r.InIfName, r.OutIfName = pick(ifNames, int(r.InIfIndex)), pick(ifNames, int(r.OutIfIndex))
		r.InIfDescription, r.OutIfDescription = pick(descs, int(r.InIfIndex)), pick(descs, int(r.OutIfIndex))
		if r.InIfIndex%4 == 0 {
			r.InIfConnectivity, r.InIfProvider = "transit", fmt.Sprintf("provider%d", r.InIfIndex%3)
		}
		r.SrcCountry, r.DstCountry = pick(countries, i*7), pick(countries, i*11)
	}
}

// setLists gives flows BGP attributes as the routing enricher does: a few
// distinct AS paths (2 to 6 ASes), communities (0 to 4) and large
// communities (0 or 1), each list built once and shared.
func setLists(recs []flow.Record) {
	var paths, comms []flow.Uint32s
	var large []flow.LargeCommunities
	for i := range 64 {
		var p, c []uint32
		for j := range 2 + i%5 {
			p = append(p, uint32(64500+i*7+j))
		}
		for j := range i % 5 {
			c = append(c, uint32(65000+j)<<16|uint32(i))
		}
		paths = append(paths, flow.MakeUint32s(p))
		comms = append(comms, flow.MakeUint32s(c))
		var l []flow.LargeCommunity
		if i%2 == 0 {
			l = append(l, flow.LargeCommunity{ASN: 4200000000 + uint32(i), Local1: 1, Local2: uint32(i)})
		}
		large = append(large, flow.MakeLargeCommunities(l))
	}
	for i := range recs {
		k := (i * 13) % 64
		recs[i].DstASPath, recs[i].DstCommunities, recs[i].DstLargeCommunities = paths[k], comms[k], large[k]
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
	plain := recs
	withLists := append([]flow.Record(nil), recs...)
	setLists(withLists)
	for _, mode := range []string{"columns", "rows", "columns/lists", "rows/lists"} {
		recs := plain
		if strings.HasSuffix(mode, "/lists") {
			recs = withLists
		}
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				a.reset()
				if strings.HasPrefix(mode, "columns") {
					if err := a.addRecords(recs); err != nil {
						b.Fatal(err)
					}
				} else {
					for j := range recs {
						a.add(&recs[j], 0)
					}
				}
			}
			a.reset()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/flow")
		})
	}
}
