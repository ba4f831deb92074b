package duckdb

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/dialecttest"
)

func TestDialectLists(t *testing.T) {
	ctx := context.Background()
	db, err := openDB(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE flows ("SrcMAC" UBIGINT, "DstASPath" UINTEGER[], "DstCommunities" UINTEGER[], "DstLargeCommunities" UHUGEINT[])`); err != nil {
		t.Fatal(err)
	}
	recs := dialecttest.ListRecords()
	for _, r := range recs {
		u32 := func(l flow.Uint32s) string {
			var parts []string
			for v := range l.All() {
				parts = append(parts, fmt.Sprint(v))
			}
			return "[" + strings.Join(parts, ", ") + "]::UINTEGER[]"
		}
		var large []string
		for c := range r.DstLargeCommunities.All() {
			large = append(large, "'"+largeParam(c)+"'::UHUGEINT")
		}
		q := fmt.Sprintf("INSERT INTO flows VALUES (%d, %s, %s, [%s]::UHUGEINT[])", r.SrcMAC, u32(r.DstASPath), u32(r.DstCommunities), strings.Join(large, ", "))
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	d := Dialect{}
	col := func(name string) flow.Column { c, _ := flow.ColumnByName(name); return c }
	// column reads expr for every row, in order.
	column := func(t *testing.T, expr string, args ...any) []string {
		t.Helper()
		rows, err := db.QueryContext(ctx, "SELECT CAST(("+expr+") AS VARCHAR) FROM flows ORDER BY \"SrcMAC\"", args...)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		defer rows.Close()
		var out []string
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
			got := column(t, sql, args...)
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
			n := column(t, "(SELECT count(DISTINCT "+key+") FROM flows)")
			distinct := map[string]bool{}
			for _, g := range got {
				distinct[g] = true
			}
			if n[0] != fmt.Sprint(len(distinct)) {
				t.Errorf("%s: %s distinct keys, %d distinct texts", name, n[0], len(distinct))
			}
		}
	})

	t.Run("ListElements", func(t *testing.T) {
		for name, want := range map[string]string{
			"DstASPath":           "15169 15169 3356 4294967295 64500 64500 64501",
			"DstCommunities":      "0:0 65000:100 65000:100 65000:200 65535:65535",
			"DstLargeCommunities": "0:0:0 4294967295:4294967295:4294967295 65000:1:2",
		} {
			got := column(t, "(SELECT array_to_string(list(e ORDER BY e), ' ') FROM (SELECT "+d.ListElements(col(name))+" AS e FROM flows))")
			if len(got) == 0 || got[0] != want {
				t.Errorf("elements of %s: %v, want %s", name, got, want)
			}
		}
	})

	t.Run("ListElement", func(t *testing.T) {
		first := column(t, d.UintText(d.ListElement(col("DstASPath"), 1)))
		last := column(t, d.UintText(d.ListElement(col("DstASPath"), -1)))
		if want := []string{"64500", "64500", "0", "4294967295"}; fmt.Sprint(first) != fmt.Sprint(want) {
			t.Errorf("first AS %v, want %v", first, want)
		}
		if want := []string{"15169", "15169", "0", "4294967295"}; fmt.Sprint(last) != fmt.Sprint(want) {
			t.Errorf("last AS %v, want %v", last, want)
		}
	})

	t.Run("Compare", func(t *testing.T) {
		for _, tc := range dialecttest.ListCompares {
			sql, args, err := d.Compare(col(tc.Column), tc.Op, tc.Value)
			if err != nil {
				t.Fatalf("%s %s %v: %v", tc.Column, tc.Op, tc.Value, err)
			}
			got := column(t, fmt.Sprintf("COALESCE((SELECT list(\"SrcMAC\" ORDER BY \"SrcMAC\") FROM flows WHERE %s), [])", sql), args...)
			if got[0] == "NULL" || got[0] == "" {
				got[0] = "[]"
			}
			if strings.ReplaceAll(got[0], ",", "") != tc.Want {
				t.Errorf("%s %s %v (%s): %s, want %s", tc.Column, tc.Op, tc.Value, sql, got[0], tc.Want)
			}
		}
		for _, tc := range dialecttest.BadListCompares {
			if _, _, err := d.Compare(col(tc.Column), tc.Op, tc.Value); err == nil {
				t.Errorf("%s %s %v: no error", tc.Column, tc.Op, tc.Value)
			}
		}
	})
}
