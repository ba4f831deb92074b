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
	var report []string
	for _, name := range stores {
		t.Run(name, func(t *testing.T) {
			var b benchStore
			switch {
			case name == "duckdb":
				b = &duckStore{path: filepath.Join(t.TempDir(), "flows.duckdb")}
			case strings.HasPrefix(name, "clickhouse-"):
				b = &chStore{srv: testenv.SharedClickHouse(t, strings.TrimPrefix(name, "clickhouse-"))}
			default:
				t.Fatalf("unknown store %q", name)
			}
			report = append(report, runQueryBench(t, b, name, count, asnDB, ccDB)...)
		})
	}
	out := "\nstore              query        table          cold      warm (median of 5)\n" + strings.Join(report, "\n") + "\n"
	t.Log(out)
	fmt.Print(out)
}

// benchStore is one store under measurement.
type benchStore interface {
	sinkHCL() string
	// backend returns the store after the load, given the loaded sink.
	backend(t *testing.T, loaded store.Backend) store.Backend
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
	return fmt.Sprintf("sink \"duckdb\" \"bench\" {\n  input = enricher.geoip.geo\n  path  = %q\n}\n", d.path)
}

func (d *duckStore) backend(t *testing.T, loaded store.Backend) store.Backend {
	d.sink = loaded.(*duckdb.Sink)
	return d.sink
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
	return fmt.Sprintf("sink \"clickhouse\" \"bench\" {\n  input    = enricher.geoip.geo\n  servers  = [%q]\n  database = %q\n}\n", c.srv.Addr, c.db)
}

func (c *chStore) backend(t *testing.T, loaded store.Backend) store.Backend {
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
	return loaded
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

// runQueryBench loads count flows into b and measures the queries; it
// returns the lines of the report.
func runQueryBench(t *testing.T, b benchStore, name string, count int, asnDB, ccDB string) []string {
	src := benchSource(count, asnDB, ccDB, b.sinkHCL())
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
	var loaded store.Backend
	for _, n := range g.Nodes {
		if be, ok := n.Impl.(store.Backend); ok {
			loaded = be
			if c, ok := n.Impl.(io.Closer); ok {
				t.Cleanup(func() { c.Close() })
			}
		}
	}
	began := time.Now()
	if err := engine.NewRuntime(g).Run(ctx); err != nil {
		t.Fatal(err)
	}
	load := time.Since(began)
	lines := []string{fmt.Sprintf("%-18s load         %-14s %8.1fs  %.0f flows/s (%d flows, generate → metadata → classifier → geoip → sink)",
		name, "", load.Seconds(), float64(count)/load.Seconds(), count)}
	b.backend(t, loaded)

	end := time.Now().UTC()
	start := end.Add(-24 * time.Hour)
	line := store.Query{Start: start, End: end, Points: 200, Dimensions: []store.Dimension{{Column: "SrcAS"}},
		Limit: 10, Metric: store.MetricL3bps}
	sankey := store.Query{Start: start, End: end, Points: 200,
		Dimensions: []store.Dimension{{Column: "SrcAS"}, {Column: "InIfProvider"}, {Column: "DstCountry"}},
		Limit: 10, Metric: store.MetricL3bps}
	// Raw: 2000 points over 24 h is a 44 s step, finer than every rollup.
	rawLine, rawSankey := line, sankey
	rawLine.Points, rawSankey.Points = 2000, 2000
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
	} {
		st := store.New(b.cold(t))
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
	}
	return lines
}
