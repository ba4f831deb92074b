package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/stages/generate"
	"github.com/flowengine/flowengine/store"
)

// TestPipeline runs source "generate" into sink "duckdb" in the engine's
// runtime, after provisioning, and checks that every flow is in flows and
// that each rollup holds exactly the same sums.
func TestPipeline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "flows.duckdb")
	const count, rate = 50000, 100
	src := fmt.Sprintf(`
source "generate" "g" {
  count         = %d
  rate          = 0
  sampling_rate = %d
}
sink "duckdb" "local" {
  input         = source.generate.g
  path          = %q
  batch_size    = 7000
  batch_timeout = "50ms"
}
`, count, rate, path)
	reg := engine.NewRegistry()
	reg.RegisterSource("generate", generate.Spec, engine.AsSource(generate.New))
	reg.RegisterSink("duckdb", Spec, engine.AsSink(New))
	p, diags := dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(src)}, dsl.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	g, diags := engine.Compile(p, engine.CompileOptions{Registry: reg})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx := context.Background()
	if err := g.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := engine.NewRuntime(g).Run(ctx); err != nil {
		t.Fatal(err)
	}
	var s *Sink
	for _, n := range g.Nodes {
		if sk, ok := n.Impl.(*Sink); ok {
			s = sk
		}
	}
	defer s.Close()
	db := s.mustDB(t)
	if n := query[int64](t, db, "SELECT count(*) FROM flows"); n != count {
		t.Errorf("flows: %d rows, want %d", n, count)
	}
	raw := query[string](t, db, `SELECT CAST(SUM("Bytes" * "SamplingRate") AS VARCHAR) || '/' || CAST(SUM("Packets" * "SamplingRate") AS VARCHAR) || '/' || CAST(SUM("SamplingRate") AS VARCHAR) FROM flows`)
	if want := fmt.Sprintf("/%d", count*rate); len(raw) < len(want) || raw[len(raw)-len(want):] != want {
		t.Errorf("flows sums %s, want %d flows", raw, count*rate)
	}
	for _, iv := range rollupIntervals {
		table := store.RollupName(iv)
		got := query[string](t, db, fmt.Sprintf(`SELECT CAST(SUM("Bytes") AS VARCHAR) || '/' || CAST(SUM("Packets") AS VARCHAR) || '/' || CAST(SUM("Flows") AS VARCHAR) FROM %s`, quote(table)))
		if got != raw {
			t.Errorf("%s sums %s, flows %s", table, got, raw)
		}
		if n := query[int64](t, db, fmt.Sprintf(`SELECT count(*) FROM %s WHERE epoch_us("TimeReceived") %% ? != 0`, quote(table)), iv.Microseconds()); n != 0 {
			t.Errorf("%s: %d rows not aligned on %s", table, n, iv)
		}
	}
	// The store answers while a second run inserts.
	plan, err := s.Plan(ctx)
	if err != nil || len(plan.Changes) != 0 {
		t.Errorf("plan after run: %v %v", plan, err)
	}
}

// TestFailedInsertRetried: a failing transaction (a rollup table gone) is
// counted and retried; its batches are released only once it committed, and
// nothing of it is visible before.
func TestFailedInsertRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, reg := newSink(t, path, "retry_backoff = \"20ms\"\nretry_max_backoff = \"50ms\"\nbatch_size = 1000")
	provision(t, s)
	db := s.mustDB(t)
	if _, err := db.Exec("DROP TABLE flows_1h0m0s"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := make(chan *flow.Batch, 4)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, in) }()
	var done atomic.Int64
	feed(ctx, in, 0, 3000, 500, time.Now(), &done)
	deadline := time.Now().Add(10 * time.Second)
	for counter(t, reg, "flowengine_duckdb_insert_errors_total") < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no failed insert counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if done.Load() != 0 {
		t.Errorf("%d flows released before their insert succeeded", done.Load())
	}
	if n := query[int64](t, db, "SELECT count(*) FROM flows"); n != 0 {
		t.Errorf("%d flows visible from failed transactions", n)
	}
	for _, ts := range s.tables {
		if ts.Name == "flows_1h0m0s" {
			if _, err := db.Exec(createTable(ts)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(in)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if done.Load() != 3000 {
		t.Errorf("%d flows released, want 3000", done.Load())
	}
	if n := query[int64](t, db, "SELECT count(*) FROM flows"); n != 3000 {
		t.Errorf("%d flows stored, want 3000", n)
	}
	if n := query[int64](t, db, `SELECT CAST(SUM("Flows") AS BIGINT) FROM flows_1h0m0s`); n != query[int64](t, db, `SELECT CAST(SUM("SamplingRate") AS BIGINT) FROM flows`) {
		t.Errorf("flows_1h0m0s counts %d flows", n)
	}
}

// TestSavedFilters stores, replaces, lists and deletes saved filters.
func TestSavedFilters(t *testing.T) {
	s, _ := newSink(t, filepath.Join(t.TempDir(), "flows.duckdb"), "")
	provision(t, s)
	ctx := context.Background()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, f := range []store.SavedFilter{
		{Name: "web", Filter: "DstPort IN (80, 443)", Updated: at},
		{Name: "quotes", Filter: `ExporterName = 'it''s'; DROP TABLE flows; --`, Description: "d", Updated: at},
		{Name: "web", Filter: "DstPort = 443", Description: "https", Updated: at},
	} {
		if err := s.SaveFilter(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SavedFilters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.SavedFilter{
		{Name: "quotes", Filter: `ExporterName = 'it''s'; DROP TABLE flows; --`, Description: "d", Updated: at},
		{Name: "web", Filter: "DstPort = 443", Description: "https", Updated: at},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("saved filters %v, want %v", got, want)
	}
	if err := s.DeleteFilter(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFilter(ctx, "missing"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SavedFilters(ctx); len(got) != 1 || got[0].Name != "quotes" {
		t.Errorf("after delete: %v", got)
	}
}

// TestRunAgainAfterFailure: a Run that gives up (max_retries) keeps its
// batches; the next Run inserts them first and releases them in order.
func TestRunAgainAfterFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, _ := newSink(t, path, "retry_backoff = \"10ms\"\nmax_retries = 1\nbatch_size = 1000")
	provision(t, s)
	db := s.mustDB(t)
	if _, err := db.Exec("DROP TABLE flows_5m0s"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var done atomic.Int64
	var order []int
	in := make(chan *flow.Batch, 8)
	for i := 0; i < 4; i++ {
		b := flow.NewBatch()
		for j := 0; j < 500; j++ {
			*b.Append() = record(i*500+j, time.Now())
		}
		b.OnDone(func() { order = append(order, i); done.Add(500) })
		in <- b
	}
	close(in)
	if err := s.Run(ctx, in); err == nil || !strings.Contains(err.Error(), "failed 2 times") {
		t.Fatalf("run: %v", err)
	}
	if done.Load() != 0 {
		t.Fatalf("%d flows released by a failed run", done.Load())
	}
	for _, ts := range s.tables {
		if ts.Name == "flows_5m0s" {
			if _, err := db.Exec(createTable(ts)); err != nil {
				t.Fatal(err)
			}
		}
	}
	again := make(chan *flow.Batch)
	close(again)
	if err := s.Run(ctx, again); err != nil {
		t.Fatal(err)
	}
	if done.Load() != 2000 || fmt.Sprint(order) != "[0 1 2 3]" {
		t.Errorf("released %d flows in order %v", done.Load(), order)
	}
	if n := query[int64](t, s.mustDB(t), "SELECT count(*) FROM flows"); n != 2000 {
		t.Errorf("%d flows stored, want 2000", n)
	}
}
