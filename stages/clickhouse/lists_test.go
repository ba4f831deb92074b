package clickhouse

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/flow"
)

// withoutLists is the schema before the BGP list columns.
func withoutLists() []flow.Column {
	var cols []flow.Column
	for _, c := range flow.Columns {
		if !c.Kind.IsList() {
			cols = append(cols, c)
		}
	}
	return cols
}

// largeCommunityRaw renders large community c as readRaw reads it on a
// server with f: the UInt128 in decimal, or the FixedString(12) in hex.
func largeCommunityRaw(f features, c flow.LargeCommunity) string {
	if f.UInt128 {
		hi, lo := c.Uint128()
		v := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		return v.Or(v, new(big.Int).SetUint64(lo)).String()
	}
	return strings.ToUpper(fmt.Sprintf("%08x%08x%08x", c.ASN, c.Local1, c.Local2))
}

// TestListColumns inserts every combination of the test lists (empty, one
// value, many, the largest values) and reads them back: as text, and as the
// values the columns hold (the UInt128 packing, or the big-endian bytes of
// the FixedString(12) fallback). It also checks has() with a parameter, as
// filters use it.
func TestListColumns(t *testing.T) { forEachServer(t, testListColumns) }

func testListColumns(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "batch_size = 100\nbatch_timeout = \"50ms\"")
	provision(t, s)
	f := *s.features

	// Flow i has path i%4, communities (i/4)%3, large communities (i/12)%4:
	// 48 flows hold every combination.
	const n = 48
	edit := func(i int, r *flow.Record) {
		r.DstASPath = testASPaths[i%4]
		r.DstCommunities = testCommunities[(i/4)%3]
		r.DstLargeCommunities = testLargeCommunities[(i/12)%4]
	}
	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	var done atomic.Int64
	now := time.Now().UTC().Truncate(time.Second)
	feed(context.Background(), in, 0, n, 7, now, &done, edit) // batches of 7: lists span block boundaries
	close(in)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}

	ctx := context.Background()
	conn := srv.client(t)
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT toUInt64(Bytes), %s, %s, %s, arrayStringConcat(arrayMap(x -> %s, DstLargeCommunities), ' '), "+
		"length(DstASPath), length(DstCommunities), length(DstLargeCommunities) FROM %s.flows ORDER BY Bytes",
		"arrayStringConcat(arrayMap(x -> toString(x), DstASPath), ' ')",
		"arrayStringConcat(arrayMap(x -> toString(x), DstCommunities), ' ')",
		"arrayStringConcat(arrayMap(x -> "+largeCommunityText(f, "x")+", DstLargeCommunities), ' ')",
		map[bool]string{true: "toString(x)", false: "hex(x)"}[f.UInt128], db))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for rows.Next() {
		var bytes, lp, lc, llc uint64
		var path, comms, large, raw string
		if err := rows.Scan(&bytes, &path, &comms, &large, &raw, &lp, &lc, &llc); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d: path [%s] %d, communities [%s] %d, large [%s] %d, raw [%s]", bytes, path, lp, comms, lc, large, llc, raw))
	}
	rows.Close()
	for i := range n {
		var r flow.Record
		makeFlow(&r, i, now)
		edit(i, &r)
		var raw []string
		for c := range r.DstLargeCommunities.All() {
			raw = append(raw, largeCommunityRaw(f, c))
		}
		want = append(want, fmt.Sprintf("%d: path [%s] %d, communities [%s] %d, large [%s] %d, raw [%s]", r.Bytes,
			r.DstASPath, r.DstASPath.Len(), r.DstCommunities, r.DstCommunities.Len(),
			r.DstLargeCommunities, r.DstLargeCommunities.Len(), strings.Join(raw, " ")))
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("lists (-got +want):\n%s", diff)
	}

	// has() with the value as a query parameter, never in the SQL text.
	large := flow.LargeCommunity{ASN: 4200000000, Local1: 0, Local2: 7}
	hi, lo := large.Uint128()
	largeArg := any(new(big.Int).Or(new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64), new(big.Int).SetUint64(lo)).String())
	largeExpr := "toUInt128(?)"
	if !f.UInt128 {
		largeArg = hex.EncodeToString([]byte{0xfa, 0x56, 0xea, 0x00, 0, 0, 0, 0, 0, 0, 0, 7})
		largeExpr = "toFixedString(unhex(?), 12)"
	}
	for _, tc := range []struct {
		cond string
		arg  any
		want func(r *flow.Record) bool
	}{
		{"has(DstASPath, ?)", uint32(3356), func(r *flow.Record) bool { return r.DstASPath.Contains(3356) }},
		{"has(DstASPath, ?)", uint32(4294967295), func(r *flow.Record) bool { return r.DstASPath.Contains(4294967295) }},
		{"DstASPath[-1] = ?", uint32(15169), func(r *flow.Record) bool {
			return r.DstASPath.Len() > 0 && r.DstASPath.At(r.DstASPath.Len()-1) == 15169
		}},
		{"has(DstCommunities, ?)", uint32(65000<<16 | 200), func(r *flow.Record) bool { return r.DstCommunities.Contains(65000<<16 | 200) }},
		{"NOT has(DstCommunities, ?)", uint32(65000<<16 | 100), func(r *flow.Record) bool { return !r.DstCommunities.Contains(65000<<16 | 100) }},
		{"has(DstLargeCommunities, " + largeExpr + ")", largeArg, func(r *flow.Record) bool { return r.DstLargeCommunities.Contains(large) }},
	} {
		var wantN uint64
		for i := range n {
			var r flow.Record
			makeFlow(&r, i, now)
			edit(i, &r)
			if tc.want(&r) {
				wantN++
			}
		}
		var gotN uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".flows WHERE "+tc.cond, tc.arg).Scan(&gotN); err != nil {
			t.Errorf("%s: %v", tc.cond, err)
			continue
		}
		if gotN != wantN || wantN == 0 {
			t.Errorf("%s with %v: %d flows, want %d", tc.cond, tc.arg, gotN, wantN)
		}
	}
}

// TestPlanAddsListColumns provisions the flows table as it was before the
// list columns, with rollups on the server or in the engine: the plan adds
// the three columns to flows and changes nothing else (the rollup tables
// and views do not keep lists), and the rows inserted before read back as
// empty lists.
func TestPlanAddsListColumns(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *chServer) {
		for _, in := range []string{consolidateInEngine, consolidateInServer} {
			t.Run(in, func(t *testing.T) { testPlanAddsListColumns(t, srv, in) })
		}
	})
}

func testPlanAddsListColumns(t *testing.T, srv *chServer, consolidateIn string) {
	db := testDB(t, srv)
	ctx := context.Background()
	extra := fmt.Sprintf("batch_size = 100\nbatch_timeout = \"50ms\"\nconsolidate_in = %q", consolidateIn)
	old, _ := newSink(t, srv, db, extra)
	old.columns = withoutLists()
	provision(t, old)
	insert := func(s *Sink, first, n int) {
		t.Helper()
		in := make(chan *flow.Batch, 4)
		errc := runSink(t, s, in)
		var done atomic.Int64
		feed(ctx, in, first, n, 10, time.Now().UTC(), &done, nil)
		close(in)
		if err := <-errc; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	insert(old, 0, 20)

	s, _ := newSink(t, srv, db, extra)
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"+ clickhouse column " + db + ".flows.DstASPath",
		"+ clickhouse column " + db + ".flows.DstCommunities",
		"+ clickhouse column " + db + ".flows.DstLargeCommunities",
	}
	if diff := cmp.Diff(actions(plan), want); diff != "" {
		t.Fatalf("plan (-got +want):\n%s", diff)
	}
	if add, change, destroy := plan.Counts(); add != 3 || change != 0 || destroy != 0 {
		t.Errorf("counts %d/%d/%d, want 3/0/0", add, change, destroy)
	}
	wantType := map[string]string{"DstASPath": "Array(UInt32)", "DstCommunities": "Array(UInt32)", "DstLargeCommunities": s.features.columnType(flow.Columns[flow.ColDstLargeCommunities])}
	for _, c := range plan.Changes {
		name := c.Resource[strings.LastIndexByte(c.Resource, '.')+1:]
		if !slices.Contains(c.Details, "type "+wantType[name]) {
			t.Errorf("%s: details %q, want type %s", c.Resource, c.Details, wantType[name])
		}
	}
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Plan(ctx); err != nil || len(again.Changes) != 0 {
		t.Fatalf("second plan: %q, %v; want no change", actions(again), err)
	}
	insert(s, 20, 20)

	conn := srv.client(t)
	rows, err := conn.Query(ctx, "SELECT toUInt64(Bytes), length(DstASPath), length(DstCommunities), length(DstLargeCommunities) FROM "+db+".flows ORDER BY Bytes")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got, wantRows []string
	for rows.Next() {
		var b, p, c, l uint64
		if err := rows.Scan(&b, &p, &c, &l); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %d %d %d", b, p, c, l))
	}
	for i := range 40 {
		var r flow.Record
		makeFlow(&r, i, time.Now())
		if i < 20 { // inserted before the columns existed
			r.DstASPath, r.DstCommunities, r.DstLargeCommunities = flow.Uint32s{}, flow.Uint32s{}, flow.LargeCommunities{}
		}
		wantRows = append(wantRows, fmt.Sprintf("%d %d %d %d", r.Bytes, r.DstASPath.Len(), r.DstCommunities.Len(), r.DstLargeCommunities.Len()))
	}
	if diff := cmp.Diff(got, wantRows); diff != "" {
		t.Errorf("rows (-got +want):\n%s", diff)
	}
}

// TestEncodeLists checks the native encoding of list columns against
// ch-go's own Array columns, for a block that starts past the buffer's
// first row.
func TestEncodeLists(t *testing.T) {
	recs := make([]flow.Record, 12)
	for i := range recs {
		recs[i].DstASPath = testASPaths[i%len(testASPaths)]
		recs[i].DstCommunities = testCommunities[i%len(testCommunities)]
		recs[i].DstLargeCommunities = testLargeCommunities[i%len(testLargeCommunities)]
	}
	const lo, hi = 3, 11
	var cols []flow.Column
	for _, c := range flow.Columns {
		if c.Kind.IsList() {
			cols = append(cols, c)
		}
	}
	rb := newRowBuffer(cols, features{})
	rb.append(recs[:5])
	rb.append(recs[5:])

	for _, typ := range []string{"Array(UInt32)", "Array(UInt128)", largeCommunitiesFallback} {
		for _, cb := range rb.cols {
			if (typ == "Array(UInt32)") != (cb.col.Kind != flow.KindLargeCommunities) {
				continue
			}
			var got, want proto.Buffer
			if err := cb.encode(&got, typ, lo, hi); err != nil {
				t.Fatal(err)
			}
			switch typ {
			case "Array(UInt32)":
				arr := proto.NewArray[uint32](new(proto.ColUInt32))
				for _, r := range recs[lo:hi] {
					arr.Append(flow.Access(cb.col.Name).Uint32s(&r).AppendTo(nil))
				}
				arr.EncodeColumn(&want)
			case "Array(UInt128)":
				arr := proto.NewArray[proto.UInt128](new(proto.ColUInt128))
				for _, r := range recs[lo:hi] {
					var v []proto.UInt128
					for c := range r.DstLargeCommunities.All() {
						hi, lo := c.Uint128()
						v = append(v, proto.UInt128{High: hi, Low: lo})
					}
					arr.Append(v)
				}
				arr.EncodeColumn(&want)
			default:
				arr := proto.NewArray[[]byte](&proto.ColFixedStr{Size: 12})
				for _, r := range recs[lo:hi] {
					var v [][]byte
					for c := range r.DstLargeCommunities.All() {
						b := binary.BigEndian.AppendUint32(nil, c.ASN)
						b = binary.BigEndian.AppendUint32(b, c.Local1)
						v = append(v, binary.BigEndian.AppendUint32(b, c.Local2))
					}
					arr.Append(v)
				}
				arr.EncodeColumn(&want)
			}
			if diff := cmp.Diff(got.Buf, want.Buf); diff != "" {
				t.Errorf("%s as %s (-got +want):\n%s", cb.col.Name, typ, diff)
			}
		}
	}
	for _, cb := range rb.cols {
		if err := cb.encode(new(proto.Buffer), "Array(String)", lo, hi); err == nil {
			t.Errorf("%s: no error for Array(String)", cb.col.Name)
		}
	}
}

// TestLargeCommunitiesFallbackKept runs the sink on a flows table whose
// DstLargeCommunities is Array(FixedString(12)), as created before the
// server was upgraded to one with UInt128: the plan leaves the column as it
// is, and the sink writes and reads that layout.
func TestLargeCommunitiesFallbackKept(t *testing.T) {
	forEachServer(t, testLargeCommunitiesFallbackKept)
}

func testLargeCommunitiesFallbackKept(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	ctx := context.Background()
	extra := "batch_size = 100\nbatch_timeout = \"50ms\""
	old, _ := newSink(t, srv, db, extra)
	old.columns = withoutLists()
	provision(t, old)
	conn := srv.client(t)
	for _, stmt := range []string{
		"ALTER TABLE " + db + ".flows ADD COLUMN DstASPath Array(UInt32)",
		"ALTER TABLE " + db + ".flows ADD COLUMN DstCommunities Array(UInt32)",
		"ALTER TABLE " + db + ".flows ADD COLUMN DstLargeCommunities " + largeCommunitiesFallback,
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}

	s, _ := newSink(t, srv, db, extra)
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Changes) != 0 {
		t.Fatalf("plan: %q, want no change", actions(plan))
	}
	if s.features.UInt128 {
		t.Errorf("features say UInt128 for a FixedString(12) column")
	}
	if typ := s.features.columnType(flow.Columns[flow.ColDstLargeCommunities]); typ != largeCommunitiesFallback {
		t.Errorf("DstLargeCommunities is %s, want %s", typ, largeCommunitiesFallback)
	}

	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	var done atomic.Int64
	now := time.Now().UTC()
	feed(ctx, in, 0, 8, 3, now, &done, nil)
	close(in)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	rows, err := conn.Query(ctx, "SELECT arrayStringConcat(arrayMap(x -> "+largeCommunityText(features{}, "x")+", DstLargeCommunities), ' ') FROM "+db+".flows ORDER BY Bytes")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got, want []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	for i := range 8 {
		var r flow.Record
		makeFlow(&r, i, now)
		want = append(want, r.DstLargeCommunities.String())
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("large communities (-got +want):\n%s", diff)
	}

	// The console's filters read the same layout.
	lc := flow.LargeCommunity{ASN: 65000, Local1: 1, Local2: 2}
	cond, args, err := s.Dialect().Compare(flow.Columns[flow.ColDstLargeCommunities], "HAS", lc)
	if err != nil {
		t.Fatal(err)
	}
	var n, wantN uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".flows WHERE "+cond, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", cond, err)
	}
	for i := range 8 {
		var r flow.Record
		makeFlow(&r, i, now)
		if r.DstLargeCommunities.Contains(lc) {
			wantN++
		}
	}
	if n != wantN || n == 0 {
		t.Errorf("%s: %d flows, want %d", cond, n, wantN)
	}
}
