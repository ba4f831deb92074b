package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

// feed sends n flows in batches of size, counting releases in done.
func feed(ctx context.Context, in chan<- *flow.Batch, first, n, size int, now time.Time, done *atomic.Int64, edit func(i int, r *flow.Record)) {
	for i := first; i < first+n; {
		b := flow.NewBatch()
		for ; i < first+n && b.Len() < size; i++ {
			r := b.Append()
			makeFlow(r, i, now)
			if edit != nil {
				edit(i, r)
			}
		}
		k := int64(b.Len())
		b.OnDone(func() { done.Add(k) })
		select {
		case in <- b:
		case <-ctx.Done():
			return
		}
	}
}

func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			}
		}
	}
	return sum
}

func runSink(t testing.TB, s *Sink, in chan *flow.Batch) chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background(), in) }()
	return errc
}

// TestInsertAndReadBack inserts flows, reads them back, and checks the
// consolidated tables, computed by the sink (consolidate_in = "engine") or by
// materialized views (consolidate_in = "server"), against the flows.
func TestInsertAndReadBack(t *testing.T) {
	forEachServer(t, func(t *testing.T, srv *chServer) {
		for _, in := range []string{consolidateInEngine, consolidateInServer} {
			t.Run(in, func(t *testing.T) { testInsertAndReadBack(t, srv, in) })
		}
	})
}

func testInsertAndReadBack(t *testing.T, srv *chServer, consolidateIn string) {
	db := testDB(t, srv)
	s, reg := newSink(t, srv, db, fmt.Sprintf("batch_size = 3000\nbatch_timeout = \"200ms\"\nconsolidate_in = %q", consolidateIn))
	provision(t, s)

	const n = 10000
	now := time.Now().UTC().Truncate(time.Hour)
	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	var done atomic.Int64
	feed(context.Background(), in, 0, n, 700, now, &done, nil)
	close(in)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if done.Load() != n {
		t.Errorf("%d flows released, want %d", done.Load(), n)
	}
	if got := counter(t, reg, "flowengine_clickhouse_rows_inserted_total"); got != n {
		t.Errorf("rows inserted metric %v, want %d", got, n)
	}

	ctx := context.Background()
	conn := srv.client(t)
	var wantBytes, wantPackets uint64
	var r flow.Record
	for i := 0; i < n; i++ {
		makeFlow(&r, i, now)
		wantBytes += r.Bytes
		wantPackets += r.Packets
	}
	var count, bytes, packets uint64
	if err := conn.QueryRow(ctx, "SELECT count(), sum(Bytes), sum(Packets) FROM "+db+".flows").Scan(&count, &bytes, &packets); err != nil {
		t.Fatal(err)
	}
	if count != n || bytes != wantBytes || packets != wantPackets {
		t.Errorf("flows: %d rows, %d bytes, %d packets; want %d, %d, %d", count, bytes, packets, n, wantBytes, wantPackets)
	}

	// Exact rows: every column of a few flows, read back as text.
	for _, i := range []int{0, 1, 3, 4999, n - 1} {
		makeFlow(&r, i, now)
		got, ptrs := scanStrings(len(flow.Columns))
		if err := conn.QueryRow(ctx, "SELECT "+readColumns(*s.features, flow.Columns)+" FROM "+db+".flows WHERE SrcPort = ? AND Bytes = ?", r.SrcPort, r.Bytes).
			Scan(ptrs...); err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
		if diff := cmp.Diff(got, expectRow(flow.Columns, &r)); diff != "" {
			t.Errorf("flow %d (-got +want):\n%s", i, diff)
		}
	}

	// Consolidated tables agree with flows on totals (scaled by the
	// sampling rate), per exporter and interface.
	for _, table := range []string{"flows_1m0s", "flows_5m0s", "flows_1h0m0s"} {
		if err := conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s.%s FINAL", db, table)); err != nil {
			t.Fatal(err)
		}
		q := "SELECT ExporterName, InIfName, sum(Bytes), sum(Packets), sum(Flows) FROM %s.%s GROUP BY ExporterName, InIfName ORDER BY ExporterName, InIfName"
		want := "SELECT ExporterName, InIfName, sum(Bytes * SamplingRate), sum(Packets * SamplingRate), sum(SamplingRate) FROM %s.flows GROUP BY ExporterName, InIfName ORDER BY ExporterName, InIfName"
		if diff := cmp.Diff(totals(t, conn, fmt.Sprintf(q, db, table)), totals(t, conn, fmt.Sprintf(want, db))); diff != "" {
			t.Errorf("%s totals differ from flows (-got +want):\n%s", table, diff)
		}
	}
	if consolidateIn == consolidateInEngine {
		if got := counter(t, reg, "flowengine_clickhouse_rollup_rows_inserted_total"); got == 0 {
			t.Errorf("no rollup rows inserted")
		}
	}
	// After OPTIMIZE FINAL, a consolidated table has one row per interval
	// and dimensions: as many as the view's query finds in flows.
	for _, cn := range s.cfg.consolidations {
		tbl, v := rollupTable(db, *s.features, flow.Columns, cn)
		var rows, distinct uint64
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count() FROM %s.%s", db, tbl.Name)).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		q := fmt.Sprintf("SELECT uniqExact(%s) FROM (%s)", strings.Join(tbl.OrderBy, ", "), strings.Replace(v.Select, " GROUP BY ", " WHERE 1 GROUP BY ", 1))
		if err := conn.QueryRow(ctx, q).Scan(&distinct); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if rows != distinct || rows == 0 {
			t.Errorf("%s has %d rows, want %d (one per interval and dimensions)", tbl.Name, rows, distinct)
		}
	}
}

func totals(t *testing.T, conn driver.Conn, q string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var exporter, iface string
		var bytes, packets, flows uint64
		if err := rows.Scan(&exporter, &iface, &bytes, &packets, &flows); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s bytes=%d packets=%d flows=%d", exporter, iface, bytes, packets, flows))
	}
	if len(out) == 0 {
		t.Errorf("no rows from %s", q)
	}
	return out
}

// readColumns renders every flow column as text, server side, on a server
// with f.
func readColumns(f features, cols []flow.Column) string {
	var exprs []string
	for _, c := range cols {
		switch c.Kind {
		case flow.KindASPath, flow.KindCommunities:
			exprs = append(exprs, fmt.Sprintf("arrayStringConcat(arrayMap(x -> toString(x), %s), ' ')", c.Name))
		case flow.KindLargeCommunities:
			exprs = append(exprs, fmt.Sprintf("arrayStringConcat(arrayMap(x -> %s, %s), ' ')", largeCommunityText(f, "x"), c.Name))
		case flow.KindTime:
			exprs = append(exprs, fmt.Sprintf("toString(toUnixTimestamp(%s))", c.Name))
		case flow.KindAddr:
			exprs = append(exprs, fmt.Sprintf("IPv6NumToString(%s)", c.Name))
		case flow.KindString:
			exprs = append(exprs, fmt.Sprintf("replaceAll(toString(%s), '\\0', '')", c.Name))
		default:
			exprs = append(exprs, fmt.Sprintf("toString(%s)", c.Name))
		}
	}
	return strings.Join(exprs, ", ")
}

// largeCommunityText renders large community x as "ASN:Local1:Local2",
// server side.
func largeCommunityText(f features, x string) string {
	if f.UInt128 {
		return fmt.Sprintf("concat(toString(bitShiftRight(%[1]s, 64)), ':', toString(bitAnd(bitShiftRight(%[1]s, 32), 4294967295)), ':', toString(bitAnd(%[1]s, 4294967295)))", x)
	}
	return fmt.Sprintf("concat(toString(reinterpretAsUInt32(reverse(substring(%[1]s, 1, 4)))), ':', toString(reinterpretAsUInt32(reverse(substring(%[1]s, 5, 4)))), ':', toString(reinterpretAsUInt32(reverse(substring(%[1]s, 9, 4)))))", x)
}

// expectRow renders r as readColumns does.
func expectRow(cols []flow.Column, r *flow.Record) []string {
	var out []string
	for _, c := range cols {
		acc := flow.Access(c.Name)
		switch c.Kind {
		case flow.KindASPath, flow.KindCommunities:
			out = append(out, acc.Uint32s(r).String())
		case flow.KindLargeCommunities:
			out = append(out, acc.LargeCommunities(r).String())
		case flow.KindTime:
			out = append(out, strconv.FormatInt(clampTime(acc.Time(r)).Unix(), 10))
		case flow.KindAddr:
			a := acc.Addr(r)
			switch {
			case !a.IsValid():
				out = append(out, "::")
			case a.Unmap().Is4():
				out = append(out, "::ffff:"+a.Unmap().String())
			default:
				out = append(out, a.String())
			}
		case flow.KindString:
			out = append(out, acc.String(r))
		case flow.KindBoundary:
			out = append(out, flow.Boundary(acc.Uint(r)).String())
		default:
			out = append(out, strconv.FormatUint(acc.Uint(r), 10))
		}
	}
	return out
}

func scanStrings(n int) ([]string, []any) {
	vals := make([]string, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, ptrs
}

func TestPoisonRow(t *testing.T) { forEachServer(t, testPoisonRow) }

func testPoisonRow(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, reg := newSink(t, srv, db, "batch_size = 5000")
	provision(t, s)

	const n, bad = 3000, 1717
	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	var done atomic.Int64
	now := time.Now().UTC()
	feed(context.Background(), in, 0, n, 1000, now, &done, func(i int, r *flow.Record) {
		if i == bad {
			r.SrcCountry = "FRA" // does not fit FixedString(2)
		}
	})
	close(in)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if done.Load() != n {
		t.Errorf("%d flows released, want %d", done.Load(), n)
	}
	if got := counter(t, reg, "flowengine_clickhouse_rows_dropped_total"); got != 1 {
		t.Errorf("dropped %v rows, want 1", got)
	}
	if got := counter(t, reg, "flowengine_clickhouse_rows_inserted_total"); got != n-1 {
		t.Errorf("inserted %v rows, want %d", got, n-1)
	}
	var count, badCount uint64
	conn := srv.client(t)
	var r flow.Record
	makeFlow(&r, bad, now)
	if err := conn.QueryRow(context.Background(), "SELECT count(), countIf(Bytes = ?) FROM "+db+".flows", r.Bytes).Scan(&count, &badCount); err != nil {
		t.Fatal(err)
	}
	if count != n-1 || badCount != 0 {
		t.Errorf("flows has %d rows (%d poison), want %d (0)", count, badCount, n-1)
	}
}

func TestRetentionDropsOldPartitions(t *testing.T) { forEachServer(t, testRetentionDropsOldPartitions) }

func testRetentionDropsOldPartitions(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, reg := newSink(t, srv, db, `retention = "30d"`)
	provision(t, s)
	if s.features.TTL {
		t.Logf("server %s has TTL: partitions are dropped by the server", s.features.Version)
	}

	now := time.Now().UTC()
	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	var done atomic.Int64
	ages := []time.Duration{0, 10 * 24 * time.Hour, 40 * 24 * time.Hour, 100 * 24 * time.Hour}
	feed(context.Background(), in, 0, 400, 100, now, &done, func(i int, r *flow.Record) {
		r.TimeReceived = now.Add(-ages[i%4])
	})
	close(in)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := s.dropExpired(context.Background(), *s.features, now); err != nil {
		t.Fatal(err)
	}
	// Flows kept, scaled by the sampling rate in the consolidated tables.
	kept := func(maxAge time.Duration, scaled bool) uint64 {
		var n uint64
		var r flow.Record
		for i := range 400 {
			makeFlow(&r, i, now)
			switch {
			case ages[i%4] >= maxAge:
			case scaled:
				n += r.SamplingRate
			default:
				n++
			}
		}
		return n
	}
	conn := srv.client(t)
	for _, tc := range []struct {
		table, count string
		want         uint64
	}{
		{"flows", "count()", kept(30*24*time.Hour, false)},        // 30d: the 40 and 100 days old flows are gone
		{"flows_1m0s", "sum(Flows)", kept(90*24*time.Hour, true)}, // 90d: the 100 days old flows are gone
		{"flows_1h0m0s", "sum(Flows)", kept(1000*24*time.Hour, true)},
	} {
		var got uint64
		if err := conn.QueryRow(context.Background(), "SELECT "+tc.count+" FROM "+db+"."+tc.table).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: %d flows after retention, want %d", tc.table, got, tc.want)
		}
	}
	if got := counter(t, reg, "flowengine_clickhouse_partitions_dropped_total"); got < 2 {
		t.Errorf("partitions dropped metric %v, want at least 2", got)
	}
}

// TestServerDown stops ClickHouse during a run until the sink has retried
// several times: flows wait, and none is lost.
func TestServerDown(t *testing.T) { forEachServerParallel(t, testServerDown) }

func testServerDown(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, reg := newSink(t, srv, db, "batch_size = 2000\nbatch_timeout = \"100ms\"\nretry_backoff = \"100ms\"\nretry_max_backoff = \"2s\"")
	provision(t, s)

	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	var done atomic.Int64
	now := time.Now().UTC()
	const half = 20000
	feed(context.Background(), in, 0, half, 500, now, &done, nil)

	srv.stop()
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		feed(context.Background(), in, half, half, 500, now, &done, nil) // blocks: back-pressure
	}()
	// Down until the sink has retried a few times (with these backoffs,
	// about 2 s): the flows fed meanwhile wait, the feeder is held back.
	deadline := time.Now().Add(60 * time.Second)
	for counter(t, reg, "flowengine_clickhouse_insert_retries_total") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 4 insert retries 60 s after ClickHouse stopped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-fed:
		t.Errorf("every flow was accepted while ClickHouse was down: no back-pressure")
	default:
	}
	if done.Load() == 2*half {
		t.Errorf("every flow was released while ClickHouse was down")
	}
	if err := srv.start(); err != nil {
		t.Fatalf("restart clickhouse: %v", err)
	}
	<-fed
	close(in)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if done.Load() != 2*half {
		t.Errorf("%d flows released, want %d", done.Load(), 2*half)
	}
	retries := counter(t, reg, "flowengine_clickhouse_insert_retries_total")
	if retries == 0 {
		t.Errorf("no retry counted while ClickHouse was down")
	}
	var count, distinct uint64
	conn := srv.client(t)
	if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(Bytes) FROM "+db+".flows").Scan(&count, &distinct); err != nil {
		t.Fatal(err)
	}
	t.Logf("%v retries; %d rows, %d distinct flows", retries, count, distinct)
	if distinct != 2*half {
		t.Errorf("%d distinct flows in ClickHouse, want %d: flows were lost", distinct, 2*half)
	}
	if count < distinct {
		t.Errorf("%d rows < %d distinct flows", count, distinct)
	}
}

// BenchmarkInsert measures inserting full flow records into the local
// server, with batches of 100k and 300k rows and one or two INSERTs in
// flight. Besides wall time per flow, it reports the CPU time the server
// and this process (the sink; batches are prepared) spend per flow.
func BenchmarkInsert(b *testing.B) {
	forEachServerB(b, func(b *testing.B, srv *chServer) {
		for _, bc := range []struct{ batch, concurrency int }{{100000, 1}, {100000, 2}, {300000, 1}, {300000, 2}} {
			b.Run(fmt.Sprintf("batch=%d/concurrency=%d", bc.batch, bc.concurrency), func(b *testing.B) {
				benchmarkInsert(b, srv, fmt.Sprintf("batch_size = %d\ninsert_concurrency = %d", bc.batch, bc.concurrency))
			})
		}
	})
}

func benchmarkInsert(b *testing.B, srv *chServer, extra string) {
	db := testDB(b, srv)
	s, _ := newSink(b, srv, db, "batch_timeout = \"10s\"\nconsolidate = false\n"+extra)
	s.log = slog.New(slog.DiscardHandler)
	provision(b, s)
	now := time.Now().UTC()
	// Prepared batches, reused: the benchmark measures the sink, not record building.
	const size = flow.BatchSize
	batches := make([]*flow.Batch, 100)
	for i := range batches {
		bt := flow.NewBatch()
		for j := 0; j < size; j++ {
			makeFlow(bt.Append(), i*size+j, now)
		}
		bt.Retain(1 << 30)
		batches[i] = bt
	}
	in := make(chan *flow.Batch, 16)
	errc := runSink(b, s, in)
	b.ReportAllocs()
	b.ResetTimer()
	serverCPU, clientCPU := srv.cpuTime(), processCPU()
	start := time.Now()
	sent := 0
	for sent < b.N {
		in <- batches[(sent/size)%len(batches)]
		sent += size
	}
	close(in)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	perFlow := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(sent) }
	b.ReportMetric(perFlow(elapsed), "ns/flow")
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(perFlow(srv.cpuTime()-serverCPU), "server-cpu-ns/flow")
	b.ReportMetric(perFlow(processCPU()-clientCPU), "client-cpu-ns/flow")
}

// processCPU is the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLowCardinality inserts into a flows table whose string columns are
// LowCardinality(String) (experimental on 18.x, the default on current
// servers): the sink encodes dictionaries, with 8 and 16-bit indexes.
func TestLowCardinality(t *testing.T) { forEachServer(t, testLowCardinality) }

func testLowCardinality(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "batch_size = 5000\nbatch_timeout = \"100ms\"\nconsolidate = false")
	conn := srv.client(t)
	ctx := context.Background()
	if srv.Version == testenv.ClickHouse18 { // experimental there, unknown setting on current servers
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"allow_experimental_low_cardinality_type": 1}))
	}
	var defs []string
	for _, c := range flow.Columns {
		typ := clickhouseType(c)
		switch c.Kind {
		case flow.KindAddr:
			typ = "FixedString(16)"
		case flow.KindLargeCommunities:
			if srv.Version == testenv.ClickHouse18 {
				typ = largeCommunitiesFallback
			}
		case flow.KindString:
			if typ == "String" {
				typ = "LowCardinality(String)"
			}
		}
		defs = append(defs, c.Name+" "+typ)
	}
	for _, q := range []string{
		"CREATE DATABASE " + db,
		fmt.Sprintf("CREATE TABLE %s.flows (%s) ENGINE = MergeTree() PARTITION BY toYYYYMMDD(TimeReceived) ORDER BY TimeReceived", db, strings.Join(defs, ", ")),
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var typ string
	if err := conn.QueryRow(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = 'flows' AND name = 'InIfDescription'", db).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if typ != "LowCardinality(String)" {
		t.Fatalf("InIfDescription is %s", typ)
	}

	const n = 12000
	now := time.Now().UTC().Truncate(time.Hour)
	edit := func(i int, r *flow.Record) {
		if i >= 5000 { // past the first INSERT: more than 255 distinct values
			r.InIfDescription = fmt.Sprintf("port %d", i)
		}
	}
	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	var done atomic.Int64
	feed(context.Background(), in, 0, n, 500, now, &done, edit)
	close(in)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if done.Load() != n {
		t.Errorf("%d flows released, want %d", done.Load(), n)
	}
	var count, distinct uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(InIfDescription) FROM "+db+".flows").Scan(&count, &distinct); err != nil {
		t.Fatal(err)
	}
	if count != n || distinct != n-5000+1 {
		t.Errorf("%d rows, %d distinct descriptions; want %d, %d", count, distinct, n, n-5000+1)
	}
	var r flow.Record
	for _, i := range []int{0, 4999, 5000, 7777, n - 1} {
		r = flow.Record{}
		makeFlow(&r, i, now)
		edit(i, &r)
		got, ptrs := scanStrings(len(flow.Columns))
		if err := conn.QueryRow(ctx, "SELECT "+readColumns(*s.features, flow.Columns)+" FROM "+db+".flows WHERE SrcPort = ? AND Bytes = ?", r.SrcPort, r.Bytes).
			Scan(ptrs...); err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
		if diff := cmp.Diff(got, expectRow(flow.Columns, &r)); diff != "" {
			t.Errorf("flow %d (-got +want):\n%s", i, diff)
		}
	}
}

// TestRunAgainAfterFailure: with two INSERTs in flight and ClickHouse down,
// Run gives up after max_retries without releasing anything; the next Run,
// once the server is back, inserts the rows left, oldest first, and
// releases every batch in the order it came, empty ones included.
func TestRunAgainAfterFailure(t *testing.T) { forEachServer(t, testRunAgainAfterFailure) }

func testRunAgainAfterFailure(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "batch_size = 1000\nbatch_timeout = \"10s\"\ninsert_concurrency = 2\nmax_retries = 1\nretry_backoff = \"50ms\"")
	provision(t, s)

	var mu sync.Mutex
	var order []int
	const n = 3000
	sizes := []int{500, 500, 500, 0, 500, 500, 0, 500} // empty batches are released in order too
	now := time.Now().UTC()
	in := make(chan *flow.Batch, len(sizes))
	first := 0
	for i, size := range sizes {
		b := flow.NewBatch()
		for j := 0; j < size; j++ {
			makeFlow(b.Append(), first+j, now)
		}
		first += size
		b.OnDone(func() {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		in <- b
	}

	srv.stop()
	err := s.Run(context.Background(), in)
	if err == nil {
		t.Fatal("run succeeded with ClickHouse down")
	}
	t.Logf("first run: %v", err)
	mu.Lock()
	if len(order) != 0 {
		t.Errorf("batches %v released while ClickHouse was down", order)
	}
	mu.Unlock()

	if err := srv.start(); err != nil {
		t.Fatalf("restart clickhouse: %v", err)
	}
	close(in)
	if err := s.Run(context.Background(), in); err != nil {
		t.Fatalf("second run: %v", err)
	}
	mu.Lock()
	want := []int{0, 1, 2, 3, 4, 5, 6, 7}
	if diff := cmp.Diff(order, want); diff != "" {
		t.Errorf("release order (-got +want):\n%s", diff)
	}
	mu.Unlock()
	var count, distinct uint64
	conn := srv.client(t)
	if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(Bytes) FROM "+db+".flows").Scan(&count, &distinct); err != nil {
		t.Fatal(err)
	}
	if count != n || distinct != n {
		t.Errorf("%d rows, %d distinct flows; want %d", count, distinct, n)
	}
}

// TestServerRestartedBetweenInserts: the connection kept from the first
// INSERT is dead after a restart; the second INSERT takes a new one at
// once, without a failed attempt.
func TestServerRestartedBetweenInserts(t *testing.T) {
	forEachServer(t, testServerRestartedBetweenInserts)
}

func testServerRestartedBetweenInserts(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, reg := newSink(t, srv, db, "batch_size = 1000\nbatch_timeout = \"50ms\"")
	provision(t, s)

	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	var done atomic.Int64
	now := time.Now().UTC()
	feed(context.Background(), in, 0, 1000, 500, now, &done, nil)
	for deadline := time.Now().Add(30 * time.Second); done.Load() < 1000 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if done.Load() != 1000 {
		t.Fatalf("%d flows released, want 1000", done.Load())
	}
	srv.stop()
	if err := srv.start(); err != nil {
		t.Fatalf("restart clickhouse: %v", err)
	}
	feed(context.Background(), in, 1000, 1000, 500, now, &done, nil)
	close(in)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if done.Load() != 2000 {
		t.Errorf("%d flows released, want 2000", done.Load())
	}
	if got := counter(t, reg, "flowengine_clickhouse_insert_retries_total"); got != 0 {
		t.Errorf("%v retries, want 0", got)
	}
	var count uint64
	if err := srv.client(t).QueryRow(context.Background(), "SELECT count() FROM "+db+".flows").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 2000 {
		t.Errorf("%d rows, want 2000", count)
	}
}

// TestCompression inserts with each compression method of the native protocol.
func TestCompression(t *testing.T) { forEachServer(t, testCompression) }

func testCompression(t *testing.T, srv *chServer) {
	for _, method := range []string{"lz4", "zstd", "none"} {
		t.Run(method, func(t *testing.T) {
			db := testDB(t, srv)
			s, _ := newSink(t, srv, db, fmt.Sprintf("batch_size = 1500\ncompression = %q\nconsolidate = false", method))
			provision(t, s)
			const n = 4000
			in := make(chan *flow.Batch, 4)
			errc := runSink(t, s, in)
			var done atomic.Int64
			now := time.Now().UTC()
			feed(context.Background(), in, 0, n, 500, now, &done, nil)
			close(in)
			if err := <-errc; err != nil {
				t.Fatalf("run: %v", err)
			}
			var wantBytes uint64
			var r flow.Record
			for i := 0; i < n; i++ {
				makeFlow(&r, i, now)
				wantBytes += r.Bytes
			}
			var count, bytes uint64
			if err := srv.client(t).QueryRow(context.Background(), "SELECT count(), sum(Bytes) FROM "+db+".flows").Scan(&count, &bytes); err != nil {
				t.Fatal(err)
			}
			if count != n || bytes != wantBytes || done.Load() != n {
				t.Errorf("%d rows, %d bytes, %d released; want %d, %d, %d", count, bytes, done.Load(), n, wantBytes, n)
			}
		})
	}
}

// BenchmarkBuild measures the client side alone: copying flows into the
// column buffers and encoding them as a native block (no server). The flows
// carry the BGP lists of makeFlow (4 AS numbers, 2 communities and 1.75
// large communities a flow on average), or empty lists (lists=empty/…); the
// 18.16 case encodes strings as String, addresses as FixedString(16) and
// large communities as FixedString(12).
func BenchmarkBuild(b *testing.B) {
	now := time.Now().UTC()
	const size = flow.BatchSize
	makeBatches := func(emptyLists bool) []*flow.Batch {
		batches := make([]*flow.Batch, 100)
		for i := range batches {
			bt := flow.NewBatch()
			for j := 0; j < size; j++ {
				r := bt.Append()
				makeFlow(r, i*size+j, now)
				if emptyLists {
					r.DstASPath, r.DstCommunities, r.DstLargeCommunities = flow.Uint32s{}, flow.Uint32s{}, flow.LargeCommunities{}
				}
			}
			batches[i] = bt
		}
		return batches
	}
	withLists, noLists := makeBatches(false), makeBatches(true)
	for _, tc := range []struct {
		name    string
		strings string
		old     bool // 18.16 types
		batches []*flow.Batch
	}{
		{"strings=String", "String", false, withLists},
		{"strings=LowCardinality(String)", "LowCardinality(String)", false, withLists},
		{"lists=empty/strings=LowCardinality(String)", "LowCardinality(String)", false, noLists},
		{"server=18.16", "String", true, withLists},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := featuresOf(version{26, 7, 0})
			if tc.old {
				f = featuresOf(version{18, 16, 1})
			}
			rb := newRowBuffer(flow.Columns, f)
			var buf proto.Buffer
			encode := func() {
				buf.Reset()
				for _, cb := range rb.cols {
					t := f.columnType(cb.col)
					if cb.col.Kind == flow.KindString && t == "LowCardinality(String)" {
						t = tc.strings
					}
					if err := cb.encode(&buf, t, 0, rb.rows); err != nil {
						b.Fatal(err)
					}
				}
				rb.reset()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += size {
				rb.append(tc.batches[(done/size)%len(tc.batches)].Records)
				if rb.rows >= 100000 {
					encode()
				}
			}
			encode()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
		})
	}
}

// TestRollupRetry makes the insert into a consolidated table fail after the
// flows are in: the sink fails, and the next Run inserts what is missing
// without inserting the flows or the other rollups again, so that no flow is
// counted twice; the batches are released only then.
func TestRollupRetry(t *testing.T) { forEachServer(t, testRollupRetry) }

func testRollupRetry(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "batch_size = 1000\nbatch_timeout = \"10s\"\nmax_retries = 1\nretry_backoff = \"50ms\"")
	provision(t, s)
	conn := srv.client(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, "DROP TABLE "+db+".flows_5m0s"); err != nil {
		t.Fatal(err)
	}

	const n = 2500
	now := time.Now().UTC()
	in := make(chan *flow.Batch, n/500)
	var done atomic.Int64
	feed(ctx, in, 0, n, 500, now, &done, nil)
	close(in)
	if err := s.Run(ctx, in); err == nil || !strings.Contains(err.Error(), "flows_5m0s") {
		t.Fatalf("first run: %v, want a failed insert into flows_5m0s", err)
	}
	if done.Load() != 0 {
		t.Errorf("%d flows released before their rollups were inserted", done.Load())
	}
	provision(t, s) // creates flows_5m0s again
	if err := s.Run(ctx, in); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if done.Load() != n {
		t.Errorf("%d flows released, want %d", done.Load(), n)
	}

	var wantFlows uint64
	var r flow.Record
	for i := range n {
		makeFlow(&r, i, now)
		wantFlows += r.SamplingRate
	}
	for _, tc := range []struct {
		table, count string
		want         uint64
	}{
		{"flows", "count()", n},
		{"flows_1m0s", "sum(Flows)", wantFlows},
		{"flows_5m0s", "sum(Flows)", wantFlows},
		{"flows_1h0m0s", "sum(Flows)", wantFlows},
	} {
		var got uint64
		if err := conn.QueryRow(ctx, "SELECT "+tc.count+" FROM "+db+"."+tc.table).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: %d flows, want %d", tc.table, got, tc.want)
		}
	}
}

// TestRollupDeduplication sends the same rollup insert twice, as a retry
// after a lost acknowledgement does: servers from 22.2 keep it once (the
// insert carries a deduplication token), older ones count it twice.
func TestRollupDeduplication(t *testing.T) { forEachServer(t, testRollupDeduplication) }

func testRollupDeduplication(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "")
	provision(t, s)
	ctx := context.Background()
	f, err := s.waitFeatures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.feats = f
	b := flow.NewBatch()
	now := time.Now().UTC()
	var want uint64
	for i := range 1000 {
		r := b.Append()
		makeFlow(r, i, now)
		want += r.SamplingRate
	}
	st := s.newRollupState()
	for range 2 {
		if err := s.insertRollups(ctx, st, []*flow.Batch{b}); err != nil {
			t.Fatal(err)
		}
		st.done = 0 // as if the acknowledgement of the last insert was lost
	}
	if f.DedupToken {
		t.Logf("server %s deduplicates retried rollup inserts", f.Version)
	} else {
		want *= 2
		t.Logf("server %s has no insert_deduplication_token: a retried rollup insert counts twice", f.Version)
	}
	for _, table := range []string{"flows_1m0s", "flows_5m0s", "flows_1h0m0s"} {
		var got uint64
		if err := srv.client(t).QueryRow(ctx, "SELECT sum(Flows) FROM "+db+"."+table).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %d flows, want %d", table, got, want)
		}
	}
}

// TestRollupGroups checks that the rollups of several INSERTs of flows are
// aggregated and inserted together (rollup_batch_size), that the batches
// of a group are released in order once its rollups are in, and that an
// idle input does not keep a group open past batch_timeout.
func TestRollupGroups(t *testing.T) {
	srv := server(t)
	db := testDB(t, srv)
	s, reg := newSink(t, srv, db, "batch_size = 1000\nrollup_batch_size = 3000\nbatch_timeout = \"300ms\"\ninsert_concurrency = 2")
	provision(t, s)
	ctx := context.Background()
	now := time.Now().UTC()
	in := make(chan *flow.Batch, 64)
	errc := runSink(t, s, in)

	var mu sync.Mutex
	var order []int
	send := func(i, first, size int) {
		b := flow.NewBatch()
		for j := range size {
			makeFlow(b.Append(), first+j, now)
		}
		b.OnDone(func() {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		in <- b
	}
	released := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(order)
	}
	waitReleased := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); released() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d batches released, want %d", released(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// 7000 flows, empty batches among them: groups of 3000, 3000 and 1000.
	sizes := []int{500, 500, 0, 500, 500, 500, 500, 500, 500, 0, 500, 500, 500, 500, 500, 500}
	first := 0
	for i, n := range sizes {
		send(i, first, n)
		first += n
	}
	waitReleased(len(sizes))
	// Idle input: one INSERT of flows (1000, a member of an open group),
	// then nothing; the group is closed by the timer.
	send(len(sizes), first, 1000)
	first += 1000
	waitReleased(len(sizes) + 1)
	close(in)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for i, v := range order {
		if v != i {
			t.Errorf("release order %v", order)
			break
		}
	}
	mu.Unlock()

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var builds uint64
	for _, mf := range mfs {
		if mf.GetName() == "flowengine_clickhouse_rollup_duration_seconds" {
			builds = mf.Metric[0].GetHistogram().GetSampleCount()
		}
	}
	if builds != 4 {
		t.Errorf("%d rollup groups, want 4 (3000, 3000, 1000 flows, then the idle one)", builds)
	}
	var want uint64
	var r flow.Record
	for i := range first {
		makeFlow(&r, i, now)
		want += r.SamplingRate
	}
	for _, table := range []string{"flows_1m0s", "flows_5m0s", "flows_1h0m0s"} {
		var got uint64
		if err := srv.client(t).QueryRow(ctx, "SELECT sum(Flows) FROM "+db+"."+table).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %d flows, want %d", table, got, want)
		}
	}
	if got := counter(t, reg, "flowengine_clickhouse_rows_inserted_total"); got != float64(first) {
		t.Errorf("%v flows inserted, want %d", got, first)
	}
}
