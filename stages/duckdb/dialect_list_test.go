package duckdb

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowengine/flowengine/flow"
)

// listRecords hold the lists the dialect's list SQL is checked against,
// extremes included.
func listRecords() []flow.Record {
	lc := func(v ...uint32) flow.LargeCommunity {
		return flow.LargeCommunity{ASN: v[0], Local1: v[1], Local2: v[2]}
	}
	recs := make([]flow.Record, 4)
	recs[0].DstASPath = flow.MakeUint32s([]uint32{64500, 64501, 15169})
	recs[0].DstCommunities = flow.MakeUint32s([]uint32{65000<<16 | 100, 65000<<16 | 200})
	recs[0].DstLargeCommunities = flow.MakeLargeCommunities([]flow.LargeCommunity{lc(65000, 1, 2)})
	recs[1].DstASPath = flow.MakeUint32s([]uint32{64500, 3356, 15169})
	recs[1].DstCommunities = flow.MakeUint32s([]uint32{65000<<16 | 100})
	recs[3].DstASPath = flow.MakeUint32s([]uint32{4294967295})
	recs[3].DstCommunities = flow.MakeUint32s([]uint32{1<<32 - 1, 0})
	recs[3].DstLargeCommunities = flow.MakeLargeCommunities([]flow.LargeCommunity{lc(1<<32-1, 1<<32-1, 1<<32-1), lc(0, 0, 0)})
	for i := range recs {
		recs[i].SrcMAC = uint64(i)
	}
	return recs
}

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
	recs := listRecords()
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
		large := func(a, b, c uint32) flow.LargeCommunity { return flow.LargeCommunity{ASN: a, Local1: b, Local2: c} }
		for _, tc := range []struct {
			column string
			op     string
			v      any
			want   string
		}{
			{"DstASPath", "HAS", uint64(64500), "[0 1]"},
			{"DstASPath", "HAS", uint64(3356), "[1]"},
			{"DstASPath", "HAS", uint64(4294967295), "[3]"},
			{"DstASPath", "HAS", uint64(0), "[]"},
			{"DstCommunities", "HAS", uint64(65000<<16 | 100), "[0 1]"},
			{"DstCommunities", "HAS", uint64(0), "[3]"},
			{"DstLargeCommunities", "HAS", large(65000, 1, 2), "[0]"},
			{"DstLargeCommunities", "HAS", large(1<<32-1, 1<<32-1, 1<<32-1), "[3]"},
			{"DstLargeCommunities", "HAS", large(0, 0, 0), "[3]"},
			{"DstASPath", "=", flow.MakeUint32s([]uint32{64500, 3356, 15169}), "[1]"},
			{"DstASPath", "=", flow.MakeUint32s([]uint32{64500, 3356}), "[]"},
			{"DstASPath", "=", flow.Uint32s{}, "[2]"},
			{"DstASPath", "!=", flow.Uint32s{}, "[0 1 3]"},
			{"DstCommunities", "!=", flow.MakeUint32s([]uint32{65000<<16 | 100}), "[0 2 3]"},
			{"DstLargeCommunities", "=", flow.MakeLargeCommunities([]flow.LargeCommunity{large(65000, 1, 2)}), "[0]"},
			{"DstLargeCommunities", "=", flow.LargeCommunities{}, "[1 2]"},
		} {
			sql, args, err := d.Compare(col(tc.column), tc.op, tc.v)
			if err != nil {
				t.Fatalf("%s %s %v: %v", tc.column, tc.op, tc.v, err)
			}
			got := column(t, fmt.Sprintf("COALESCE((SELECT list(\"SrcMAC\" ORDER BY \"SrcMAC\") FROM flows WHERE %s), [])", sql), args...)
			if got[0] == "NULL" || got[0] == "" {
				got[0] = "[]"
			}
			if strings.ReplaceAll(got[0], ",", "") != tc.want {
				t.Errorf("%s %s %v (%s): %s, want %s", tc.column, tc.op, tc.v, sql, got[0], tc.want)
			}
		}
		for _, tc := range []struct {
			column string
			op     string
			v      any
		}{
			{"DstASPath", "HAS", uint64(1 << 32)},
			{"DstASPath", "<", flow.Uint32s{}},
			{"DstASPath", "HAS", flow.LargeCommunity{}},
			{"DstLargeCommunities", "HAS", uint64(1)},
			{"DstLargeCommunities", "=", flow.Uint32s{}},
			{"DstCommunities", "LIKE", "x"},
		} {
			if _, _, err := d.Compare(col(tc.column), tc.op, tc.v); err == nil {
				t.Errorf("%s %s %v: no error", tc.column, tc.op, tc.v)
			}
		}
	})
}
