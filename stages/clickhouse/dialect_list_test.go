package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/dialecttest"
)

// TestDialectLists checks the list SQL of the dialect against a table of
// the list columns' types on each server, filled with SQL literals.
func TestDialectLists(t *testing.T) { forEachServer(t, testDialectLists) }

func testDialectLists(t *testing.T, srv *chServer) {
	ctx := context.Background()
	db := testDB(t, srv)
	conn := srv.client(t)
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		t.Fatal(err)
	}
	ver, err := parseVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	d := dialect{f: featuresOf(ver)}
	largeType, large := "Array(FixedString(12))", func(c flow.LargeCommunity) string {
		return fmt.Sprintf("toFixedString(unhex('%08X%08X%08X'), 12)", c.ASN, c.Local1, c.Local2)
	}
	if d.largeUInt128() {
		largeType = "Array(UInt128)"
		large = func(c flow.LargeCommunity) string {
			_, arg := d.largeParam(c)
			return fmt.Sprintf("toUInt128('%s')", arg)
		}
	}
	for _, q := range []string{
		"CREATE DATABASE " + db,
		fmt.Sprintf("CREATE TABLE %s.flows (SrcMAC UInt64, DstASPath Array(UInt32), DstCommunities Array(UInt32), DstLargeCommunities %s) ENGINE = Memory", db, largeType),
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	recs := dialecttest.ListRecords()
	for _, r := range recs {
		u32 := func(l flow.Uint32s) string {
			var parts []string
			for v := range l.All() {
				parts = append(parts, fmt.Sprintf("toUInt32(%d)", v))
			}
			return "[" + strings.Join(parts, ", ") + "]"
		}
		var ls []string
		for c := range r.DstLargeCommunities.All() {
			ls = append(ls, large(c))
		}
		lcs := "[" + strings.Join(ls, ", ") + "]"
		if len(ls) == 0 {
			lcs = "CAST([] AS " + largeType + ")"
		}
		q := fmt.Sprintf("INSERT INTO %s.flows SELECT %d, %s, %s, %s", db, r.SrcMAC, u32(r.DstASPath), u32(r.DstCommunities), lcs)
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	col := func(name string) flow.Column { c, _ := flow.ColumnByName(name); return c }
	// column reads expr, as text, for every row in order.
	column := func(t *testing.T, expr string, where string, args ...any) []string {
		t.Helper()
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT toString(%s) FROM %s.flows WHERE %s ORDER BY SrcMAC", expr, db, where), args...)
		if err != nil {
			t.Fatalf("%s WHERE %s %v: %v", expr, where, args, err)
		}
		defer rows.Close()
		out := []string{}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("Dimension", func(t *testing.T) {
		for _, name := range []string{"DstASPath", "DstCommunities", "DstLargeCommunities"} {
			sql, args := d.Dimension(col(name), 0)
			got := column(t, sql, "1", args...)
			for i, r := range recs {
				var want string
				switch name {
				case "DstASPath":
					want = r.DstASPath.String()
				case "DstCommunities":
					want = r.DstCommunities.CommunityString()
				default:
					want = r.DstLargeCommunities.String()
				}
				if got[i] != want {
					t.Errorf("%s of flow %d: %q, want %q", name, i, got[i], want)
				}
			}
			// The Key groups as the text does.
			key, _ := d.Key(col(name), 0)
			var n uint64
			if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count() FROM (SELECT %s AS k FROM %s.flows GROUP BY k)", key, db)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			distinct := map[string]bool{}
			for _, g := range got {
				distinct[g] = true
			}
			if n != uint64(len(distinct)) {
				t.Errorf("%s: %d distinct keys, %d distinct texts", name, n, len(distinct))
			}
		}
	})

	t.Run("ListElements", func(t *testing.T) {
		for name, want := range map[string]string{
			"DstASPath":           "15169 15169 3356 4294967295 64500 64500 64501",
			"DstCommunities":      "0:0 65000:100 65000:100 65000:200 65535:65535",
			"DstLargeCommunities": "0:0:0 4294967295:4294967295:4294967295 65000:1:2",
		} {
			var got string
			q := fmt.Sprintf("SELECT arrayStringConcat(arraySort(groupArray(e)), ' ') FROM (SELECT %s AS e FROM %s.flows)", d.ListElements(col(name)), db)
			if err := conn.QueryRow(ctx, q).Scan(&got); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if got != want {
				t.Errorf("elements of %s: %s, want %s", name, got, want)
			}
		}
	})

	t.Run("ListElement", func(t *testing.T) {
		first := column(t, d.UintText(d.ListElement(col("DstASPath"), 1)), "1")
		last := column(t, d.UintText(d.ListElement(col("DstASPath"), -1)), "1")
		if want := []string{"64500", "64500", "0", "4294967295"}; fmt.Sprint(first) != fmt.Sprint(want) {
			t.Errorf("first AS %v, want %v", first, want)
		}
		if want := []string{"15169", "15169", "0", "4294967295"}; fmt.Sprint(last) != fmt.Sprint(want) {
			t.Errorf("last AS %v, want %v", last, want)
		}
		if got := column(t, "SrcMAC", d.ListElement(col("DstASPath"), -1)+" = ?", uint64(15169)); fmt.Sprint(got) != "[0 1]" {
			t.Errorf("last AS = 15169: %v", got)
		}
	})

	t.Run("Compare", func(t *testing.T) {
		for _, tc := range dialecttest.ListCompares {
			sql, args, err := d.Compare(col(tc.Column), tc.Op, tc.Value)
			if err != nil {
				t.Fatalf("%s %s %v: %v", tc.Column, tc.Op, tc.Value, err)
			}
			if got := fmt.Sprint(column(t, "SrcMAC", sql, args...)); got != tc.Want {
				t.Errorf("%s %s %v (%s %v): %s, want %s", tc.Column, tc.Op, tc.Value, sql, args, got, tc.Want)
			}
		}
		for _, tc := range dialecttest.BadListCompares {
			if _, _, err := d.Compare(col(tc.Column), tc.Op, tc.Value); err == nil {
				t.Errorf("%s %s %v: no error", tc.Column, tc.Op, tc.Value)
			}
		}
	})
}
