package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// listRecord is flow i of the list tests: no list, one value, many values
// (more than a data chunk holds in all), and the largest values.
func listRecord(i int, base time.Time) flow.Record {
	r := record(i, base)
	var path, comms []uint32
	var large []flow.LargeCommunity
	switch i % 4 {
	case 0: // empty lists
	case 1:
		path = []uint32{64500}
		comms = []uint32{65000<<16 | 100}
		large = []flow.LargeCommunity{{ASN: 65000, Local1: 1, Local2: 2}}
	case 2:
		for j := range 1 + i%37 {
			path = append(path, uint32(64500+j))
			comms = append(comms, uint32(65000+j)<<16|uint32(i))
			large = append(large, flow.LargeCommunity{ASN: uint32(4200000000 + j), Local1: uint32(i), Local2: uint32(j)})
		}
	case 3:
		path = []uint32{math.MaxUint32, 0, math.MaxUint32}
		comms = []uint32{math.MaxUint32}
		large = []flow.LargeCommunity{{ASN: math.MaxUint32, Local1: math.MaxUint32, Local2: math.MaxUint32}, {}, {ASN: 1}, {Local2: 1}}
	}
	r.DstASPath = flow.MakeUint32s(path)
	r.DstCommunities = flow.MakeUint32s(comms)
	r.DstLargeCommunities = flow.MakeLargeCommunities(large)
	return r
}

// readLists reads the list columns of flows, by SrcPort, as text:
// "[64500, 64501]|[...]|[...]" with large communities as their 128-bit values.
func readLists(t *testing.T, db *sql.DB) map[uint16]string {
	t.Helper()
	rows, err := db.Query(`SELECT "SrcPort", CAST("DstASPath" AS VARCHAR), CAST("DstCommunities" AS VARCHAR), CAST("DstLargeCommunities" AS VARCHAR) FROM flows`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[uint16]string{}
	for rows.Next() {
		var port uint16
		var a, b, c string
		if err := rows.Scan(&port, &a, &b, &c); err != nil {
			t.Fatal(err)
		}
		got[port] = a + "|" + b + "|" + c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// listText is how DuckDB prints r's lists (readLists).
func recordListsText(r flow.Record) string {
	u32 := func(l flow.Uint32s) string {
		var s []string
		for v := range l.All() {
			s = append(s, fmt.Sprint(v))
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	var s []string
	for c := range r.DstLargeCommunities.All() {
		hi, lo := c.Uint128()
		v := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		s = append(s, v.Or(v, new(big.Int).SetUint64(lo)).String())
	}
	return u32(r.DstASPath) + "|" + u32(r.DstCommunities) + "|[" + strings.Join(s, ", ") + "]"
}

// TestLists: AS paths and communities, empty, short, long and at their
// largest values, read back as written, through the sink (column by column)
// and row by row; the rollups do not keep them.
func TestLists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, _ := newSink(t, path, "batch_size = 3000\nbatch_timeout = \"100ms\"")
	provision(t, s)
	ctx := context.Background()
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	const n = 5000
	in := make(chan *flow.Batch, 4)
	var done atomic.Int64
	go func() {
		for i := 0; i < n; i += 700 {
			b := flow.NewBatch()
			for j := i; j < min(i+700, n); j++ {
				*b.Append() = listRecord(j, base)
			}
			k := int64(len(b.Records))
			b.OnDone(func() { done.Add(k) })
			in <- b
		}
		close(in)
	}()
	if err := s.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	if done.Load() != n {
		t.Fatalf("released %d flows, want %d", done.Load(), n)
	}
	db, _ := s.open(ctx)
	want := map[uint16]string{}
	for i := range n {
		want[uint16(i)] = recordListsText(listRecord(i, base))
	}
	if diff := cmp.Diff(readLists(t, db), want); diff != "" {
		t.Errorf("lists (-got +want):\n%s", diff)
	}
	if got := query[string](t, db, `SELECT typeof("DstASPath") || ' ' || typeof("DstCommunities") || ' ' || typeof("DstLargeCommunities") FROM flows LIMIT 1`); got != "UINTEGER[] UINTEGER[] UHUGEINT[]" {
		t.Errorf("types %s", got)
	}
	// The large communities' packing: ASN, Local1 and Local2 back by shifts.
	if got := query[string](t, db, `SELECT CAST(list_transform("DstLargeCommunities", c -> CAST(c >> 64 AS VARCHAR) || ':' || CAST((c >> 32) & 4294967295 AS VARCHAR) || ':' || CAST(c & 4294967295 AS VARCHAR)) AS VARCHAR) FROM flows WHERE "SrcPort" = 3`); got != "['4294967295:4294967295:4294967295', '0:0:0', '1:0:0', '0:0:1']" {
		t.Errorf("large communities of flow 3: %s", got)
	}
	for _, table := range []string{"flows_1m0s", "flows_5m0s", "flows_1h0m0s"} {
		if got := query[int64](t, db, `SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND data_type LIKE '%[]'`, table); got != 0 {
			t.Errorf("%s has %d list columns", table, got)
		}
	}

	// Row by row (the rollups' path), on the appender itself.
	if _, err := db.Exec("DELETE FROM flows"); err != nil {
		t.Fatal(err)
	}
	w, err := newWriter(ctx, db, s.tables)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := w.exec(ctx, "BEGIN TRANSACTION"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := listRecord(i, base)
		if err := w.flows.add(&r, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.flows.flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readLists(t, db), want); diff != "" {
		t.Errorf("lists appended row by row (-got +want):\n%s", diff)
	}
}

// TestListsUpgrade: a database made before the list columns gains them
// (planned with "+"), its rows read empty lists, and new flows keep theirs.
func TestListsUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	ctx := context.Background()
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	old, _ := newSink(t, path, "")
	old.columns = nil
	for _, c := range flow.Columns {
		if !c.Kind.IsList() {
			old.columns = append(old.columns, c)
		}
	}
	old.tables = wantTables(old.columns, old.cfg.retention)
	provision(t, old)
	var done atomic.Int64
	in := make(chan *flow.Batch, 1)
	go func() {
		feed(ctx, in, 0, 100, 100, base, &done)
		close(in)
	}()
	if err := old.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, _ := newSink(t, path, "")
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"+ duckdb column flows.DstASPath",
		"+ duckdb column flows.DstCommunities",
		"+ duckdb column flows.DstLargeCommunities",
	}
	if diff := cmp.Diff(actions(plan), want); diff != "" {
		t.Fatalf("plan (-got +want):\n%s", diff)
	}
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Plan(ctx); len(again.Changes) != 0 {
		t.Fatalf("plan after apply: %q", actions(again))
	}
	in = make(chan *flow.Batch, 1)
	go func() {
		b := flow.NewBatch()
		for i := 100; i < 200; i++ {
			*b.Append() = listRecord(i, base)
		}
		in <- b
		close(in)
	}()
	if err := s.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	db, _ := s.open(ctx)
	wantLists := map[uint16]string{}
	for i := range 100 {
		wantLists[uint16(i)] = "[]|[]|[]"
		wantLists[uint16(100+i)] = recordListsText(listRecord(100+i, base))
	}
	if diff := cmp.Diff(readLists(t, db), wantLists); diff != "" {
		t.Errorf("lists (-got +want):\n%s", diff)
	}
}

// TestEmptyAsNull: with emptyAsNull, the text columns of the flows table are
// nullable (a file made without it has them altered, in place) and empty
// strings stored as NULL, others as written; the rollups keep empty strings.
func TestEmptyAsNull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	ctx := context.Background()
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var done atomic.Int64
	run := func(s *Sink, first int) {
		in := make(chan *flow.Batch, 1)
		go func() {
			feed(ctx, in, first, 3000, 1000, base, &done)
			close(in)
		}()
		if err := s.Run(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	emptyAsNull = false
	old, _ := newSink(t, path, "")
	provision(t, old)
	run(old, 0)
	old.Close()
	emptyAsNull = true

	s, _ := newSink(t, path, "")
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range flow.Columns {
		if c.Kind == flow.KindString {
			want = append(want, "~ duckdb column flows."+c.Name)
		}
	}
	if diff := cmp.Diff(actions(plan), want); diff != "" {
		t.Fatalf("plan (-got +want):\n%s", diff)
	}
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Plan(ctx); len(again.Changes) != 0 {
		t.Fatalf("plan after apply: %q", actions(again))
	}
	run(s, 3000)
	db, _ := s.open(ctx)
	got := query[string](t, db, `SELECT CAST(count(*) FILTER ("ExporterGroup" IS NULL) AS VARCHAR) || ' ' ||
		CAST(count(*) FILTER ("ExporterGroup" = '') AS VARCHAR) || ' ' ||
		CAST(count(*) FILTER ("ExporterName" IS NULL) AS VARCHAR) || ' ' || CAST(count(DISTINCT "InIfName") AS VARCHAR) FROM flows`)
	if got != "3000 3000 0 4" {
		t.Errorf("NULL groups, empty groups, NULL names, distinct interface names: %s, want 3000 3000 0 4", got)
	}
	if n := query[int64](t, db, `SELECT count(*) FROM flows_1m0s WHERE "ExporterGroup" IS NULL`); n != 0 {
		t.Errorf("%d rollup rows with NULL text", n)
	}

	// The store reads the old rows ("") and the new (NULL) alike.
	st := store.New(s)
	st.Now = func() time.Time { return base.Add(time.Hour) }
	for _, c := range []struct {
		filter string
		want   float64 // flows, sampled: a thousand for each stored
	}{
		{"ExporterGroup = ''", 6000}, {"ExporterGroup != ''", 0}, {"NOT ExporterGroup = ''", 0},
		{"ExporterGroup != 'edge'", 6000}, {"NOT ExporterGroup = 'edge'", 6000}, {"ExporterGroup = 'edge'", 0},
		{"ExporterGroup IN ('')", 6000}, {"ExporterGroup IN ('edge', '')", 6000}, {"ExporterGroup NOT IN ('')", 0},
		{"ExporterGroup NOT IN ('edge')", 6000}, {"ExporterGroup LIKE '%'", 6000}, {"ExporterGroup LIKE '_%'", 0},
		{"ExporterGroup UNLIKE 'e%'", 6000}, {"NOT ExporterGroup LIKE 'e%'", 6000}, {"ExporterGroup IUNLIKE '%'", 0},
		{"ExporterGroup ILIKE ''", 6000}, {"NOT ExporterGroup ILIKE 'E%'", 6000},
		{"ExporterName = 'router1' AND ExporterGroup = ''", 2000}, {"ExporterName != 'router1' OR ExporterGroup != ''", 4000},
	} {
		// One second steps: the raw table.
		res, err := st.Table(ctx, store.Query{Start: base, End: base.Add(10 * time.Minute), Points: 600,
			Dimensions: []store.Dimension{{Column: "ExporterGroup"}}, Metric: store.MetricFlows, Limit: 10, Filter: c.filter})
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		var total float64
		for _, r := range res.Rows {
			total += r.Total
		}
		if res.Table != flowsTable || total != c.want*1000 || (c.want > 0 && (len(res.Rows) != 1 || res.Rows[0].Dimensions[0] != "")) {
			t.Errorf("%s: %v flows from %s in %v, want %v in one row \"\"", c.filter, total, res.Table, res.Rows, c.want)
		}
	}
	st.Now = func() time.Time { return base.Add(4 * time.Minute) }
	last, err := st.LastFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last["ExporterGroup"] != "" || last["ExporterName"] != "router2" {
		t.Errorf("last flow: %v", last)
	}
	names, err := st.ExporterNames(ctx)
	if err != nil || len(names) != 3 {
		t.Errorf("exporter names: %v, %v", names, err)
	}
	// Completion reads every value, NULL too (and offers no empty one).
	for col, want := range map[string]string{"ExporterGroup": "[]", "InIfName": "[et0 et1 et2 et3]"} {
		comps, err := st.Complete(ctx, col+" = ", len(col+" = "))
		if err != nil {
			t.Fatalf("completion of %s: %v", col, err)
		}
		var labels []string
		for _, c := range comps {
			labels = append(labels, c.Label)
		}
		sort.Strings(labels)
		if fmt.Sprint(labels) != want {
			t.Errorf("completion of %s: %q, want %s", col, labels, want)
		}
	}

	// A new file has nullable text columns from the start.
	fresh, _ := newSink(t, filepath.Join(t.TempDir(), "flows.duckdb"), "")
	provision(t, fresh)
	if again, _ := fresh.Plan(ctx); len(again.Changes) != 0 {
		t.Fatalf("plan after apply: %q", actions(again))
	}
}
