package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/stages/duckdb"
	"github.com/flowengine/flowengine/store"
	"github.com/flowengine/flowengine/store/filter"
)

// The query model over every store: the same generated flows go into
// DuckDB and the ClickHouse servers, the same queries must give the same
// JSON from each, and totals must add up to what was inserted.

// queryBase is the start of the generated flows: four hours ago, on the
// hour, so that every table (retention included) keeps them.
var queryBase = time.Now().UTC().Truncate(time.Hour).Add(-4 * time.Hour)

// queryNow is the stores' clock: just after the flows.
var queryNow = queryBase.Add(3*time.Hour + 30*time.Minute)

// nastyText are values written into the stores and typed into filters.
var nastyText = []string{
	`edge'1`, `core"2`, `back\slash`, `semi;colon -- x`, `/* c */`, "rø☃ü", `'); DROP TABLE flows; --`, `%_`,
}

// queryFlows generates n flows over three hours from queryBase (see
// flowGen); the newest is alone in its second, for LastFlow.
func queryFlows(n int) []flow.Record {
	recs := make([]flow.Record, n)
	g := newFlowGen(queryBase, 3*time.Hour)
	for i := range recs {
		g.fill(&recs[i])
	}
	last := &recs[n-1]
	last.TimeReceived = queryNow.Add(-90 * time.Second)
	last.TimeFlowStart, last.TimeFlowEnd = last.TimeReceived.Add(-time.Second), last.TimeReceived
	return recs
}

// flowGen generates flows over [base, base+span): a few exporters, ASes,
// countries and interfaces, IPv4 and IPv6 addresses, sampling rates 0 (read
// as 1), 1, 10 and 1000, interface speeds 0 and some Mbps, and the
// nastyText values in text columns. The same seed gives the same flows.
type flowGen struct {
	seed uint64
	base time.Time
	ms   int // span in milliseconds
}

func newFlowGen(base time.Time, span time.Duration) *flowGen {
	return &flowGen{seed: 0x9e3779b97f4a7c15, base: base, ms: int(span / time.Millisecond)}
}

func (g *flowGen) next(k int) int {
	g.seed ^= g.seed << 13
	g.seed ^= g.seed >> 7
	g.seed ^= g.seed << 17
	return int(g.seed % uint64(k))
}

var (
	genCountries = []string{"FR", "US", "DE", "", "JP"}
	genProviders = []string{"cogent", "level3", "", "zayo", nastyText[0]}
	// Routes: paths by shape (the destination AS last), communities and
	// large communities, extremes and empty lists included; each list is
	// built once and shared, as the routing enricher interns them.
	genPaths = func() map[uint32][]flow.Uint32s {
		out := map[uint32][]flow.Uint32s{}
		for _, as := range []uint32{64500, 64501, 15169, 13335} {
			for _, p := range [][]uint32{{174, as}, {3356, 6939, as}, {as}, {as, as, as}, {}, {4294967295, as}} {
				out[as] = append(out[as], flow.MakeUint32s(p))
			}
		}
		return out
	}()
	genCommunities = func() []flow.Uint32s {
		var out []flow.Uint32s
		for _, c := range [][]uint32{{}, {65000<<16 | 100}, {65000<<16 | 100, 65000<<16 | 200}, {0, 1<<32 - 1}, {174<<16 | 2000, 65000<<16 | 100}} {
			out = append(out, flow.MakeUint32s(c))
		}
		return out
	}()
	genLarge = func() []flow.LargeCommunities {
		var out []flow.LargeCommunities
		for _, l := range [][]flow.LargeCommunity{{}, {{ASN: 65000, Local1: 1, Local2: 2}}, {{ASN: 4294967295, Local1: 0, Local2: 4294967295}, {ASN: 65000, Local1: 1, Local2: 2}}} {
			out = append(out, flow.MakeLargeCommunities(l))
		}
		return out
	}()
)

func (g *flowGen) fill(r *flow.Record) {
	next := g.next
	*r = flow.Record{}
	r.TimeReceived = g.base.Add(time.Duration(next(g.ms)) * time.Millisecond)
	r.TimeFlowStart = r.TimeReceived.Add(-time.Duration(next(60)) * time.Second).Truncate(time.Second)
	r.TimeFlowEnd = r.TimeReceived.Truncate(time.Second)
	r.SamplingRate = []uint64{0, 1, 10, 1000}[next(4)]
	e := next(len(nastyText) + 2)
	r.ExporterAddress = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + e)})
	if e == 0 {
		r.ExporterAddress = netip.MustParseAddr("2001:db8::e")
	}
	r.ExporterName = fmt.Sprintf("edge-%d", e)
	if e < len(nastyText) {
		r.ExporterName = nastyText[e]
	}
	r.ExporterSite = []string{"par", "nyc"}[e%2]
	if next(3) == 0 {
		r.SrcAddr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(next(4)), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(next(256))})
		r.DstAddr = netip.MustParseAddr("2001:db8:ffff::1")
		r.EType = 0x86dd
	} else {
		r.SrcAddr = netip.AddrFrom4([4]byte{10, byte(next(4)), byte(next(4)), byte(next(256))})
		r.DstAddr = netip.AddrFrom4([4]byte{198, 51, 100, byte(next(8))})
		r.EType = 0x800
	}
	r.NextHop = netip.AddrFrom4([4]byte{203, 0, 113, byte(next(3))})
	r.SrcMAC = 0x001122334400 + uint64(next(4))
	r.DstMAC = 0xaabbccddee00 + uint64(next(4))
	r.SrcAS = []uint32{64500, 64501, 15169, 13335, 0, 4200000000}[next(6)]
	r.DstAS = []uint32{64500, 64501, 15169, 13335, 0}[next(5)]
	r.SrcCountry, r.DstCountry = genCountries[next(len(genCountries))], genCountries[next(len(genCountries))]
	r.SrcNetName = nastyText[next(len(nastyText))]
	r.InIfIndex, r.OutIfIndex = uint32(1+next(4)), uint32(1+next(4))
	r.InIfName, r.OutIfName = fmt.Sprintf("et-0/0/%d", r.InIfIndex), fmt.Sprintf("et-0/0/%d", r.OutIfIndex)
	r.InIfDescription = "transit: " + nastyText[next(len(nastyText))]
	r.InIfSpeed, r.OutIfSpeed = []uint64{0, 1000, 10000}[next(3)], []uint64{0, 100, 100000}[next(3)]
	r.InIfProvider, r.OutIfProvider = genProviders[next(len(genProviders))], genProviders[next(len(genProviders))]
	r.InIfConnectivity = []string{"transit", "peering", ""}[next(3)]
	r.InIfBoundary, r.OutIfBoundary = flow.Boundary(next(3)), flow.Boundary(next(3))
	r.Proto = []uint8{6, 17, 1, 58}[next(4)]
	r.SrcPort, r.DstPort = uint16(next(65536)), []uint16{443, 80, 53, 22}[next(4)]
	r.TCPFlags = uint8(next(64))
	r.ForwardingStatus = 64
	r.Bytes = uint64(40 + next(1500))
	r.Packets = uint64(1 + next(10))
	if paths := genPaths[r.DstAS]; paths != nil {
		r.DstASPath = paths[next(len(paths))]
		r.DstCommunities = genCommunities[next(len(genCommunities))]
		r.DstLargeCommunities = genLarge[next(len(genLarge))]
	}
}

// loadedStore is a store holding the generated flows.
type loadedStore struct {
	name string
	b    store.Backend
}

func testEnv(t *testing.T, typ string) engine.Env {
	return engine.Env{ID: engine.ID{Kind: engine.KindSink, Type: typ, Name: "query"}, Metrics: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)}
}

// runSinkFunc provisions a sink, runs it over n flows that fill writes, in
// batches, and waits until every batch is released.
func runSinkFunc(t *testing.T, sink interface {
	engine.Sink
	engine.Provisioner
}, n int, fill func(i int, r *flow.Record)) {
	t.Helper()
	ctx := context.Background()
	plan, err := sink.Plan(ctx)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if err := sink.Apply(ctx, plan); err != nil {
		t.Fatalf("apply: %v", err)
	}
	in := make(chan *flow.Batch, 4)
	errc := make(chan error, 1)
	go func() { errc <- sink.Run(ctx, in) }()
	var done atomic.Int64
	for i := 0; i < n; i += 5000 {
		b := flow.NewBatch()
		for j := i; j < min(i+5000, n); j++ {
			fill(j, b.Append())
		}
		k := int64(len(b.Records))
		b.OnDone(func() { done.Add(k) })
		in <- b
	}
	close(in)
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if done.Load() != int64(n) {
		t.Fatalf("released %d flows of %d", done.Load(), n)
	}
}

func loadDuckDB(t *testing.T, n int, fill func(int, *flow.Record)) loadedStore {
	cfg, diags := dsl.DecodeString(fmt.Sprintf("path = %q\nbatch_size = 10000", filepath.Join(t.TempDir(), "flows.duckdb")), duckdb.Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	s, diags := duckdb.New(cfg, testEnv(t, "duckdb"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	t.Cleanup(func() { s.Close() })
	runSinkFunc(t, s, n, fill)
	return loadedStore{"duckdb", s}
}

// queryCase is one query asked of every store.
type queryCase struct {
	name  string
	kind  string // line, table, sankey
	q     store.Query
	exact bool // the rows' totals add up to what was inserted in the range
	// match, when set, selects the flows whose bits the rows add up to.
	match func(r *flow.Record) bool
}

// likeEscape escapes the wildcards of a LIKE pattern (% and _) and its
// escape character (backslash).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func hours(from, to int) (time.Time, time.Time) {
	return queryBase.Add(time.Duration(from) * time.Hour), queryBase.Add(time.Duration(to) * time.Hour)
}

func dims(names ...string) []store.Dimension {
	var out []store.Dimension
	for _, n := range names {
		c, trunc, _ := strings.Cut(n, "/")
		d := store.Dimension{Column: c}
		fmt.Sscan(trunc, &d.Truncate)
		out = append(out, d)
	}
	return out
}

func queryCases() []queryCase {
	s, e := hours(0, 3)
	q := func(points int, metric store.Metric, limit int, d ...string) store.Query {
		return store.Query{Start: s, End: e, Points: points, Metric: metric, Limit: limit, Dimensions: dims(d...)}
	}
	with := func(base store.Query, f func(*store.Query)) store.Query { f(&base); return base }
	cases := []queryCase{
		{"1h rollup, no dimension", "line", q(3, store.MetricL3bps, 0), true, nil},
		{"5m rollup by SrcAS", "line", q(36, store.MetricL3bps, 3, "SrcAS"), true, nil},
		{"1m rollup by exporter", "table", q(180, store.MetricPPS, 4, "ExporterName", "ExporterAddress"), true, nil},
		{"raw by truncated addresses", "table", q(12, store.MetricL3bps, 5, "SrcAddr/16", "DstAddr/64"), true, nil},
		{"raw by ports, 10s steps", "line", store.Query{Start: s, End: s.Add(10 * time.Minute), Points: 60, Dimensions: dims("DstPort")}, true, nil},
		{"l2bps by provider and boundary", "table", q(36, store.MetricL2bps, 6, "InIfProvider", "InIfBoundary"), true, nil},
		{"flows by country", "line", q(36, store.MetricFlows, 3, "SrcCountry"), true, nil},
		{"inl2% by interface", "table", q(12, store.MetricInL2, 4, "InIfName"), false, nil},
		{"outl2% raw", "table", q(12, store.MetricOutL2, 4, "OutIfName", "DstAddr"), false, nil},
		{"bidirectional", "line", with(q(12, store.MetricL3bps, 2, "SrcAS", "InIfProvider"), func(q *store.Query) { q.Bidirectional = true }), false, nil},
		{"previous period", "line", with(q(12, store.MetricL3bps, 2, "DstCountry"), func(q *store.Query) {
			q.Start, q.End = hours(2, 3)
			q.PreviousPeriod, q.Bidirectional = true, true
		}), false, nil},
		{"unaligned range", "line", with(q(7, store.MetricPPS, 2, "Proto"), func(q *store.Query) {
			q.Start, q.End = q.Start.Add(7*time.Minute+3*time.Second), q.End.Add(-11*time.Minute)
		}), false, nil},
		{"sankey", "sankey", q(12, store.MetricL3bps, 5, "SrcAS", "InIfProvider", "DstCountry"), false, nil},
		{"MAC and more", "table", q(12, store.MetricL3bps, 10, "NextHop", "EType", "SrcNetName", "ForwardingStatus"), true, nil},
		{"by AS path", "table", q(12, store.MetricL3bps, 30, "DstASPath"), true, nil},
		{"by AS path, top 5", "line", q(36, store.MetricL3bps, 5, "DstASPath"), true, nil},
		{"by first and last AS", "line", q(12, store.MetricPPS, 4, "DstFirstAS", "DstLastAS"), true, nil},
		{"by communities", "table", q(12, store.MetricL3bps, 10, "DstCommunities", "DstLargeCommunities"), true, nil},
		{"by first AS and communities", "sankey", q(12, store.MetricL3bps, 8, "DstFirstAS", "DstCommunities", "DstLargeCommunities"), false, nil},
		{"by path twice", "table", q(12, store.MetricFlows, 10, "DstLastAS", "DstLastAS", "DstASPath"), false, nil},
		{"path, bidirectional", "line", with(q(12, store.MetricL3bps, 3, "DstASPath"), func(q *store.Query) { q.Bidirectional = true }), false, nil},
	}
	filters := []string{
		"InIfBoundary = external AND SrcAS IN (AS15169, 13335) AND NOT DstPort = 443 AND SrcAddr << 10.0.0.0/14",
		"SrcAddr << 2001:db8::/32 OR DstAddr = 198.51.100.3",
		"Proto = tcp AND EType = ipv4 AND InIfSpeed >= 1000",
		"SrcMAC = 00:11:22:33:44:01 OR DstMAC IN (aa:bb:cc:dd:ee:02)",
		"ExporterName LIKE 'edge%' AND InIfProvider NOT IN (cogent, '')",
		"InIfDescription ILIKE 'TRANSIT: %' AND ExporterSite != par",
		"SrcCountry = FR OR (DstCountry = US AND OutIfBoundary = internal)",
		"TimeReceived >= " + queryBase.Add(time.Hour).Format(time.RFC3339) + " AND SrcAS > 64500",
		"ExporterAddress = 2001:db8::e OR NextHop << 203.0.113.0/31",
		// Empty text: DuckDB stores it as NULL in the raw table.
		"InIfProvider = '' OR (InIfProvider UNLIKE 'c%' AND NOT ExporterGroup = '')",
		"InIfProvider IN ('') AND NOT InIfProvider LIKE '_%' AND ExporterGroup ILIKE '%' AND ExporterGroup NOT IN ('x')",
	}
	listFilters := []struct {
		text  string
		match func(r *flow.Record) bool
	}{
		{"DstASPath HAS AS3356", func(r *flow.Record) bool { return r.DstASPath.Contains(3356) }},
		{"DstASPath HAS 4294967295 OR DstCommunities HAS 0:0", func(r *flow.Record) bool { return r.DstASPath.Contains(4294967295) || r.DstCommunities.Contains(0) }},
		{"DstCommunities HAS 65000:100 AND NOT DstLargeCommunities HAS 65000:1:2", func(r *flow.Record) bool {
			return r.DstCommunities.Contains(65000<<16|100) && !r.DstLargeCommunities.Contains(flow.LargeCommunity{ASN: 65000, Local1: 1, Local2: 2})
		}},
		{"DstLargeCommunities HAS 4294967295:0:4294967295", func(r *flow.Record) bool {
			return r.DstLargeCommunities.Contains(flow.LargeCommunity{ASN: 4294967295, Local2: 4294967295})
		}},
		{"DstCommunities NOT HAS 65535:65535 AND DstLargeCommunities != ''", func(r *flow.Record) bool {
			return !r.DstCommunities.Contains(1<<32-1) && r.DstLargeCommunities.Len() > 0
		}},
		{"DstFirstAS = AS174 OR DstLastAS IN (AS15169, 13335)", func(r *flow.Record) bool {
			p := r.DstASPath
			return p.Len() > 0 && (p.At(0) == 174 || p.At(p.Len()-1) == 15169 || p.At(p.Len()-1) == 13335)
		}},
		{"DstFirstAS = 0 AND DstLastAS < 64500", func(r *flow.Record) bool { return r.DstASPath.Len() == 0 }},
		{"DstASPath IN ('3356 6939 15169', '') OR DstCommunities = '65000:100 65000:200'", func(r *flow.Record) bool {
			return r.DstASPath.String() == "3356 6939 15169" || r.DstASPath.Len() == 0 || r.DstCommunities.CommunityString() == "65000:100 65000:200"
		}},
		{"DstASPath != '64500 64500 64500' AND DstLargeCommunities NOT IN ('4294967295:0:4294967295 65000:1:2')", func(r *flow.Record) bool {
			return r.DstASPath.String() != "64500 64500 64500" && r.DstLargeCommunities.String() != "4294967295:0:4294967295 65000:1:2"
		}},
	}
	for i, lf := range listFilters {
		cases = append(cases, queryCase{name: fmt.Sprintf("list filter %d", i), kind: "table",
			q: with(q(12, store.MetricL3bps, 0), func(q *store.Query) { q.Filter = lf.text }), match: lf.match})
		cases = append(cases, queryCase{name: fmt.Sprintf("list filter %d by path", i), kind: "line",
			q: with(q(12, store.MetricL3bps, 50, "DstASPath", "DstCommunities"), func(q *store.Query) { q.Filter = lf.text }), match: lf.match})
	}
	for _, n := range nastyText {
		lit := filter.Literal(n)
		filters = append(filters, "ExporterName = "+lit+" OR SrcNetName = "+lit+" OR InIfProvider IN ("+lit+", x)",
			"InIfDescription LIKE "+filter.Literal("%"+likeEscape(n))+" AND ExporterName != "+lit+" AND SrcNetName UNLIKE "+lit)
	}
	for _, n := range nastyText {
		cases = append(cases, queryCase{name: "exporter " + n, kind: "table",
			q:     with(q(3, store.MetricL3bps, 0), func(q *store.Query) { q.Filter = "ExporterName = " + filter.Literal(n) }),
			match: func(r *flow.Record) bool { return r.ExporterName == n }})
		cases = append(cases, queryCase{name: "network like " + n, kind: "table",
			q: with(q(3, store.MetricL3bps, 0, "SrcNetName"), func(q *store.Query) {
				q.Filter = "SrcNetName ILIKE " + filter.Literal(likeEscape(strings.ToUpper(n))) + " AND InIfProvider != " + filter.Literal(n)
			}),
			match: func(r *flow.Record) bool { return r.SrcNetName == n && r.InIfProvider != n }})
	}
	for i, f := range filters {
		cases = append(cases, queryCase{fmt.Sprintf("filter %d", i), "table",
			with(q(12, store.MetricL3bps, 5, "ExporterName", "SrcNetName"), func(q *store.Query) { q.Filter = f }), false, nil})
		cases = append(cases, queryCase{fmt.Sprintf("filter %d raw", i), "table",
			with(q(12, store.MetricPPS, 5, "SrcAddr/24", "InIfProvider"), func(q *store.Query) { q.Filter = f }), false, nil})
	}
	return cases
}

// insertedBits sums Bytes*8, scaled, of the flows in [start, end).
func insertedBits(recs []flow.Record, start, end time.Time) float64 {
	var sum uint64
	for _, r := range recs {
		if !r.TimeReceived.Before(start) && r.TimeReceived.Before(end) {
			sum += r.Bytes * max(r.SamplingRate, 1)
		}
	}
	return float64(sum * 8)
}

func insertedPackets(recs []flow.Record, start, end time.Time) float64 {
	var sum uint64
	for _, r := range recs {
		if !r.TimeReceived.Before(start) && r.TimeReceived.Before(end) {
			sum += r.Packets * max(r.SamplingRate, 1)
		}
	}
	return float64(sum)
}

func answer(ctx context.Context, s *store.Store, c queryCase) (any, error) {
	switch c.kind {
	case "line":
		return s.Line(ctx, c.q)
	case "sankey":
		return s.Sankey(ctx, c.q)
	}
	return s.Table(ctx, c.q)
}

func TestQueryStores(t *testing.T) {
	recs := queryFlows(60000)
	fill := func(i int, r *flow.Record) { *r = recs[i] }
	stores := []loadedStore{loadDuckDB(t, len(recs), fill)}
	stores = append(stores, loadClickHouse(t, len(recs), fill)...)
	ctx := context.Background()
	for _, ls := range stores {
		t.Logf("store: %s", ls.name)
	}
	var tablesBefore [][]store.Table
	for _, ls := range stores {
		tablesBefore = append(tablesBefore, ls.b.Tables())
	}

	for _, c := range queryCases() {
		t.Run(c.name, func(t *testing.T) {
			var first []byte
			for i, ls := range stores {
				s := store.New(ls.b)
				s.Now = func() time.Time { return queryNow }
				res, err := answer(ctx, s, c)
				if err != nil {
					t.Fatalf("%s: %v", ls.name, err)
				}
				js, _ := json.MarshalIndent(res, "", " ")
				if i == 0 {
					first = js
					checkQueryTotals(t, c, res, recs)
					continue
				}
				if diff := cmp.Diff(string(first), string(js)); diff != "" {
					t.Errorf("%s differs from %s (-%s +%s):\n%s", ls.name, stores[0].name, stores[0].name, ls.name, diff)
				}
			}
			if testing.Verbose() && len(first) < 4000 {
				t.Logf("%s", first)
			}
		})
	}

	t.Run("widgets", func(t *testing.T) {
		var first []byte
		for i, ls := range stores {
			s := store.New(ls.b)
			s.Now = func() time.Time { return queryNow }
			fr, err := s.FlowRate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ex, err := s.Exporters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			top, err := s.Top(ctx, "srccountry", "")
			if err != nil {
				t.Fatal(err)
			}
			last, err := s.LastFlow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := recs[len(recs)-1]
			want.TimeFlowStart, want.TimeFlowEnd = want.TimeFlowStart.Truncate(time.Second), want.TimeFlowEnd.Truncate(time.Second)
			var wantMap map[string]any
			dec := json.NewDecoder(strings.NewReader(string(flow.AppendJSON(nil, &want))))
			dec.UseNumber()
			if err := dec.Decode(&wantMap); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantMap, last); diff != "" {
				t.Errorf("%s: last flow (-want +got):\n%s", ls.name, diff)
			}
			js, _ := json.MarshalIndent([]any{fr, ex, top, last}, "", " ")
			if i == 0 {
				first = js
				if fr.Rate == 0 || len(ex.Rows) == 0 || len(top.Rows) == 0 {
					t.Errorf("empty widgets: %s", js)
				}
				continue
			}
			if diff := cmp.Diff(string(first), string(js)); diff != "" {
				t.Errorf("%s differs from %s (-%s +%s):\n%s", ls.name, stores[0].name, stores[0].name, ls.name, diff)
			}
		}
	})

	t.Run("completion", func(t *testing.T) {
		var first []store.Completion
		for i, ls := range stores {
			s := store.New(ls.b)
			s.Now = func() time.Time { return queryNow }
			var got []store.Completion
			for _, text := range []string{"ExporterName = ", "InIfProvider IN ('co", "SrcAS = AS6", "srccountry = f", "DstASPath ", "DstFirstAS = AS3", "dstlastas IN (AS1", "DstASPath HAS AS33", "DstCommunities NOT HAS 65", "DstLargeCommunities HAS "} {
				c, err := s.Complete(ctx, text, len(text))
				if err != nil {
					t.Fatalf("%s: %q: %v", ls.name, text, err)
				}
				got = append(got, c...)
			}
			if i == 0 {
				first = got
				for _, want := range []string{filter.Literal(nastyText[0]), "'cogent'", "AS64500", "FR", "HAS", "NOT HAS", "AS3356", "AS15169", "65000:100", "65000:200", "65000:1:2", "4294967295:0:4294967295"} {
					if !slices.ContainsFunc(got, func(c store.Completion) bool { return c.Label == want }) {
						t.Errorf("%s: no completion %s in %v", ls.name, want, got)
					}
				}
				continue
			}
			if diff := cmp.Diff(first, got); diff != "" {
				t.Errorf("%s completions differ (-%s +%s):\n%s", ls.name, stores[0].name, ls.name, diff)
			}
		}
	})

	// After the filters of the injection suite: the same tables, the same
	// data, and the stores still answer.
	for i, ls := range stores {
		if diff := cmp.Diff(tablesBefore[i], ls.b.Tables()); diff != "" {
			t.Errorf("%s: tables changed:\n%s", ls.name, diff)
		}
		s := store.New(ls.b)
		s.Now = func() time.Time { return queryNow }
		for _, table := range []struct {
			points int
			start  time.Time
			end    time.Time
		}{{3, queryBase, queryBase.Add(3 * time.Hour)}, {1000, queryBase, queryBase.Add(3 * time.Hour)}} {
			res, err := s.Table(ctx, store.Query{Start: table.start, End: queryNow, Points: table.points})
			if err != nil {
				t.Fatalf("%s: %v", ls.name, err)
			}
			if want := insertedBits(recs, queryBase, queryNow); len(res.Rows) != 1 || res.Rows[0].Total != want {
				t.Errorf("%s (%s): after the queries, %+v; want a total of %v", ls.name, res.Table, res.Rows, want)
			}
		}
	}
}

// checkQueryTotals checks that the rows of a direct axis add up to what was
// inserted over the aligned range.
func checkQueryTotals(t *testing.T, c queryCase, res any, recs []flow.Record) {
	t.Helper()
	if !c.exact && c.match == nil {
		return
	}
	var rows []store.Stats
	var start, end time.Time
	switch r := res.(type) {
	case *store.LineResult:
		for _, s := range r.Series {
			rows = append(rows, s.Stats)
		}
		start, end = r.Start, r.End
	case *store.TableResult:
		for _, s := range r.Rows {
			rows = append(rows, s.Stats)
		}
		// A table's range is the query's, aligned on the step.
		start, end = c.q.Start, c.q.End
	}
	var got float64
	for _, s := range rows {
		got += s.Total
	}
	var want float64
	switch c.q.Metric {
	case store.MetricPPS:
		want = insertedPackets(recs, start, end)
	case store.MetricL3bps, "":
		if c.match != nil {
			var sel []flow.Record
			for i := range recs {
				if c.match(&recs[i]) {
					sel = append(sel, recs[i])
				}
			}
			recs = sel
		}
		want = insertedBits(recs, start, end)
	default:
		return
	}
	if got != want {
		t.Errorf("rows add up to %v, want %v inserted", got, want)
	}
}
