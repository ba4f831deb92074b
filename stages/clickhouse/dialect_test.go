package clickhouse

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// dialectFlows are the flows the dialect tests query: values chosen so
// that every operator selects a different subset.
func dialectFlows(t0 time.Time) []flow.Record {
	recs := make([]flow.Record, 4)
	for i := range recs {
		makeFlow(&recs[i], i, t0)
	}
	set := func(i int, src, dst string, as uint32, ifname, country string, b flow.Boundary, at time.Duration) {
		r := &recs[i]
		r.SrcAddr, r.DstAddr = netip.MustParseAddr(src), netip.MustParseAddr(dst)
		r.SrcAS, r.InIfName, r.SrcCountry, r.InIfBoundary = as, ifname, country, b
		r.TimeReceived = t0.Add(at)
		r.SrcMAC = uint64(0x020000000000 + i)
	}
	set(0, "192.0.2.1", "2001:db8::1", 64500, "xe-0/0/0", "FR", flow.BoundaryExternal, 0)
	set(1, "192.0.2.130", "2001:db8:ffff::1", 64501, "XE-0/0/1", "US", flow.BoundaryInternal, time.Minute+13*time.Second)
	set(2, "198.51.100.7", "2001:db9::1", 15169, "et-1/0/0", "", flow.BoundaryUndefined, 7*time.Minute+59*time.Second)
	set(3, "2001:db8:abcd:12::1", "10.0.0.1", 13335, `it's a \'quoted\' name`, "DE", flow.BoundaryExternal, time.Hour)
	return recs
}

// dialectSink provisions a database, inserts dialectFlows through the sink
// and returns the sink (its Backend) and the flows.
func dialectSink(t *testing.T, srv *chServer) (*Sink, []flow.Record, time.Time) {
	t.Helper()
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "batch_timeout = \"50ms\"")
	provision(t, s)
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	recs := dialectFlows(t0)
	in := make(chan *flow.Batch, 1)
	errc := runSink(t, s, in)
	b := flow.NewBatch()
	for i := range recs {
		*b.Append() = recs[i]
	}
	in <- b
	close(in)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return s, recs, t0
}

// match returns the indexes of the flows (by SrcMAC) that cond selects.
func match(t *testing.T, s *Sink, cond string, args []any) []int {
	t.Helper()
	rows, err := s.Query(context.Background(), fmt.Sprintf("SELECT SrcMAC FROM %s.flows WHERE %s ORDER BY SrcMAC", quote(s.cfg.database), cond), args...)
	if err != nil {
		t.Fatalf("%s %v: %v", cond, args, err)
	}
	defer rows.Close()
	out := []int{}
	for rows.Next() {
		var mac uint64
		if err := rows.Scan(&mac); err != nil {
			t.Fatal(err)
		}
		out = append(out, int(mac-0x020000000000))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDialectCompare(t *testing.T) { forEachServer(t, testDialectCompare) }

func testDialectCompare(t *testing.T, srv *chServer) {
	s, _, t0 := dialectSink(t, srv)
	d := s.Dialect()
	if d.Name() != "clickhouse" {
		t.Errorf("name %q", d.Name())
	}
	col := func(name string) flow.Column {
		c, ok := flow.ColumnByName(name)
		if !ok {
			t.Fatalf("no column %s", name)
		}
		return c
	}
	addr := netip.MustParseAddr
	prefix := netip.MustParsePrefix
	for _, tc := range []struct {
		column string
		op     string
		value  any
		want   []int
	}{
		{"SrcAS", "=", uint64(64500), []int{0}},
		{"SrcAS", "!=", uint64(64500), []int{1, 2, 3}},
		{"SrcAS", "<", uint64(15169), []int{3}},
		{"SrcAS", "<=", uint64(15169), []int{2, 3}},
		{"SrcAS", ">", uint64(64500), []int{1}},
		{"SrcAS", ">=", uint64(64500), []int{0, 1}},
		{"SrcMAC", "=", uint64(0x020000000002), []int{2}},
		{"InIfName", "=", "xe-0/0/0", []int{0}},
		{"InIfName", "!=", "xe-0/0/0", []int{1, 2, 3}},
		{"InIfName", "<", "et-9", []int{1, 2}}, // bytes: "XE" < "et" < "it" < "xe"
		{"InIfName", ">=", "it", []int{0, 3}},
		{"InIfName", "LIKE", "xe-%", []int{0}},
		{"InIfName", "UNLIKE", "xe-%", []int{1, 2, 3}},
		{"InIfName", "ILIKE", "xe-%", []int{0, 1}},
		{"InIfName", "IUNLIKE", "xe-%", []int{2, 3}},
		{"InIfName", "LIKE", `%'s a %`, []int{3}},       // a quote in a pattern
		{"InIfName", "LIKE", `%a \\'quoted%`, []int{3}}, // \\ is a backslash in a LIKE pattern
		{"InIfName", "=", `it's a \'quoted\' name`, []int{3}},
		{"InIfName", "=", "x' OR 1=1 --", []int{}},
		{"InIfName", "=", "x\\' OR 1=1 --", []int{}},
		{"InIfName", "=", "?", []int{}},
		{"SrcCountry", "=", "FR", []int{0}},
		{"SrcCountry", "=", "", []int{2}},
		{"SrcCountry", "!=", "", []int{0, 1, 3}},
		{"SrcCountry", "=", "FRA", []int{}},
		{"SrcCountry", ">", "E", []int{0, 1}},
		{"SrcCountry", "LIKE", "_R", []int{0}},
		{"SrcCountry", "ILIKE", "fr", []int{0}},
		{"SrcCountry", "IUNLIKE", "%e", []int{0, 1, 2}},
		{"InIfBoundary", "=", flow.BoundaryExternal, []int{0, 3}},
		{"InIfBoundary", "=", flow.BoundaryInternal, []int{1}},
		{"InIfBoundary", "=", flow.BoundaryUndefined, []int{2}},
		{"InIfBoundary", "!=", flow.BoundaryExternal, []int{1, 2}},
		{"TimeReceived", ">=", t0.Add(time.Minute), []int{1, 2, 3}},
		{"TimeReceived", "<", t0.Add(time.Minute), []int{0}},
		{"TimeReceived", "=", t0.Add(time.Hour), []int{3}},
		{"SrcAddr", "=", addr("192.0.2.1"), []int{0}},
		{"SrcAddr", "=", addr("::ffff:192.0.2.1"), []int{0}},
		{"SrcAddr", "!=", addr("192.0.2.1"), []int{1, 2, 3}},
		{"SrcAddr", "=", addr("2001:db8:abcd:12::1"), []int{3}},
		{"SrcAddr", ">", addr("192.0.2.1"), []int{1, 2, 3}}, // IPv4-mapped sort before 2001::
		{"SrcAddr", "<=", addr("192.0.2.130"), []int{0, 1}},
		{"SrcAddr", "<<", prefix("192.0.2.0/24"), []int{0, 1}},
		{"SrcAddr", "<<", prefix("192.0.2.128/25"), []int{1}},
		{"SrcAddr", "<<", prefix("192.0.2.0/25"), []int{0}},
		{"SrcAddr", "<<", prefix("0.0.0.0/0"), []int{0, 1, 2}},
		{"SrcAddr", "<<", prefix("2001:db8::/32"), []int{3}},
		{"SrcAddr", "<<", prefix("::/0"), []int{0, 1, 2, 3}},
		{"DstAddr", "<<", prefix("2001:db8::/33"), []int{0}},
		{"DstAddr", "<<", prefix("2001:db8:8000::/33"), []int{1}},
		{"DstAddr", "<<", prefix("2001:db8::/31"), []int{0, 1, 2}},
		{"DstAddr", "<<", prefix("10.0.0.1/32"), []int{3}},
		{"DstAddr", "<<", prefix("2001:db9::1/128"), []int{2}},
	} {
		name := fmt.Sprintf("%s %s %v", tc.column, tc.op, tc.value)
		sql, args, err := d.Compare(col(tc.column), tc.op, tc.value)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := match(t, s, sql, args); !slices.Equal(got, tc.want) {
			t.Errorf("%s (%s %v): flows %v, want %v", name, sql, args, got, tc.want)
		}
	}

	// Mistakes are errors, never SQL.
	for _, tc := range []struct {
		column, op string
		value      any
	}{
		{"SrcAS", "LIKE", uint64(1)},
		{"SrcAS", "=", "64500"},
		{"SrcAS", "<<", prefix("10.0.0.0/8")},
		{"InIfName", "=", uint64(1)},
		{"SrcAddr", "=", "10.0.0.1"},
		{"SrcAddr", "<<", addr("10.0.0.1")},
		{"SrcAddr", "LIKE", "10.%"},
		{"InIfBoundary", "=", "external"},
		{"SrcAS", "; DROP TABLE flows", uint64(1)},
		{"TimeReceived", ">", uint64(1)},
	} {
		if sql, _, err := d.Compare(col(tc.column), tc.op, tc.value); err == nil {
			t.Errorf("%s %s %v: %q, want an error", tc.column, tc.op, tc.value, sql)
		}
	}
}

func TestDialectDimension(t *testing.T) { forEachServer(t, testDialectDimension) }

func testDialectDimension(t *testing.T, srv *chServer) {
	s, recs, _ := dialectSink(t, srv)
	d := s.Dialect()
	for _, name := range []string{"SrcAddr", "DstAddr"} {
		c, _ := flow.ColumnByName(name)
		for _, bits := range []int{0, 1, 8, 12, 23, 24, 25, 32, 33, 36, 48, 64, 100, 127, 128} {
			expr, args := d.Dimension(c, bits)
			rows, err := s.Query(context.Background(), fmt.Sprintf("SELECT SrcMAC, %s FROM %s.flows ORDER BY SrcMAC", expr, quote(s.cfg.database)), args...)
			if err != nil {
				t.Fatalf("%s/%d: %s: %v", name, bits, expr, err)
			}
			for rows.Next() {
				var mac uint64
				var text string
				if err := rows.Scan(&mac, &text); err != nil {
					t.Fatal(err)
				}
				r := &recs[mac-0x020000000000]
				a := r.SrcAddr
				if name == "DstAddr" {
					a = r.DstAddr
				}
				want := a
				if bits > 0 {
					want = netip.PrefixFrom(a, min(bits, a.BitLen())).Masked().Addr()
				}
				got, err := netip.ParseAddr(text)
				if err != nil || got.Unmap() != want {
					t.Errorf("%s/%d of %s: %q, want %s", name, bits, a, text, want)
				}
			}
			rows.Close()
		}
	}

	want := map[string][]string{
		"SrcAS":        {"64500", "64501", "15169", "13335"},
		"SrcCountry":   {"FR", "US", "", "DE"},
		"InIfBoundary": {"external", "internal", "", "external"},
		"InIfName":     {"xe-0/0/0", "XE-0/0/1", "et-1/0/0", `it's a \'quoted\' name`},
		"SrcMAC":       {"2199023255552", "2199023255553", "2199023255554", "2199023255555"},
	}
	for name, w := range want {
		c, _ := flow.ColumnByName(name)
		expr, args := d.Dimension(c, 0)
		rows, err := s.Query(context.Background(), fmt.Sprintf("SELECT %s FROM %s.flows ORDER BY SrcMAC", expr, quote(s.cfg.database)), args...)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, expr, err)
		}
		var got []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		rows.Close()
		if diff := cmp.Diff(got, w); diff != "" {
			t.Errorf("%s (-got +want):\n%s", name, diff)
		}
	}
}

func TestDialectBucketAndRange(t *testing.T) { forEachServer(t, testDialectBucketAndRange) }

func testDialectBucketAndRange(t *testing.T, srv *chServer) {
	s, recs, t0 := dialectSink(t, srv)
	d := s.Dialect()
	for _, step := range []time.Duration{time.Second, time.Minute, 5 * time.Minute, 7 * time.Minute, time.Hour, 24 * time.Hour} {
		expr, args := d.Bucket(step)
		rows, err := s.Query(context.Background(), fmt.Sprintf("SELECT SrcMAC, %s FROM %s.flows ORDER BY SrcMAC", expr, quote(s.cfg.database)), args...)
		if err != nil {
			t.Fatalf("%s: %s: %v", step, expr, err)
		}
		for rows.Next() {
			var mac uint64
			var bucket int64
			if err := rows.Scan(&mac, &bucket); err != nil {
				t.Fatal(err)
			}
			tr := recs[mac-0x020000000000].TimeReceived
			if want := tr.Unix() - tr.Unix()%int64(step/time.Second); bucket != want {
				t.Errorf("bucket %s of %s: %d, want %d", step, tr, bucket, want)
			}
		}
		rows.Close()
	}
	cond, args := d.TimeRange(t0.Add(time.Second), t0.Add(8*time.Minute))
	if got := match(t, s, cond, args); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("time range: %v, want [1 2]", got)
	}
	cond, args = d.TimeRange(t0, t0.Add(7*time.Minute+59*time.Second))
	if got := match(t, s, cond, args); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("time range (end excluded): %v, want [0 1]", got)
	}
	var f float64
	rows, err := s.Query(context.Background(), fmt.Sprintf("SELECT %s FROM %s.flows", d.Float("sum(Bytes)"), quote(s.cfg.database)))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&f); err != nil {
			t.Fatal(err)
		}
	}
	var want uint64
	for _, r := range recs {
		want += r.Bytes
	}
	if f != float64(want) {
		t.Errorf("float sum %v, want %d", f, want)
	}
}

func TestBackendTables(t *testing.T) {
	srv := server(t)
	s, _ := newSink(t, srv, "x", "consolidation {\n interval = \"1h\"\n retention = \"0s\"\n}\nconsolidation {\n interval = \"1m\"\n retention = \"7d\"\n}")
	tables := s.Tables()
	var names []string
	for _, tb := range tables {
		names = append(names, fmt.Sprintf("%s %s %s %v %d", tb.Name, tb.Interval, tb.Retention, tb.Scaled, len(tb.Columns)))
	}
	want := []string{
		fmt.Sprintf("flows 0s 720h0m0s false %d", len(flow.Columns)),
		fmt.Sprintf("flows_1m0s 1m0s 168h0m0s true %d", len(store.RollupColumns())),
		fmt.Sprintf("flows_1h0m0s 1h0m0s 0s true %d", len(store.RollupColumns())),
	}
	if diff := cmp.Diff(names, want); diff != "" {
		t.Errorf("tables (-got +want):\n%s", diff)
	}
	for _, c := range tables[1].Columns {
		if !store.InRollups(c) {
			t.Errorf("rollup column %s is not in store.InRollups", c)
		}
	}
}

func TestSavedFilters(t *testing.T) { forEachServer(t, testSavedFilters) }

func testSavedFilters(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "")
	provision(t, s)
	ctx := context.Background()
	list := func() []string {
		t.Helper()
		fs, err := s.SavedFilters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, f := range fs {
			out = append(out, f.Name+": "+f.Filter+" ("+f.Description+")")
		}
		return out
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("saved filters of a new database: %q", got)
	}
	tricky := `it's "quoted" \ ; DROP TABLE flows -- ?`
	for _, f := range []store.SavedFilter{
		{Name: "web", Filter: "DstPort = 443", Description: "HTTPS"},
		{Name: "transit", Filter: "InIfBoundary = external"},
		{Name: tricky, Filter: tricky, Description: tricky},
		{Name: "web", Filter: "DstPort IN (80, 443)", Description: "web"},
	} {
		if err := s.SaveFilter(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		tricky + ": " + tricky + " (" + tricky + ")",
		"transit: InIfBoundary = external ()",
		"web: DstPort IN (80, 443) (web)",
	}
	if diff := cmp.Diff(list(), want); diff != "" {
		t.Errorf("saved filters (-got +want):\n%s", diff)
	}
	if err := s.DeleteFilter(ctx, "transit"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFilter(ctx, "missing"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(list(), []string{want[0], want[2]}); diff != "" {
		t.Errorf("after delete (-got +want):\n%s", diff)
	}
	// Saved again after a deletion, the name is back.
	if err := s.SaveFilter(ctx, store.SavedFilter{Name: "transit", Filter: "InIfBoundary = external"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(list(), want); diff != "" {
		t.Errorf("saved again (-got +want):\n%s", diff)
	}
	fs, _ := s.SavedFilters(ctx)
	if fs[0].Updated.IsZero() || time.Since(fs[0].Updated) > time.Minute {
		t.Errorf("updated %v", fs[0].Updated)
	}
	// The flows table is still there.
	var n uint64
	if err := srv.client(t).QueryRow(ctx, "SELECT count() FROM "+db+".flows").Scan(&n); err != nil {
		t.Errorf("flows table: %v", err)
	}
}
