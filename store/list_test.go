package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/filter"
)

// listRecords: three routes. 64500 64501 15169 with 65000:100 65000:200
// (10000 bits), 64500 3356 15169 with 65000:100 and 65000:1:2 (4000 bits),
// and no route (an empty path: 800 bits).
func listRecords() []flow.Record {
	p1, p2 := flow.MakeUint32s([]uint32{64500, 64501, 15169}), flow.MakeUint32s([]uint32{64500, 3356, 15169})
	c1, c2 := flow.MakeUint32s([]uint32{65000<<16 | 100, 65000<<16 | 200}), flow.MakeUint32s([]uint32{65000<<16 | 100})
	l2 := flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 65000, Local1: 1, Local2: 2}})
	recs := []flow.Record{
		rec(time.Minute, 1, 15169, 1000, 1),
		rec(12*time.Minute, 1, 15169, 250, 1),
		rec(15*time.Minute, 1, 15169, 500, 1),
		rec(55*time.Minute, 1, 0, 100, 1),
	}
	recs[0].DstASPath, recs[0].DstCommunities = p1, c1
	recs[1].DstASPath, recs[1].DstCommunities = p1, c1
	recs[2].DstASPath, recs[2].DstCommunities, recs[2].DstLargeCommunities = p2, c2, l2
	return recs
}

func TestListDimensions(t *testing.T) {
	s := newTestStore(&fakeBackend{recs: listRecords(), tables: allTables()})
	ctx := context.Background()
	for _, tc := range []struct {
		dims []string
		want []string // dimensions=total
	}{
		{[]string{"DstASPath"}, []string{"64500 64501 15169=10000", "64500 3356 15169=4000", "=800"}},
		{[]string{"DstFirstAS"}, []string{"64500=14000", "0=800"}},
		{[]string{"DstLastAS", "DstFirstAS"}, []string{"15169,64500=14000", "0,0=800"}},
		{[]string{"DstCommunities"}, []string{"65000:100 65000:200=10000", "65000:100=4000", "=800"}},
		{[]string{"DstLargeCommunities", "DstASPath"}, []string{",64500 64501 15169=10000", "65000:1:2,64500 3356 15169=4000", ",=800"}},
		// The same column twice is grouped by its text.
		{[]string{"DstFirstAS", "DstFirstAS"}, []string{"64500,64500=14000", "0,0=800"}},
	} {
		t.Run(strings.Join(tc.dims, ","), func(t *testing.T) {
			q := hourQuery(tc.dims...)
			res, err := s.Line(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Table != "flows" {
				t.Errorf("table %s, want flows (lists are not in rollups)", res.Table)
			}
			var got []string
			for _, sr := range res.Series {
				got = append(got, strings.Join(sr.Dimensions, ",")+"="+ftoa(sr.Total))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
}

func ftoa(f float64) string { b, _ := json.Marshal(f); return string(b) }

func TestListSQL(t *testing.T) {
	s := newTestStore(&fakeBackend{tables: allTables()})
	p, err := s.plan(Query{Start: t0, End: t0.Add(time.Hour), Points: 12, Limit: 5,
		Dimensions: []Dimension{{Column: "dstaspath"}, {Column: "DstFirstAS"}},
		Filter:     "DstCommunities HAS 65000:100 AND DstASPath NOT HAS AS3356 AND DstLastAS IN (AS15169, 0) AND DstLargeCommunities != '1:2:3' AND DstFirstAS != 1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.table.Name != "flows" || p.topTable.Name != "flows" {
		t.Errorf("tables %s and %s, want flows (lists are not in rollups)", p.table.Name, p.topTable.Name)
	}
	q := &query{p: p, d: testDialect{}, start: p.start, end: p.end}
	top, err := q.topSQL(6, -1)
	if err != nil {
		t.Fatal(err)
	}
	const (
		qty   = `float(SUM(("Bytes") * (CASE WHEN "SamplingRate" = 0 THEN 1 ELSE "SamplingRate" END)))`
		where = ` FROM "flows" WHERE "TimeReceived" >= ? AND "TimeReceived" < ? AND ("DstCommunities" HAS ? AND NOT ("DstASPath" HAS ?) AND ` +
			`(elem("DstASPath", -1) = ? OR elem("DstASPath", -1) = ?) AND "DstLargeCommunities" != ? AND elem("DstASPath", 1) <> ?)`
	)
	want := `SELECT text("DstASPath") AS "d0", text("DstFirstAS") AS "d1", "v" FROM (SELECT "k0" AS "DstASPath", "k1" AS "DstFirstAS", "v" FROM (` +
		`SELECT key("DstASPath") AS "k0", elem("DstASPath", 1) AS "k1", ` + qty + ` AS "v"` + where +
		` GROUP BY "k0", "k1" ORDER BY "v" DESC LIMIT 6)) ORDER BY "v" DESC, "d0", "d1"`
	if top.String() != want {
		t.Errorf("top SQL:\n got %s\nwant %s", top, want)
	}
	wantArgs := []any{t0, t0.Add(time.Hour), uint64(65000<<16 | 100), uint64(3356), uint64(15169), uint64(0),
		flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 1, Local1: 2, Local2: 3}}), uint64(1)}
	if diff := cmp.Diff(wantArgs, top.args, cmp.Comparer(func(a, b flow.LargeCommunities) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}

	// Query 2 matches the lists and the derived values typed back.
	series, err := q.seriesSQL([][]string{{"64500 64501", "64500"}, {"", "0"}, {"x y", "007"}})
	if err != nil {
		t.Fatal(err)
	}
	const sets = ` AND (("DstASPath" = ? AND elem("DstASPath", 1) = ?) OR ("DstASPath" = ? AND elem("DstASPath", 1) = ?) OR (text("DstASPath") = ? AND text(elem("DstASPath", 1)) = ?))`
	if !strings.Contains(series.String(), sets) {
		t.Errorf("series SQL %s\nwant the sets %s", series, sets)
	}
	n := len(series.args)
	if diff := cmp.Diff([]any{flow.MakeUint32s([]uint32{64500, 64501}), uint64(64500), flow.Uint32s{}, uint64(0), "x y", "007"}, series.args[n-6:],
		cmp.Comparer(func(a, b flow.Uint32s) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("set args (-want +got):\n%s", diff)
	}
}

func TestListMatch(t *testing.T) {
	col := func(n string) flow.Column { c, _ := filter.LookupColumn(n); return c }
	q := &query{d: testDialect{}}
	eq := cmp.Options{cmp.Comparer(func(a, b flow.Uint32s) bool { return a.Equal(b) }), cmp.Comparer(func(a, b flow.LargeCommunities) bool { return a.Equal(b) })}
	for _, tc := range []struct {
		d    dim
		text string
		sql  string
		arg  any
	}{
		{dim{col: col("DstASPath")}, "64500 174", `"DstASPath" = ?`, flow.MakeUint32s([]uint32{64500, 174})},
		{dim{col: col("DstASPath")}, "", `"DstASPath" = ?`, flow.Uint32s{}},
		{dim{col: col("DstASPath")}, "64500  174", `text("DstASPath") = ?`, "64500  174"},
		{dim{col: col("DstCommunities")}, "65000:100 1:2", `"DstCommunities" = ?`, flow.MakeUint32s([]uint32{65000<<16 | 100, 1<<16 | 2})},
		{dim{col: col("DstLargeCommunities")}, "1:2:3", `"DstLargeCommunities" = ?`, flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 1, Local1: 2, Local2: 3}})},
		{dim{col: col("DstLargeCommunities")}, "1:2", `text("DstLargeCommunities") = ?`, "1:2"},
		{dim{col: col("DstLastAS")}, "15169", `elem("DstASPath", -1) = ?`, uint64(15169)},
	} {
		var s sqlText
		if err := q.match(&s, tc.d, tc.text); err != nil {
			t.Fatal(err)
		}
		if s.String() != tc.sql || !cmp.Equal(s.args[len(s.args)-1], tc.arg, eq) {
			t.Errorf("match(%s, %q) = %s %v, want %s %v", tc.d.col.Name, tc.text, &s, s.args, tc.sql, tc.arg)
		}
	}
}

func TestListInjection(t *testing.T) {
	s := newTestStore(&fakeBackend{tables: allTables()})
	for _, n := range nasty {
		// Dimension values a store returned, typed back or not.
		p, err := s.plan(Query{Start: t0, End: t0.Add(time.Hour), Filter: "DstASPath HAS 1 OR DstCommunities NOT HAS 1:2 OR DstLargeCommunities IN ('1:2:3', '')",
			Dimensions: []Dimension{{Column: "DstASPath"}, {Column: "DstCommunities"}, {Column: "DstLastAS"}}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		q := &query{p: p, d: testDialect{}, start: p.start, end: p.end}
		series, err := q.seriesSQL([][]string{{n, n, n}})
		if err != nil {
			t.Fatal(err)
		}
		if (n != "?" && strings.Contains(series.String(), n)) || strings.Count(series.String(), "?") != len(series.args) {
			t.Errorf("%q: SQL has the text or misses parameters: %s", n, series)
		}
	}
}

func TestListColumnsAndLastFlow(t *testing.T) {
	recs := listRecords()
	s := newTestStore(&fakeBackend{recs: recs})
	var derived []string
	for _, c := range s.Columns() {
		switch c.Name {
		case "DstFirstAS", "DstLastAS":
			if !c.Dimension || c.Type != "uint32" || !strings.Contains(c.Description, "DstASPath") {
				t.Errorf("column %+v", c)
			}
			derived = append(derived, c.Name)
		case "DstASPath", "DstCommunities", "DstLargeCommunities":
			if !c.Dimension || c.Type == "unknown" {
				t.Errorf("column %+v", c)
			}
		}
	}
	if len(derived) != 2 {
		t.Errorf("derived columns %v", derived)
	}

	for _, i := range []int{2, 3} { // with lists, and with empty ones
		s := newTestStore(&fakeBackend{recs: recs[:i+1]})
		last, err := s.LastFlow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		dec := json.NewDecoder(jsonReader(flow.AppendJSON(nil, &recs[i])))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, last); diff != "" {
			t.Errorf("last flow (-want +got):\n%s", diff)
		}
	}
}

func TestListPlan(t *testing.T) {
	s := newTestStore(&fakeBackend{tables: allTables()})
	for _, tc := range []struct {
		name string
		q    Query
	}{
		{"dimension", Query{Dimensions: []Dimension{{Column: "DstCommunities"}}}},
		{"derived dimension", Query{Dimensions: []Dimension{{Column: "DstLastAS"}}}},
		{"filter", Query{Filter: "DstLargeCommunities HAS 1:2:3"}},
		{"derived filter", Query{Filter: "DstFirstAS = AS3356"}},
	} {
		tc.q.Start, tc.q.End, tc.q.Points = t0, t0.Add(24*time.Hour), 24
		p, err := s.plan(tc.q, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.table.Name != "flows" || p.topTable.Name != "flows" {
			t.Errorf("%s: tables %s and %s, want flows", tc.name, p.table.Name, p.topTable.Name)
		}
	}
	if _, err := s.plan(Query{Start: t0, End: t0.Add(time.Hour), Dimensions: []Dimension{{Column: "DstASPath", Truncate: 8}}}, 0); err == nil ||
		err.Error() != "DstASPath is not an address: it cannot be truncated" {
		t.Errorf("truncated list: %v", err)
	}
}

func TestSetTextLists(t *testing.T) {
	var r flow.Record
	for name, text := range map[string]string{
		"DstASPath": "64500 64501 15169", "DstCommunities": " 65000:100  65000:200", "DstLargeCommunities": "65000:1:2 4294967295:0:7",
	} {
		c, _ := flow.ColumnByName(name)
		if err := setText(&r, c, text); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.DstASPath.String() + "|" + r.DstCommunities.CommunityString() + "|" + r.DstLargeCommunities.String(); got != "64500 64501 15169|65000:100 65000:200|65000:1:2 4294967295:0:7" {
		t.Errorf("lists read back as %s", got)
	}
	c, _ := flow.ColumnByName("DstCommunities")
	if err := setText(&r, c, "65000"); err == nil || err.Error() != `communities "65000" not understood` {
		t.Errorf("bad communities: %v", err)
	}
	if err := setText(&r, c, ""); err != nil || r.DstCommunities.Len() != 0 {
		t.Errorf("empty communities: %v, %v", err, r.DstCommunities)
	}
}

func TestListComplete(t *testing.T) {
	recs := listRecords()
	for i := range recs {
		recs[i].TimeReceived = recs[i].TimeReceived.Add(time.Hour) // the last hour
	}
	s := newTestStore(&fakeBackend{recs: recs})
	ctx := context.Background()
	v := func(label, col string) Completion {
		return Completion{Label: label, Detail: col + " seen in the last hour", Kind: "value"}
	}
	for _, tc := range []struct {
		text string
		want []Completion
	}{
		{"DstASPath HAS ", []Completion{v("AS15169", "DstASPath"), v("AS64500", "DstASPath"), v("AS64501", "DstASPath"), v("AS3356", "DstASPath")}},
		{"DstASPath HAS as645", []Completion{v("AS64500", "DstASPath"), v("AS64501", "DstASPath")}},
		{"DstCommunities NOT HAS 65000:1", []Completion{v("65000:100", "DstCommunities")}},
		{"DstLargeCommunities HAS ", []Completion{v("65000:1:2", "DstLargeCommunities")}},
		{"DstFirstAS = ", []Completion{v("AS64500", "DstFirstAS")}},
		{"DstASPath = ", []Completion{}},
		{"DstASPath N", []Completion{
			{Label: "NOT HAS", Detail: "the list does not hold the value", Kind: "operator"},
			{Label: "NOT IN", Detail: "none of a list of values", Kind: "operator"},
		}},
	} {
		got, err := s.Complete(ctx, tc.text, len(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Complete(%q) (-want +got):\n%s", tc.text, diff)
		}
	}
}

func BenchmarkFilterLists(b *testing.B) {
	const text = "DstASPath HAS AS3356 AND NOT DstCommunities HAS 65000:100 AND DstLargeCommunities NOT HAS 65000:1:2 " +
		"AND DstFirstAS IN (AS174, AS1299) AND DstLastAS != 0 AND DstASPath != '64500 64500 64500' AND SrcAS = AS15169"
	d := testDialect{}
	b.ReportAllocs()
	for b.Loop() {
		e, errs := filter.Parse(text)
		if errs != nil {
			b.Fatal(errs)
		}
		var s sqlText
		if err := renderFilter(&s, d, e, false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTopFilter: the widgets' top values of the flows that match a filter,
// e.g. the AS paths of the flows that have a route (the fake backend does
// not filter: the SQL says what the store asks); the filter's values reach
// the SQL as parameters, a bad filter is refused before any query.
func TestTopFilter(t *testing.T) {
	recs := listRecords()
	for i := range recs {
		recs[i].TimeReceived = recs[i].TimeReceived.Add(time.Hour) // within the hour before now (t0+2h)
	}
	b := &fakeBackend{recs: recs, tables: allTables()}
	s := newTestStore(b)
	ctx := context.Background()
	res, err := s.Top(ctx, "DstASPath", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, r.Dimensions[0]+"="+ftoa(r.Total))
	}
	if diff := cmp.Diff([]string{"64500 64501 15169=10000", "64500 3356 15169=4000", "=800"}, got); diff != "" {
		t.Errorf("Top(DstASPath) (-want +got):\n%s", diff)
	}
	eq := cmp.Comparer(func(a, b flow.Uint32s) bool { return a.Equal(b) })
	for _, tc := range []struct {
		dim, filter, where string
		arg                any
	}{
		{"DstASPath", "DstASPath != ''", `"DstASPath" != ?`, flow.Uint32s{}},
		{"DstFirstAS", "DstFirstAS != 0", `elem("DstASPath", 1) <> ?`, uint64(0)},
		{"DstASPath", "DstASPath HAS AS3356", `"DstASPath" HAS ?`, uint64(3356)},
		{"DstCountry", "DstCountry != ''", `"DstCountry" != ?`, ""},
	} {
		n := len(b.queries)
		res, err := s.Top(ctx, tc.dim, tc.filter)
		if err != nil {
			t.Fatalf("Top(%s, %q): %v", tc.dim, tc.filter, err)
		}
		if res.Table != "flows" && tc.dim != "DstCountry" {
			t.Errorf("Top(%s, %q) read %s, want flows (lists are not in rollups)", tc.dim, tc.filter, res.Table)
		}
		if len(b.queries) == n {
			t.Fatalf("Top(%s, %q) asked nothing", tc.dim, tc.filter)
		}
		for i, q := range b.queries[n:] {
			if !strings.Contains(q, ` AND (`+tc.where+`)`) && !strings.Contains(q, ` AND `+tc.where) {
				t.Errorf("Top(%s, %q) SQL %s\nwant %s", tc.dim, tc.filter, q, tc.where)
			}
			if !slices.ContainsFunc(b.args[n+i], func(a any) bool { return cmp.Equal(a, tc.arg, eq) }) {
				t.Errorf("Top(%s, %q) args %v, want %#v", tc.dim, tc.filter, b.args[n+i], tc.arg)
			}
		}
	}

	const evil = `x'; DROP TABLE flows; --`
	n := len(b.queries)
	if _, err := s.Top(ctx, "DstASPath", `ExporterName = "`+evil+`"`); err != nil {
		t.Fatal(err)
	}
	for i, q := range b.queries[n:] {
		if strings.Contains(q, "DROP") {
			t.Errorf("the filter's text is in the SQL: %s", q)
		}
		if !slices.Contains(b.args[n+i], any(evil)) {
			t.Errorf("the filter's text is not a parameter: %v", b.args[n+i])
		}
	}

	n = len(b.queries)
	for _, f := range []string{"DstASPath = = ''", "1=1", "DstPort = 443; DROP TABLE flows", "DstASPath HAS 65000:100"} {
		_, err := s.Top(ctx, "DstASPath", f)
		var fe *InvalidFilterError
		if !errors.As(err, &fe) || len(fe.Errors) == 0 {
			t.Errorf("Top(DstASPath, %q) = %v, want an invalid filter", f, err)
		}
	}
	if len(b.queries) != n {
		t.Errorf("bad filters reached the backend: %q", b.queries[n:])
	}
}
