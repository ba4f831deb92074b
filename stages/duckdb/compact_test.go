package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// TestCompact: many small transactions leave partial rollup rows; once
// their intervals are over, compaction merges them, sums unchanged.
func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, _ := newSink(t, path, "batch_size = 500\nbatch_timeout = \"10ms\"\ninsert_concurrency = 1")
	provision(t, s)
	ctx := context.Background()
	now := time.Now().UTC()
	base := now.Add(-3 * time.Hour).Truncate(time.Hour)
	in := make(chan *flow.Batch, 4)
	var done atomic.Int64
	go func() {
		feed(ctx, in, 0, 10000, 250, base, &done) // 6 minutes, 20 transactions
		close(in)
	}()
	if err := s.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	db := s.mustDB(t)
	sums := func(table string) string {
		return query[string](t, db, fmt.Sprintf(`SELECT CAST(SUM("Bytes") AS VARCHAR) || '/' || CAST(SUM("Packets") AS VARCHAR) || '/' || CAST(SUM("Flows") AS VARCHAR) FROM %s`, table))
	}
	distinct := func(table string) int64 {
		return query[int64](t, db, fmt.Sprintf(`SELECT count(*) FROM (SELECT DISTINCT * EXCLUDE ("Bytes", "Packets", "Flows") FROM %s)`, table))
	}
	tables := []string{"flows_1m0s", "flows_5m0s", "flows_1h0m0s"}
	before := map[string]string{}
	for _, table := range tables {
		before[table] = sums(table)
		if n, d := query[int64](t, db, "SELECT count(*) FROM "+table), distinct(table); n <= d {
			t.Fatalf("%s: %d rows, %d distinct: no partial rows to merge", table, n, d)
		}
	}
	var c compactor
	c.done = map[string]time.Time{}
	for _, table := range tables {
		c.done[table] = base.Add(-time.Hour)
	}
	if err := s.compact(ctx, db, &c, now); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		if got := sums(table); got != before[table] {
			t.Errorf("%s: sums %s after compaction, %s before", table, got, before[table])
		}
		if n, d := query[int64](t, db, "SELECT count(*) FROM "+table), distinct(table); n != d {
			t.Errorf("%s: %d rows after compaction, %d distinct", table, n, d)
		}
	}
	// Nothing left to do: a second pass over the same range changes nothing.
	for _, table := range tables {
		c.done[table] = base.Add(-time.Hour)
	}
	if err := s.compact(ctx, db, &c, now); err != nil {
		t.Fatal(err)
	}
}
