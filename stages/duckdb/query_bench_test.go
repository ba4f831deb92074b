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
	"github.com/flowengine/flowengine/internal/storebench"
	"github.com/flowengine/flowengine/stages/generate"
	"github.com/flowengine/flowengine/store"
)

// loadDay stores count generated flows spread over the 24 hours from start
// in a new file at path, fill setting more of each flow, then compacts the
// rollups as they are once the day is over.
func loadDay(b testing.TB, path string, count int, start time.Time, fill func(i int, r *flow.Record)) *Sink {
	b.Helper()
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
	end := start.Add(24 * time.Hour)
	in := make(chan *flow.Batch, 64)
	loadStart := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background(), in) }()
	if err := src.Run(context.Background(), &storebench.Spread{Out: in, Start: start, Span: 24 * time.Hour, N: count, Fill: fill}); err != nil {
		b.Fatal(err)
	}
	close(in)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
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
	return s
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
	end := time.Now().UTC().Truncate(time.Hour)
	start := end.Add(-24 * time.Hour)
	s := loadDay(b, path, count, start, nil)
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

// plainText is the dialect as it was before empty text was stored as NULL:
// text columns read, grouped and compared as stored.
type plainText struct{ Dialect }

func (d plainText) Dimension(c flow.Column, truncate int) (string, []any) {
	if c.Kind == flow.KindString {
		return quote(c.Name), nil
	}
	return d.Dialect.Dimension(c, truncate)
}

func (d plainText) Key(c flow.Column, truncate int) (string, []any) {
	if c.Kind == flow.KindString {
		return quote(c.Name), nil
	}
	return d.Dialect.Key(c, truncate)
}

func (d plainText) Compare(c flow.Column, op string, v any) (string, []any, error) {
	s, ok := v.(string)
	if c.Kind != flow.KindString || !ok {
		return d.Dialect.Compare(c, op, v)
	}
	col := quote(c.Name)
	switch op {
	case "LIKE", "ILIKE":
		return col + " " + op + ` ? ESCAPE '\'`, []any{s}, nil
	case "UNLIKE":
		return col + ` NOT LIKE ? ESCAPE '\'`, []any{s}, nil
	case "IUNLIKE":
		return col + ` NOT ILIKE ? ESCAPE '\'`, []any{s}, nil
	}
	return fmt.Sprintf("%s %s ?", col, sqlOps[op]), []any{s}, nil
}

// withDialect is a sink queried through another dialect.
type withDialect struct {
	*Sink
	d store.Dialect
}

func (w withDialect) Dialect() store.Dialect { return w.d }

// BenchmarkTextQuery measures what reading NULL text as "" costs the
// queries of the raw table: flows spread over 24 hours (2M, or
// FLOWENGINE_BENCH_FLOWS) with a few text columns set (exporter and
// interface names, a provider on a third of them, the rest empty), stored
// in two files, with empty text as "" and as NULL. The queries group by
// text columns and filter on them (values and the empty text), each timed
// warm as the best of seven runs, the variants taking turns: "before" is
// the file with "" read through the dialect reading text as stored
// (plainText), "after" the file with NULL through this package's dialect,
// "oldfile" the file with "" through this package's dialect. Each is
// reported in wall time (-ms) and in the process's CPU time (-cpu-ms, the
// steadier on a busy machine).
func BenchmarkTextQuery(b *testing.B) {
	count := 2000000
	if v, err := strconv.Atoi(os.Getenv("FLOWENGINE_BENCH_FLOWS")); err == nil && v > 0 {
		count = v
	}
	defer func(old bool) { emptyAsNull = old }(emptyAsNull)
	names := []string{"edge1", "edge2", "edge3", "core1"}
	var ifNames []string
	for i := range 16 {
		ifNames = append(ifNames, fmt.Sprintf("et-0/0/%d", i))
	}
	providers := []string{"", "", "", "", "cogent", "level3"}
	fill := func(i int, r *flow.Record) {
		r.ExporterName = names[r.ExporterAddress.As16()[15]%4]
		r.InIfName = ifNames[r.InIfIndex%16]
		r.InIfProvider = providers[i%6]
	}
	end := time.Now().UTC().Truncate(time.Hour)
	start := end.Add(-24 * time.Hour)
	ctx := context.Background()
	q := func(filter string, dims ...string) store.Query {
		var ds []store.Dimension
		for _, d := range dims {
			ds = append(ds, store.Dimension{Column: d})
		}
		return store.Query{Start: start, End: end, Points: 200, Dimensions: ds, Limit: 10, Metric: store.MetricL3bps, Filter: filter}
	}
	queries := []struct {
		name string
		q    store.Query
	}{
		// DstPort keeps the queries on the raw table.
		{"group", q("", "DstPort", "ExporterName", "InIfProvider")},
		{"filter", q("ExporterName = 'edge2' AND InIfName != 'et-0/0/3'", "DstPort")},
		{"empty", q("InIfProvider = '' AND SrcCountry = ''", "DstPort")},
		{"in", q("InIfProvider NOT IN ('', 'cogent') OR ExporterName IN ('edge2', 'core1')", "DstPort")},
		{"like", q("InIfName LIKE 'et-0/0/1%' AND InIfProvider UNLIKE 'c%'", "DstPort")},
	}
	files := map[bool]*Sink{}
	for _, null := range []bool{false, true} {
		emptyAsNull = null
		files[null] = loadDay(b, filepath.Join(b.TempDir(), "flows.duckdb"), count, start, fill)
		defer files[null].Close()
	}
	variants := []struct {
		name string
		st   *store.Store
	}{
		{"before", store.New(withDialect{files[false], plainText{}})},
		{"after", store.New(files[true])},
		{"oldfile", store.New(files[false])},
	}
	for _, v := range variants {
		v.st.Now = func() time.Time { return end }
	}
	b.ResetTimer()
	for range b.N {
		for _, qq := range queries {
			best := make([]time.Duration, len(variants))
			bestCPU := make([]time.Duration, len(variants))
			var answer string
			for i, v := range variants {
				best[i], bestCPU[i] = time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
				r, err := v.st.Table(ctx, qq.q)
				if err != nil {
					b.Fatalf("%s: %v", qq.name, err)
				}
				if r.Table != flowsTable {
					b.Fatalf("%s read %s", qq.name, r.Table)
				}
				if js := fmt.Sprint(r.Rows); i == 0 {
					answer = js
				} else if js != answer {
					b.Fatalf("%s, %s: %s, before: %s", qq.name, v.name, js, answer)
				}
			}
			for range 7 {
				for i, v := range variants {
					t0, cpu := time.Now(), processCPU()
					if _, err := v.st.Table(ctx, qq.q); err != nil {
						b.Fatal(err)
					}
					best[i] = min(best[i], time.Since(t0))
					bestCPU[i] = min(bestCPU[i], processCPU()-cpu)
				}
			}
			for i, v := range variants {
				b.ReportMetric(float64(best[i].Microseconds())/1000, qq.name+"-"+v.name+"-ms")
				b.ReportMetric(float64(bestCPU[i].Microseconds())/1000, qq.name+"-"+v.name+"-cpu-ms")
			}
		}
	}
}
