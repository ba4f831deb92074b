package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/flowengine/flowengine/flow"
)

// dialectListRecords hold the lists the dialect's list SQL is checked
// against, extremes included.
func dialectListRecords() []flow.Record {
	lc := func(a, b, c uint32) flow.LargeCommunity { return flow.LargeCommunity{ASN: a, Local1: b, Local2: c} }
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
	recs := dialectListRecords()
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
		lc := func(a, b, c uint32) flow.LargeCommunity { return flow.LargeCommunity{ASN: a, Local1: b, Local2: c} }
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
			{"DstLargeCommunities", "HAS", lc(65000, 1, 2), "[0]"},
			{"DstLargeCommunities", "HAS", lc(1<<32-1, 1<<32-1, 1<<32-1), "[3]"},
			{"DstLargeCommunities", "HAS", lc(0, 0, 0), "[3]"},
			{"DstASPath", "=", flow.MakeUint32s([]uint32{64500, 3356, 15169}), "[1]"},
			{"DstASPath", "=", flow.MakeUint32s([]uint32{64500, 3356}), "[]"},
			{"DstASPath", "=", flow.Uint32s{}, "[2]"},
			{"DstASPath", "!=", flow.Uint32s{}, "[0 1 3]"},
			{"DstCommunities", "!=", flow.MakeUint32s([]uint32{65000<<16 | 100}), "[0 2 3]"},
			{"DstLargeCommunities", "=", flow.MakeLargeCommunities([]flow.LargeCommunity{lc(65000, 1, 2)}), "[0]"},
			{"DstLargeCommunities", "=", flow.LargeCommunities{}, "[1 2]"},
		} {
			sql, args, err := d.Compare(col(tc.column), tc.op, tc.v)
			if err != nil {
				t.Fatalf("%s %s %v: %v", tc.column, tc.op, tc.v, err)
			}
			if got := fmt.Sprint(column(t, "SrcMAC", sql, args...)); got != tc.want {
				t.Errorf("%s %s %v (%s %v): %s, want %s", tc.column, tc.op, tc.v, sql, args, got, tc.want)
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
			{"SrcAS", "HAS", uint64(1)},
		} {
			if _, _, err := d.Compare(col(tc.column), tc.op, tc.v); err == nil {
				t.Errorf("%s %s %v: no error", tc.column, tc.op, tc.v)
			}
		}
	})
}
