package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/internal/testenv"
	_ "github.com/flowengine/flowengine/stages/all"
	"github.com/flowengine/flowengine/stages/duckdb"
	"github.com/flowengine/flowengine/store"
)

// TestQuery24h measures the console's two main queries over a day of
// generated flows, in each store: a 24 h top-10 time series by SrcAS and a
// sankey SrcAS → InIfProvider → DstCountry, cold (the first run after the
// load, with the store's caches dropped) and warm (median of 5), from the
// rollups the store picks and forced onto the raw flows table (a step under
// one minute). The flows come from real stages: generate (backfill over
// 24 h) → metadata (interface descriptions) → classifier "interface"
// (providers) → geoip (AS numbers and countries) → the store's sink.
//
// It runs only with FLOWENGINE_BENCH_QUERY set (make bench-query);
// FLOWENGINE_BENCH_FLOWS sets the number of flows (default 10M),
// FLOWENGINE_BENCH_STORES the stores (default
// "duckdb,clickhouse-18.16,clickhouse-26.7").
func TestQuery24h(t *testing.T) {
	if os.Getenv("FLOWENGINE_BENCH_QUERY") == "" {
		t.Skip("a benchmark: set FLOWENGINE_BENCH_QUERY=1 (make bench-query)")
	}
	count := 10_000_000
	if v := os.Getenv("FLOWENGINE_BENCH_FLOWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FLOWENGINE_BENCH_FLOWS=%q: want a number of flows", v)
		}
		count = n
	}
	stores := []string{"duckdb", "clickhouse-" + testenv.ClickHouse18, "clickhouse-" + testenv.ClickHouse26}
	if v := os.Getenv("FLOWENGINE_BENCH_STORES"); v != "" {
		stores = strings.Split(v, ",")
	}
	dir := t.TempDir()
	asnDB, ccDB := writeGeoIP(t, dir)
	var bs []benchStore
	for _, name := range stores {
		switch {
		case name == "duckdb":
			// FLOWENGINE_BENCH_KEEP keeps the DuckDB file there.
			keep := os.Getenv("FLOWENGINE_BENCH_KEEP")
			if keep == "" {
				keep = dir
			}
			bs = append(bs, &duckStore{path: filepath.Join(keep, "flows.duckdb")})
		case strings.HasPrefix(name, "clickhouse-"):
			bs = append(bs, &chStore{srv: testenv.SharedClickHouse(t, strings.TrimPrefix(name, "clickhouse-"))})
		default:
			t.Fatalf("unknown store %q", name)
		}
	}
	report := loadStores(t, bs, stores, count, asnDB, ccDB)
	for i, name := range stores {
		t.Run(name, func(t *testing.T) {
			report = append(report, runQueries(t, bs[i], name)...)
		})
	}
	out := "\nstore              query        table          cold      warm (median of 5)\n" + strings.Join(report, "\n") + "\n"
	t.Log(out)
	fmt.Print(out)
}

// benchStore is one store under measurement.
type benchStore interface {
	sinkHCL() string
	sinkName() string
	// backend takes the sink the load filled.
	backend(t *testing.T, loaded store.Backend)
	// cold drops the store's caches (or reopens it) before a cold run.
	cold(t *testing.T) store.Backend
}

// duckStore is DuckDB: cold is a new database handle on the file (the
// process's buffers gone, the OS page cache kept).
type duckStore struct {
	path string
	sink *duckdb.Sink
}

func (d *duckStore) sinkHCL() string {
	return fmt.Sprintf("sink \"duckdb\" \"bench_duckdb\" {\n  input = enricher.geoip.geo\n  path  = %q\n}\n", d.path)
}

func (d *duckStore) sinkName() string { return "bench_duckdb" }

func (d *duckStore) backend(t *testing.T, loaded store.Backend) {
	d.sink = loaded.(*duckdb.Sink)
}

func (d *duckStore) cold(t *testing.T) store.Backend {
	if err := d.sink.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, diags := dsl.DecodeString(fmt.Sprintf("path = %q\n", d.path), duckdb.Spec)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	s, diags := duckdb.New(cfg, benchEnv("duckdb"))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	t.Cleanup(func() { s.Close() })
	d.sink = s
	return s
}

// chStore is a ClickHouse server: cold drops the mark and uncompressed
// caches (and the query cache where the server has one); the OS page cache
// is kept.
type chStore struct {
	srv  *testenv.ClickHouseServer
	db   string
	conn clickhouse.Conn
	be   store.Backend
}

func (c *chStore) sinkHCL() string {
	c.db = "bench_query"
	return fmt.Sprintf("sink \"clickhouse\" %q {\n  input    = enricher.geoip.geo\n  servers  = [%q]\n  database = %q\n}\n",
		c.sinkName(), c.srv.Addr, c.db)
}

func (c *chStore) sinkName() string {
	return "bench_ch" + strings.ReplaceAll(c.srv.Version, ".", "_")
}

func (c *chStore) backend(t *testing.T, loaded store.Backend) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{c.srv.Addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+c.db)
		conn.Close()
	})
	c.conn, c.be = conn, loaded
	// Let background merges of the load settle, as they would a while
	// after it, so that the queries do not race them.
	ctx := context.Background()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.merges WHERE database = ?", c.db).Scan(&n); err != nil || n == 0 {
			break
		}
	}
	var parts uint64
	_ = conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.parts WHERE database = ? AND table = 'flows' AND active", c.db).Scan(&parts)
	t.Logf("%s: flows has %d active parts", c.srv.Version, parts)
}

func (c *chStore) cold(t *testing.T) store.Backend {
	ctx := context.Background()
	for _, q := range []string{"SYSTEM DROP MARK CACHE", "SYSTEM DROP UNCOMPRESSED CACHE"} {
		if err := c.conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range []string{"SYSTEM DROP QUERY CACHE", "SYSTEM DROP PAGE CACHE", "SYSTEM DROP PRIMARY INDEX CACHE"} {
		_ = c.conn.Exec(ctx, q) // not on every version
	}
	return c.be
}

func benchEnv(typ string) engine.Env {
	return engine.Env{ID: engine.ID{Kind: engine.KindSink, Type: typ, Name: "bench"}, Metrics: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// benchPipeline is the pipeline of the load: %[1]d flows, %[2]s the
// prefixes, %[3]s the exporters' blocks, %[4]q/%[5]q the GeoIP databases,
// %[6]s the sink.
const benchPipeline = `
source "generate" "g" {
  rate         = 0
  count        = %[1]d
  backfill     = "24h"
  exporters    = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
  interfaces   = 8
  hosts        = 5000
  src_prefixes = [%[2]s]
  dst_prefixes = [%[2]s]
}

enricher "metadata" "ifaces" {
  input = source.generate.g
%[3]s}

classifier "interface" "providers" {
  input = enricher.metadata.ifaces
  rule {
    when         = imatch("^(transit|pni|ix) *:", interface.description)
    boundary     = "external"
    connectivity = lower(regexcapture("^(\\w+)", interface.description, 1))
    provider     = lower(regexcapture(":\\s*(\\S+)", interface.description, 1))
  }
  rule {
    boundary = "internal"
  }
}

enricher "geoip" "geo" {
  input            = classifier.interface.providers
  asn_database     = %[4]q
  country_database = %[5]q
  asn_source       = "geoip"
}

%[6]s`

// benchDescriptions are the interface descriptions, rotated per exporter so
// that each has its own most used provider.
var benchDescriptions = []string{"Transit: Cogent", "Transit: Lumen", "PNI: Google", "IX: FranceIX",
	"PNI: Netflix", "Core: spine1", "IX: AMS-IX", "Core: spine2"}

func benchSource(count int, asnDB, ccDB, sink string) string {
	var prefixes []string
	for _, n := range geoNets {
		prefixes = append(prefixes, strconv.Quote(n.prefix.String()))
	}
	var exporters strings.Builder
	for e := range 4 {
		fmt.Fprintf(&exporters, "  exporter \"192.0.2.%d\" {\n    name = \"edge%d\"\n", e+1, e+1)
		for i := range benchDescriptions {
			fmt.Fprintf(&exporters, "    interface \"%d\" {\n      name        = \"et-0/0/%d\"\n      description = %q\n      speed       = 100000\n    }\n",
				i+1, i, benchDescriptions[(i+e)%len(benchDescriptions)])
		}
		exporters.WriteString("  }\n")
	}
	return fmt.Sprintf(benchPipeline, count, strings.Join(prefixes, ", "), exporters.String(), asnDB, ccDB, sink)
}

// loadStores loads count flows into every store at once, from one
// pipeline whose last enricher feeds a sink per store, and returns the lines
// of the report: the whole load, and when each sink had committed its last
// flow.
func loadStores(t *testing.T, bs []benchStore, names []string, count int, asnDB, ccDB string) []string {
	var sinks strings.Builder
	for _, b := range bs {
		sinks.WriteString(b.sinkHCL())
	}
	src := benchSource(count, asnDB, ccDB, sinks.String())
	p, diags := dsl.Load([]string{"bench.hcl"}, map[string][]byte{"bench.hcl": []byte(src)}, dsl.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	g, diags := engine.Compile(p, engine.CompileOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx := context.Background()
	if err := g.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	loaded := map[string]store.Backend{}
	for _, n := range g.Nodes {
		if be, ok := n.Impl.(store.Backend); ok {
			loaded[n.ID.Name] = be
			if c, ok := n.Impl.(io.Closer); ok {
				t.Cleanup(func() { c.Close() })
			}
		}
	}
	// When each sink has committed every flow, from its rows counter.
	done := map[string]time.Duration{}
	stop := make(chan struct{})
	polled := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(polled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mfs, _ := g.Metrics.Gather()
			for _, mf := range mfs {
				if n := mf.GetName(); n != "flowengine_duckdb_rows_inserted_total" && n != "flowengine_clickhouse_rows_inserted_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					if m.GetCounter().GetValue() < float64(count) {
						continue
					}
					for _, l := range m.GetLabel() {
						v := l.GetValue() // the stage: sink.type.name
						name := v[strings.LastIndexByte(v, '.')+1:]
						if _, ok := done[name]; !ok && l.GetName() == "stage" && loaded[name] != nil {
							done[name] = time.Since(began)
						}
					}
				}
			}
		}
	}()
	err := engine.NewRuntime(g).Run(ctx)
	load := time.Since(began)
	close(stop)
	<-polled
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{fmt.Sprintf("%-18s %-12s %-14s %8.1fs  %.0f flows/s (%d flows into %d stores at once)",
		"all", "load", "", load.Seconds(), float64(count)/load.Seconds(), count, len(bs))}
	for i, b := range bs {
		be := loaded[b.sinkName()]
		if be == nil {
			t.Fatalf("no sink %s in the pipeline", b.sinkName())
		}
		b.backend(t, be)
		d, ok := done[b.sinkName()]
		if !ok {
			lines = append(lines, fmt.Sprintf("%-18s %-12s (no rows counter seen)", names[i], "load"))
			continue
		}
		lines = append(lines, fmt.Sprintf("%-18s %-12s %-14s %8.1fs  %.0f flows/s (last flow committed)",
			names[i], "load", "", d.Seconds(), float64(count)/d.Seconds()))
	}
	return lines
}

// runQueries measures the queries on a loaded store and returns the lines of
// the report.
func runQueries(t *testing.T, b benchStore, name string) []string {
	ctx := context.Background()
	var lines []string
	end := time.Now().UTC()
	start := end.Add(-24 * time.Hour)
	line := store.Query{Start: start, End: end, Points: 200, Dimensions: []store.Dimension{{Column: "SrcAS"}},
		Limit: 10, Metric: store.MetricL3bps}
	sankey := store.Query{Start: start, End: end, Points: 200,
		Dimensions: []store.Dimension{{Column: "SrcAS"}, {Column: "InIfProvider"}, {Column: "DstCountry"}},
		Limit:      10, Metric: store.MetricL3bps}
	// Raw: 2000 points over 24 h is a 44 s step, finer than every rollup.
	rawLine, rawSankey := line, sankey
	rawLine.Points, rawSankey.Points = 2000, 2000
	// Raw by a dimension only the flows table has: addresses.
	addrLine := line
	addrLine.Dimensions = []store.Dimension{{Column: "SrcAddr"}}
	addrSankey := sankey
	addrSankey.Dimensions = []store.Dimension{{Column: "SrcAddr", Truncate: 24}, {Column: "DstAddr", Truncate: 24}}
	type run func(ctx context.Context, st *store.Store) (table string, n int, err error)
	lineRun := func(q store.Query) run {
		return func(ctx context.Context, st *store.Store) (string, int, error) {
			r, err := st.Line(ctx, q)
			if err != nil {
				return "", 0, err
			}
			return r.Table, len(r.Series), nil
		}
	}
	sankeyRun := func(q store.Query) run {
		return func(ctx context.Context, st *store.Store) (string, int, error) {
			r, err := st.Sankey(ctx, q)
			if err != nil {
				return "", 0, err
			}
			return r.Table, len(r.Rows), nil
		}
	}
	for _, c := range []struct {
		name string
		run  run
	}{
		{"line", lineRun(line)},
		{"sankey", sankeyRun(sankey)},
		{"line raw", lineRun(rawLine)},
		{"sankey raw", sankeyRun(rawSankey)},
		{"line addr", lineRun(addrLine)},
		{"sankey addr", sankeyRun(addrSankey)},
	} {
		rec := &recorder{Backend: b.cold(t)}
		st := store.New(rec)
		began := time.Now()
		table, n, err := c.run(ctx, st)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cold := time.Since(began)
		var warm []time.Duration
		for range 5 {
			began := time.Now()
			if _, _, err := c.run(ctx, st); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			warm = append(warm, time.Since(began))
		}
		slices.Sort(warm)
		if n < 2 {
			t.Errorf("%s: %d series or rows, want several (AS numbers missing?)", c.name, n)
		}
		lines = append(lines, fmt.Sprintf("%-18s %-12s %-14s %8.3fs %8.3fs  (%d series/rows; warm %s..%s)",
			name, c.name, table, cold.Seconds(), warm[2].Seconds(), n, warm[0].Round(time.Millisecond), warm[4].Round(time.Millisecond)))
		t.Log(lines[len(lines)-1])
		if os.Getenv("FLOWENGINE_BENCH_EXPLAIN") != "" {
			explain(t, rec, name+" "+c.name)
		}
	}
	return lines
}

// recorder is a store.Backend that times each SQL query it runs.
type recorder struct {
	store.Backend
	mu    sync.Mutex
	calls []sqlCall
}

type sqlCall struct {
	sql  string
	args []any
	took time.Duration
}

func (r *recorder) Query(ctx context.Context, sql string, args ...any) (store.Rows, error) {
	began := time.Now()
	rows, err := r.Backend.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return &timedRows{Rows: rows, done: func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, sqlCall{sql, args, time.Since(began)})
	}}, nil
}

// timedRows reports when its rows are read and closed.
type timedRows struct {
	store.Rows
	done func()
	once sync.Once
}

func (r *timedRows) Close() error {
	r.once.Do(r.done)
	return r.Rows.Close()
}

// explain logs the SQL of the first run of a query (the cold one) with the
// time of each statement, and the store's profile of each (EXPLAIN ANALYZE
// on DuckDB, EXPLAIN on ClickHouse).
func explain(t *testing.T, r *recorder, what string) {
	r.mu.Lock()
	calls := slices.Clone(r.calls)
	r.mu.Unlock()
	seen := map[string]bool{}
	for _, c := range calls {
		if seen[c.sql] {
			continue
		}
		seen[c.sql] = true
		t.Logf("%s: %s\n  %s\n  args %v", what, c.took.Round(time.Millisecond), c.sql, c.args)
		prefix, ncols := "EXPLAIN ANALYZE ", 2 // explain_key, explain_value
		if r.Dialect().Name() != "duckdb" {
			prefix, ncols = "EXPLAIN ", 1
		}
		rows, err := r.Backend.Query(context.Background(), prefix+c.sql, c.args...)
		if err != nil {
			t.Logf("explain: %v", err)
			continue
		}
		var out strings.Builder
		for rows.Next() {
			vals := make([]string, ncols)
			ptrs := make([]any, ncols)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Logf("explain: %v", err)
				break
			}
			for _, v := range vals {
				fmt.Fprintf(&out, "%v\n", v)
			}
		}
		rows.Close()
		t.Logf("%s%s\n%s", prefix, what, out.String())
	}
}
