package store

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/filter"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// allTables are a raw table and three rollups, as the stores keep them.
func allTables() []Table {
	rc := names(RollupColumns())
	return []Table{
		{Name: "flows", Columns: names(flow.Columns), Retention: 15 * 24 * time.Hour},
		{Name: RollupName(time.Minute), Interval: time.Minute, Columns: rc, Retention: 7 * 24 * time.Hour, Scaled: true},
		{Name: RollupName(5 * time.Minute), Interval: 5 * time.Minute, Columns: rc, Retention: 90 * 24 * time.Hour, Scaled: true},
		{Name: RollupName(time.Hour), Interval: time.Hour, Columns: rc, Retention: 2 * 365 * 24 * time.Hour, Scaled: true},
	}
}

func newTestStore(b *fakeBackend) *Store {
	s := New(b)
	s.Now = func() time.Time { return t0.Add(2 * time.Hour) }
	return s
}

func TestPlanTable(t *testing.T) {
	s := newTestStore(&fakeBackend{tables: allTables()})
	cases := []struct {
		name  string
		q     Query
		table string
		step  time.Duration
		start time.Time
		n     int
	}{
		{"1h at 60 points: 1m rollup", Query{Start: t0, End: t0.Add(time.Hour), Points: 60}, "flows_1m0s", time.Minute, t0, 60},
		{"1h at 12 points: 5m rollup", Query{Start: t0, End: t0.Add(time.Hour), Points: 12}, "flows_5m0s", 5 * time.Minute, t0, 12},
		{"1h at 7 points: 5m rollup, step a multiple", Query{Start: t0, End: t0.Add(time.Hour), Points: 7}, "flows_5m0s", 10 * time.Minute, t0, 6},
		{"1h at 200 points: raw, 18s", Query{Start: t0, End: t0.Add(time.Hour), Points: 200}, "flows", 18 * time.Second, t0, 200},
		{"1d at 24 points: 1h rollup", Query{Start: t0, End: t0.Add(24 * time.Hour), Points: 24}, "flows_1h0m0s", time.Hour, t0, 24},
		{"explicit step", Query{Start: t0, End: t0.Add(time.Hour), Step: 15 * time.Minute}, "flows_5m0s", 15 * time.Minute, t0, 4},
		{"unaligned range", Query{Start: t0.Add(90 * time.Second), End: t0.Add(time.Hour + 30*time.Second), Points: 12}, "flows_5m0s", 5 * time.Minute, t0, 13},
		{"raw-only dimension", Query{Start: t0, End: t0.Add(24 * time.Hour), Points: 24, Dimensions: []Dimension{{Column: "SrcAddr", Truncate: 24}}}, "flows", time.Hour, t0, 24},
		{"raw-only in the reverse direction", Query{Start: t0, End: t0.Add(24 * time.Hour), Points: 24, Bidirectional: true, Filter: "SrcAddr << 10.0.0.0/8"}, "flows", time.Hour, t0, 24},
		{"filter on a rollup column", Query{Start: t0, End: t0.Add(24 * time.Hour), Points: 24, Filter: "SrcAS = 1"}, "flows_1h0m0s", time.Hour, t0, 24},
		{"filter on Bytes reads raw flows", Query{Start: t0, End: t0.Add(24 * time.Hour), Points: 24, Filter: "Bytes > 1"}, "flows", time.Hour, t0, 24},
		{"percent of interface speed", Query{Start: t0, End: t0.Add(24 * time.Hour), Points: 24, Metric: MetricInL2}, "flows_1h0m0s", time.Hour, t0, 24},
		{"older than the 1m rollup keeps", Query{Start: t0.Add(-10 * 24 * time.Hour), End: t0.Add(-10*24*time.Hour + time.Hour), Points: 60}, "flows", time.Minute, t0.Add(-10 * 24 * time.Hour), 60},
		{"older than raw flows keep", Query{Start: t0.Add(-30 * 24 * time.Hour), End: t0.Add(-30*24*time.Hour + time.Hour), Points: 60}, "flows_5m0s", 5 * time.Minute, t0.Add(-30 * 24 * time.Hour), 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.plan(tc.q, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.table.Name != tc.table || p.step != tc.step || !p.start.Equal(tc.start) || p.n != tc.n {
				t.Errorf("table %s, step %s, start %s, %d points; want %s, %s, %s, %d", p.table.Name, p.step, p.start, p.n, tc.table, tc.step, tc.start, tc.n)
			}
			if p.end.Before(tc.q.End) || p.end.Sub(p.start) != time.Duration(p.n)*p.step {
				t.Errorf("end %s does not cover %s in %d steps", p.end, tc.q.End, p.n)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	s := newTestStore(&fakeBackend{tables: allTables()})
	hour := Query{Start: t0, End: t0.Add(time.Hour)}
	with := func(f func(*Query)) Query { q := hour; f(&q); return q }
	cases := []struct {
		name  string
		q     Query
		want  string
		limit *LimitError
	}{
		{"range", Query{Start: t0.Add(-401 * 24 * time.Hour), End: t0}, "over the range_days limit: 401, at most 400", &LimitError{"range_days", 400, 401}},
		{"points", with(func(q *Query) { q.Points = 2001 }), "over the points limit: 2001, at most 2000", &LimitError{"points", 2000, 2001}},
		{"points from step", with(func(q *Query) { q.Step = time.Second }), "over the points limit: 3600, at most 2000", &LimitError{"points", 2000, 3600}},
		{"dimensions", with(func(q *Query) { q.Dimensions = make([]Dimension, 11) }), "over the dimensions limit: 11, at most 10", &LimitError{"dimensions", 10, 11}},
		{"limit", with(func(q *Query) { q.Limit = 51 }), "over the limit limit: 51, at most 50", &LimitError{"limit", 50, 51}},
		{"metric", with(func(q *Query) { q.Metric = "bps" }), `unknown metric "bps": expected l3bps, l2bps, pps, flows, inl2% or outl2%`, nil},
		{"no range", Query{}, "start and end are required", nil},
		{"reversed range", Query{Start: t0, End: t0}, "end (2026-11-30T10:00:00Z) must be after start (2026-11-30T10:00:00Z)", nil},
		{"unknown dimension", with(func(q *Query) { q.Dimensions = []Dimension{{Column: "Nope"}} }), `unknown dimension "Nope"`, nil},
		{"not a dimension", with(func(q *Query) { q.Dimensions = []Dimension{{Column: "bytes"}} }), "Bytes cannot be a dimension", nil},
		{"truncated number", with(func(q *Query) { q.Dimensions = []Dimension{{Column: "SrcAS", Truncate: 8}} }), "SrcAS is not an address: it cannot be truncated", nil},
		{"truncated too far", with(func(q *Query) { q.Dimensions = []Dimension{{Column: "SrcAddr", Truncate: 129}} }), "truncation of SrcAddr must be from 0 to 128 bits, got 129", nil},
		{"step not in seconds", with(func(q *Query) { q.Step = 1500 * time.Millisecond }), "step must be a positive whole number of seconds, got 1.5s", nil},
		{"filter", with(func(q *Query) { q.Filter = "SrcAS = x" }), `filter: line 1, column 9: expected an AS number (AS15169 or 15169) for SrcAS, got "x"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Line(context.Background(), tc.q)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v is not ErrInvalid", err)
			}
			var le *LimitError
			if errors.As(err, &le) != (tc.limit != nil) || (tc.limit != nil && *le != *tc.limit) {
				t.Errorf("limit error %+v, want %+v", le, tc.limit)
			}
		})
	}
	_, err := s.Sankey(context.Background(), with(func(q *Query) { q.Dimensions = []Dimension{{Column: "SrcAS"}} }))
	if err == nil || err.Error() != "at least 2 dimensions are needed, got 1" || !errors.Is(err, ErrInvalid) {
		t.Errorf("sankey over one dimension: %v", err)
	}
	var fe *InvalidFilterError
	_, err = s.Table(context.Background(), with(func(q *Query) { q.Filter = "SrcAS = 1 AND\nFoo = 2" }))
	if !errors.As(err, &fe) || len(fe.Errors) != 1 || fe.Errors[0] != (FilterError{Offset: 14, Line: 2, Column: 1, Message: `unknown column "Foo"`}) {
		t.Errorf("filter error %v", err)
	}
}

func TestSwapped(t *testing.T) {
	for in, want := range map[string]string{
		"SrcAS": "DstAS", "DstAddr": "SrcAddr", "InIfName": "OutIfName", "OutIfBoundary": "InIfBoundary",
		"SrcNetMask": "DstNetMask", "ExporterName": "ExporterName", "Proto": "Proto", "FlowDirection": "FlowDirection",
	} {
		if got := swapped(in); got != want {
			t.Errorf("swapped(%s) = %s, want %s", in, got, want)
		}
	}
}

func sqlOf(t *testing.T, p *plan, swap bool) (top, series, total *sqlText) {
	t.Helper()
	q := &query{p: p, d: testDialect{}, swap: swap, start: p.start, end: p.end}
	var err error
	if top, err = q.topSQL(p.limit+1, -1); err != nil {
		t.Fatal(err)
	}
	if series, err = q.seriesSQL([][]string{{"64501", "192.0.2.0"}, {"it's", "x"}}); err != nil {
		t.Fatal(err)
	}
	if total, err = q.seriesSQL(nil); err != nil {
		t.Fatal(err)
	}
	return
}

func TestGoldenSQL(t *testing.T) {
	s := newTestStore(&fakeBackend{tables: allTables()})
	p, err := s.plan(Query{Start: t0, End: t0.Add(time.Hour), Points: 12, Limit: 5,
		Dimensions: []Dimension{{Column: "srcas"}, {Column: "DstAddr", Truncate: 24}},
		Filter:     "InIfBoundary = external AND NOT Proto IN (tcp, udp) OR ExporterName LIKE 'edge%'"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	top, series, total := sqlOf(t, p, false)
	const (
		qty   = `float(SUM(("Bytes") * (CASE WHEN "SamplingRate" = 0 THEN 1 ELSE "SamplingRate" END)))`
		where = ` FROM "flows" WHERE "TimeReceived" >= ? AND "TimeReceived" < ? AND (("InIfBoundary" = ? AND NOT ("Proto" = ? OR "Proto" = ?)) OR "ExporterName" LIKE ?)`
	)
	wantArgs := []any{t0, t0.Add(time.Hour), flow.BoundaryExternal, uint64(6), uint64(17), "edge%"}
	check := func(name string, got *sqlText, sql string, args []any) {
		t.Helper()
		if got.String() != sql {
			t.Errorf("%s SQL:\n got %s\nwant %s", name, got, sql)
		}
		if diff := cmp.Diff(args, got.args, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("%s args (-want +got):\n%s", name, diff)
		}
	}
	// Grouped by the dimensions' keys, the text only of the rows returned.
	check("top", top, `SELECT text("SrcAS") AS "d0", text(trunc("DstAddr", ?)) AS "d1", "v" FROM (SELECT "k0" AS "SrcAS", "k1" AS "DstAddr", "v" FROM (`+
		`SELECT key("SrcAS") AS "k0", key(trunc("DstAddr", ?)) AS "k1", `+qty+` AS "v"`+where+
		` GROUP BY "k0", "k1" ORDER BY "v" DESC LIMIT 6)) ORDER BY "v" DESC, "d0", "d1"`, append([]any{24, 24}, wantArgs...))
	check("series", series, `SELECT "t", text("SrcAS") AS "d0", text(trunc("DstAddr", ?)) AS "d1", "v" FROM (SELECT "t", "k0" AS "SrcAS", "k1" AS "DstAddr", "v" FROM (`+
		`SELECT bucket("TimeReceived", ?) AS "t", key("SrcAS") AS "k0", key(trunc("DstAddr", ?)) AS "k1", `+qty+` AS "v"`+where+
		` AND (("SrcAS" = ? AND "DstAddr" WITHIN ?) OR (text("SrcAS") = ? AND text(trunc("DstAddr", ?)) = ?)) GROUP BY "t", "k0", "k1")) ORDER BY "t"`,
		append(append([]any{24, int64(300), 24}, wantArgs...), uint64(64501), netip.MustParsePrefix("192.0.2.0/24"), "it's", 24, "x"))
	check("total", total, `SELECT bucket("TimeReceived", ?) AS "t", `+qty+` AS "v"`+where+` GROUP BY "t" ORDER BY "t"`,
		append([]any{int64(300)}, wantArgs...))

	// The reverse direction swaps dimensions and filter columns.
	top, _, _ = sqlOf(t, p, true)
	check("reverse top", top, `SELECT text("DstAS") AS "d0", text(trunc("SrcAddr", ?)) AS "d1", "v" FROM (SELECT "k0" AS "DstAS", "k1" AS "SrcAddr", "v" FROM (`+
		`SELECT key("DstAS") AS "k0", key(trunc("SrcAddr", ?)) AS "k1", `+qty+` AS "v"`+strings.ReplaceAll(where, "InIfBoundary", "OutIfBoundary")+
		` GROUP BY "k0", "k1" ORDER BY "v" DESC LIMIT 6)) ORDER BY "v" DESC, "d0", "d1"`, append([]any{24, 24}, wantArgs...))

	// A column twice (two truncations) is grouped by its text.
	p2, err := s.plan(Query{Start: t0, End: t0.Add(time.Hour), Points: 12, Limit: 5,
		Dimensions: []Dimension{{Column: "DstAddr", Truncate: 16}, {Column: "DstAddr", Truncate: 24}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	top, _, _ = sqlOf(t, p2, false)
	check("same column twice", top, `SELECT text(trunc("DstAddr", ?)) AS "d0", text(trunc("DstAddr", ?)) AS "d1", `+qty+` AS "v"`+where[:strings.Index(where, " AND (")]+
		` GROUP BY "d0", "d1" ORDER BY "v" DESC, "d0", "d1" LIMIT 6`, append([]any{16, 24}, wantArgs[:2]...))

	// Rollups are scaled already; the metrics read their own columns.
	for _, tc := range []struct {
		m    Metric
		want string
	}{
		{MetricL3bps, `float(SUM("Bytes"))`},
		{MetricL2bps, `float(SUM("Bytes" + 18 * "Packets"))`},
		{MetricPPS, `float(SUM("Packets"))`},
		{MetricFlows, `float(SUM("Flows"))`},
		{MetricInL2, `SUM(CASE WHEN "InIfSpeed" = 0 THEN 0 ELSE float("Bytes" + 18 * "Packets") / float("InIfSpeed") END)`},
		{MetricOutL2, `SUM(CASE WHEN "OutIfSpeed" = 0 THEN 0 ELSE float("Bytes" + 18 * "Packets") / float("OutIfSpeed") END)`},
	} {
		p, err := s.plan(Query{Start: t0, End: t0.Add(24 * time.Hour), Points: 24, Metric: tc.m, Dimensions: []Dimension{{Column: "InIfName"}}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _, total := sqlOf(t, p, false)
		check(string(tc.m), total, `SELECT bucket("TimeReceived", ?) AS "t", `+tc.want+` AS "v" FROM "flows_1h0m0s" WHERE "TimeReceived" >= ? AND "TimeReceived" < ? GROUP BY "t" ORDER BY "t"`,
			[]any{int64(3600), t0, t0.Add(24 * time.Hour)})
	}
	// The raw table scales by SamplingRate (0 read as 1).
	for _, tc := range []struct {
		m    Metric
		want string
	}{
		{MetricL2bps, `float(SUM(("Bytes" + 18 * "Packets") * (CASE WHEN "SamplingRate" = 0 THEN 1 ELSE "SamplingRate" END)))`},
		{MetricPPS, `float(SUM(("Packets") * (CASE WHEN "SamplingRate" = 0 THEN 1 ELSE "SamplingRate" END)))`},
		{MetricFlows, `float(SUM((CASE WHEN "SamplingRate" = 0 THEN 1 ELSE "SamplingRate" END)))`},
		{MetricOutL2, `SUM(CASE WHEN "OutIfSpeed" = 0 THEN 0 ELSE float(("Bytes" + 18 * "Packets") * (CASE WHEN "SamplingRate" = 0 THEN 1 ELSE "SamplingRate" END)) / float("OutIfSpeed") END)`},
	} {
		got, _ := quantity(testDialect{}, Table{Name: "flows"}, tc.m)
		if got != tc.want {
			t.Errorf("%s on flows:\n got %s\nwant %s", tc.m, got, tc.want)
		}
	}
}

// nasty are strings a user may type to break out of a parameter.
var nasty = []string{
	`'; DROP TABLE flows; --`, `" OR 1=1 --`, `\'; SELECT 1; --`, `x\`, `/* comment */`, `-- comment`,
	"a\x00b", `%_\%`, `'' OR ''='`, "ünïcödé ☃ \u202e", "`backtick`", `$1`, `?`, "line\nbreak", `\\'\\"`,
	"); DELETE FROM flows WHERE (1=1", "0x27", `\u0027`,
}

func TestInjection(t *testing.T) {
	b := &fakeBackend{tables: allTables()}
	s := newTestStore(b)
	for _, n := range nasty {
		// As filter values...
		for _, col := range []string{"ExporterName", "InIfDescription", "SrcCountry"} {
			for _, op := range []string{"=", "!=", "LIKE", "ILIKE", "UNLIKE", "IUNLIKE"} {
				text := col + " " + op + " " + filter.Literal(n) + " OR " + col + " IN (" + filter.Literal(n) + ", 'x')"
				p, err := s.plan(Query{Start: t0, End: t0.Add(time.Hour), Filter: text, Dimensions: []Dimension{{Column: col}}}, 0)
				if err != nil {
					t.Fatalf("%s: %v", text, err)
				}
				// ...and as dimension values a store returned.
				q := &query{p: p, d: testDialect{}, start: p.start, end: p.end}
				top, _ := q.topSQL(10, -1)
				series, _ := q.seriesSQL([][]string{{n}})
				for _, st := range []*sqlText{top, series} {
					if (n != "?" && strings.Contains(st.String(), n)) || strings.Count(st.String(), "?") != len(st.args) {
						t.Errorf("filter %s: SQL has the text or misses parameters: %s", text, st)
					}
					found := 0
					for _, a := range st.args {
						if a == n {
							found++
						}
					}
					if found == 0 {
						t.Errorf("filter %s: %q not among the parameters", text, n)
					}
				}
			}
		}
	}
}

func TestSavedFilters(t *testing.T) {
	b := &fakeBackend{}
	s := newTestStore(b)
	ctx := context.Background()
	if fs, err := s.SavedFilters(ctx); err != nil || fs == nil || len(fs) != 0 {
		t.Errorf("SavedFilters = %v, %v; want an empty list", fs, err)
	}
	for _, tc := range []struct {
		f    SavedFilter
		want string
	}{
		{SavedFilter{Name: "", Filter: "SrcAS = 1"}, "a saved filter needs a name"},
		{SavedFilter{Name: "x", Filter: " "}, `saved filter "x" is empty`},
		{SavedFilter{Name: "x", Filter: "SrcAS = y"}, `filter: line 1, column 9: expected an AS number (AS15169 or 15169) for SrcAS, got "y"`},
		{SavedFilter{Name: "x\n", Filter: "SrcAS = 1"}, "saved filter name has a control character"},
		{SavedFilter{Name: strings.Repeat("x", 101), Filter: "SrcAS = 1"}, "saved filter name too long: 101 bytes, at most 100"},
	} {
		err := s.SaveFilter(ctx, tc.f)
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("SaveFilter(%+v) = %v, want %s", tc.f, err, tc.want)
		}
	}
	if err := s.SaveFilter(ctx, SavedFilter{Name: "google", Filter: "SrcAS = AS15169"}); err != nil {
		t.Fatal(err)
	}
	if len(b.saved) != 1 || !b.saved[0].Updated.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("saved %+v", b.saved)
	}
	if err := s.DeleteFilter(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeleteFilter(\"\") = %v", err)
	}
}

func BenchmarkFilter(b *testing.B) {
	const text = "InIfBoundary = external AND SrcAS IN (AS15169, 13335) AND NOT DstPort = 443 AND SrcAddr << 192.0.2.0/24 " +
		"AND Proto = tcp AND ExporterName LIKE 'edge%' AND (DstCountry = FR OR DstCountry = 'DE') " +
		"AND InIfSpeed >= 10000 AND OutIfProvider NOT IN (cogent, 'level3')"
	d := testDialect{}
	e, errs := filter.Parse(text)
	if errs != nil {
		b.Fatal(errs)
	}
	n := 0
	filter.Walk(e, func(*filter.Compare) { n++ })
	if n != 10 {
		b.Fatalf("%d clauses", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		e, _ := filter.Parse(text)
		var s sqlText
		if err := renderFilter(&s, d, e, false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCanonicalLike(t *testing.T) {
	for in, want := range map[string]string{
		`abc`: `abc`, `a\%b`: `a\%b`, `a\_b`: `a\_b`, `a\\b`: `a\\b`, `a\sb`: `asb`, `a\`: `a\\`, `\é`: `é`, `%\\%`: `%\\%`,
	} {
		if got := canonicalLike(in); got != want {
			t.Errorf("canonicalLike(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMatch(t *testing.T) {
	col := func(n string) flow.Column { c, _ := flow.ColumnByName(n); return c }
	q := &query{d: testDialect{}}
	for _, tc := range []struct {
		d    dim
		text string
		sql  string
		arg  any
	}{
		{dim{col: col("ExporterName")}, "it's", `"ExporterName" = ?`, "it's"},
		{dim{col: col("SrcAS")}, "64501", `"SrcAS" = ?`, uint64(64501)},
		{dim{col: col("SrcAS")}, "0064501", `text("SrcAS") = ?`, "0064501"},
		{dim{col: col("InIfBoundary")}, "", `"InIfBoundary" = ?`, flow.BoundaryUndefined},
		{dim{col: col("SrcAddr")}, "::ffff:192.0.2.1", `"SrcAddr" = ?`, netip.MustParseAddr("192.0.2.1")},
		{dim{col: col("SrcAddr"), trunc: 24}, "0:0:0:0:0:ffff:c000:200", `"SrcAddr" WITHIN ?`, netip.MustParsePrefix("192.0.2.0/24")},
		{dim{col: col("SrcAddr"), trunc: 64}, "192.0.2.1", `"SrcAddr" = ?`, netip.MustParseAddr("192.0.2.1")},
		{dim{col: col("DstAddr"), trunc: 64}, "2001:db8:1:2::", `"DstAddr" WITHIN ?`, netip.MustParsePrefix("2001:db8:1:2::/64")},
		{dim{col: col("DstAddr"), trunc: 64}, "2001:db8:1:2::1", `text(trunc("DstAddr", ?)) = ?`, "2001:db8:1:2::1"},
		{dim{col: col("DstAddr")}, "", `text("DstAddr") = ?`, ""},
	} {
		var s sqlText
		if err := q.match(&s, tc.d, tc.text); err != nil {
			t.Fatal(err)
		}
		if s.String() != tc.sql || !cmp.Equal(s.args[len(s.args)-1], tc.arg, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
			t.Errorf("match(%s/%d, %q) = %s %v, want %s %v", tc.d.col.Name, tc.d.trunc, tc.text, &s, s.args, tc.sql, tc.arg)
		}
	}
}

func TestPlanTopTable(t *testing.T) {
	s := newTestStore(&fakeBackend{tables: allTables()})
	for _, tc := range []struct {
		name       string
		q          Query
		table, top string
	}{
		{"24h on the hour", Query{Start: t0, End: t0.Add(24 * time.Hour), Points: 200}, "flows_5m0s", "flows_1h0m0s"},
		{"1h on the hour at 1m", Query{Start: t0, End: t0.Add(time.Hour), Points: 60}, "flows_1m0s", "flows_1h0m0s"},
		{"1h on 5 minutes", Query{Start: t0.Add(5 * time.Minute), End: t0.Add(65 * time.Minute), Points: 60}, "flows_1m0s", "flows_5m0s"},
		{"unaligned", Query{Start: t0.Add(time.Minute), End: t0.Add(61 * time.Minute), Points: 60}, "flows_1m0s", "flows_1m0s"},
		{"raw steps, aligned range", Query{Start: t0, End: t0.Add(time.Hour), Points: 360}, "flows", "flows_1h0m0s"},
		{"raw-only dimension", Query{Start: t0, End: t0.Add(time.Hour), Points: 60, Dimensions: []Dimension{{Column: "DstPort"}}}, "flows", "flows"},
		{"filter on Bytes", Query{Start: t0, End: t0.Add(time.Hour), Points: 60, Filter: "Bytes > 0"}, "flows", "flows"},
		{"older than the 1m rollup keeps", Query{Start: t0.Add(-8 * 24 * time.Hour), End: t0.Add(-8*24*time.Hour + time.Hour), Points: 60}, "flows", "flows_1h0m0s"},
	} {
		p, err := s.plan(tc.q, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.table.Name != tc.table || p.topTable.Name != tc.top {
			t.Errorf("%s: tables %s and %s, want %s and %s", tc.name, p.table.Name, p.topTable.Name, tc.table, tc.top)
		}
	}
}
