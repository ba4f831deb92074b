package store

import (
	"context"
	"encoding/json"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/google/go-cmp/cmp"
)

func rec(at time.Duration, srcAS, dstAS uint32, bytes, sr uint64) flow.Record {
	return flow.Record{TimeReceived: t0.Add(at), SrcAS: srcAS, DstAS: dstAS, Bytes: bytes, Packets: 1, SamplingRate: sr}
}

// hourQuery is an hour from t0 in 6 points of 10 minutes.
func hourQuery(dims ...string) Query {
	q := Query{Start: t0, End: t0.Add(time.Hour), Points: 6}
	for _, d := range dims {
		q.Dimensions = append(q.Dimensions, Dimension{Column: d})
	}
	return q
}

// testRecords: AS100 sends 10000 bytes at 10:01 (sampled 1:10) and 500 at
// 10:25 (sampling rate 0, read as 1); AS300 4000 at 10:15; AS400 100 at
// 10:55; before the range, AS100 10 at 9:30.
func testRecords() []flow.Record {
	return []flow.Record{
		rec(time.Minute, 100, 200, 1000, 10),
		rec(25*time.Minute, 100, 200, 500, 0),
		rec(15*time.Minute, 300, 100, 2000, 2),
		rec(55*time.Minute, 400, 300, 100, 1),
		rec(-30*time.Minute, 100, 300, 10, 1),
	}
}

func rates(bits ...float64) []float64 {
	out := make([]float64, len(bits))
	for i, b := range bits {
		out[i] = b / 600
	}
	return out
}

func stats(total float64, r []float64) Stats {
	st, _ := statsOf(make([]float64, 0), time.Second)
	st.Total = total
	st.Min, st.Max = r[0], r[0]
	var sum float64
	for _, x := range r {
		st.Min, st.Max = min(st.Min, x), max(st.Max, x)
		sum += x
	}
	st.Avg = sum / float64(len(r))
	st.P95 = st.Max // 6 points: the 95th percentile is the largest
	return st
}

func TestLine(t *testing.T) {
	s := newTestStore(&fakeBackend{recs: testRecords()})
	q := hourQuery("SrcAS")
	q.Limit = 2
	res, err := s.Line(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for i := range 6 {
		times = append(times, t0.Add(time.Duration(i)*10*time.Minute))
	}
	as100 := rates(80000, 0, 4000, 0, 0, 0)
	as300 := rates(0, 32000, 0, 0, 0, 0)
	other := rates(0, 0, 0, 0, 0, 800)
	want := &LineResult{Start: t0, End: t0.Add(time.Hour), Step: 600, Table: "flows", Time: times, Series: []Series{
		{Dimensions: []string{"100"}, Axis: AxisDirect, Values: as100, Stats: stats(84000, as100)},
		{Dimensions: []string{"300"}, Axis: AxisDirect, Values: as300, Stats: stats(32000, as300)},
		{Dimensions: []string{"Other"}, Axis: AxisDirect, Values: other, Stats: stats(800, other)},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Line (-want +got):\n%s", diff)
	}

	// Without Other when the top holds everything; without dimensions, one
	// series of everything.
	q.Limit = 3
	res, _ = s.Line(context.Background(), q)
	if len(res.Series) != 3 || res.Series[2].Dimensions[0] != "400" {
		t.Errorf("limit 3: %+v", res.Series)
	}
	res, _ = s.Line(context.Background(), hourQuery())
	all := rates(80000, 32000, 4000, 0, 0, 800)
	if diff := cmp.Diff([]Series{{Dimensions: []string{}, Axis: AxisDirect, Values: all, Stats: stats(116800, all)}}, res.Series); diff != "" {
		t.Errorf("no dimensions (-want +got):\n%s", diff)
	}

	// No data: every point still there, no series with dimensions.
	res, _ = s.Line(context.Background(), Query{Start: t0.Add(-48 * time.Hour), End: t0.Add(-47 * time.Hour), Points: 6, Dimensions: []Dimension{{Column: "SrcAS"}}})
	if len(res.Time) != 6 || len(res.Series) != 0 {
		t.Errorf("no data: %d points, %d series", len(res.Time), len(res.Series))
	}
	res, _ = s.Line(context.Background(), Query{Start: t0.Add(-48 * time.Hour), End: t0.Add(-47 * time.Hour), Points: 6})
	if len(res.Series) != 1 || len(res.Series[0].Values) != 6 {
		t.Errorf("no data, no dimensions: %+v", res.Series)
	}
}

func TestMetrics(t *testing.T) {
	recs := []flow.Record{
		{TimeReceived: t0, Bytes: 1000, Packets: 10, SamplingRate: 2, InIfSpeed: 1000, OutIfSpeed: 0},
		{TimeReceived: t0.Add(time.Minute), Bytes: 500, Packets: 5, SamplingRate: 0, InIfSpeed: 10, OutIfSpeed: 100},
	}
	s := newTestStore(&fakeBackend{recs: recs})
	for _, tc := range []struct {
		m     Metric
		total float64
	}{
		{MetricL3bps, (2000 + 500) * 8},
		{MetricL2bps, (2000 + 18*20 + 500 + 18*5) * 8},
		{MetricPPS, 25},
		{MetricFlows, 3},
	} {
		q := hourQuery()
		q.Metric = tc.m
		res, err := s.Table(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Rows[0].Total; got != tc.total {
			t.Errorf("%s: total %v, want %v", tc.m, got, tc.total)
		}
	}
}

func TestTopTies(t *testing.T) {
	// Two addresses with the same traffic: the fake store orders them one
	// way (by descending IPv4-mapped text); the top-1 is the smaller shown
	// value whatever the store's order.
	recs := []flow.Record{
		{TimeReceived: t0, SrcAddr: netip.MustParseAddr("192.0.2.2"), Bytes: 100, SamplingRate: 1},
		{TimeReceived: t0, SrcAddr: netip.MustParseAddr("192.0.2.10"), Bytes: 100, SamplingRate: 1},
		{TimeReceived: t0, SrcAddr: netip.MustParseAddr("2001:db8::1"), Bytes: 50, SamplingRate: 1},
	}
	b := &fakeBackend{recs: recs}
	s := newTestStore(b)
	q := hourQuery("SrcAddr")
	q.Limit = 1
	res, err := s.Table(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Dimensions: []string{"192.0.2.10"}, Axis: AxisDirect, Stats: Stats{Total: 800, Min: 0, Max: 800.0 / 600, Avg: 800.0 / 600 / 6, P95: 800.0 / 600}},
		{Dimensions: []string{"Other"}, Axis: AxisDirect, Stats: Stats{Total: 1200, Min: 0, Max: 1200.0 / 600, Avg: 1200.0 / 600 / 6, P95: 1200.0 / 600}},
	}
	if diff := cmp.Diff(want, res.Rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	// Query 2 asked for the address typed back.
	found := false
	for _, args := range b.args {
		for _, a := range args {
			found = found || a == netip.MustParseAddr("192.0.2.10")
		}
	}
	if !found {
		t.Errorf("query 2 did not ask for the address: %v", b.args)
	}
}

func TestBidirectionalPrevious(t *testing.T) {
	s := newTestStore(&fakeBackend{recs: testRecords()})
	q := hourQuery("SrcAS")
	q.Limit = 1
	q.Bidirectional = true
	q.PreviousPeriod = true
	res, err := s.Line(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		Axis Axis
		Dim  string
	}
	got := map[key][]float64{}
	var order []key
	for _, sr := range res.Series {
		k := key{sr.Axis, sr.Dimensions[0]}
		got[k] = sr.Values
		order = append(order, k)
	}
	want := map[key][]float64{
		{AxisDirect, "100"}:          rates(80000, 0, 4000, 0, 0, 0),
		{AxisDirect, "Other"}:        rates(0, 32000, 0, 0, 0, 800),
		{AxisReverse, "200"}:         rates(80000, 0, 4000, 0, 0, 0), // DstAS
		{AxisReverse, "Other"}:       rates(0, 32000, 0, 0, 0, 800),
		{AxisPrevious, "100"}:        rates(0, 0, 0, 80, 0, 0), // 9:30 is the 4th point of 9:00-10:00
		{AxisPreviousReverse, "300"}: rates(0, 0, 0, 80, 0, 0),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
	wantOrder := []key{{AxisDirect, "100"}, {AxisDirect, "Other"}, {AxisReverse, "200"}, {AxisReverse, "Other"}, {AxisPrevious, "100"}, {AxisPreviousReverse, "300"}}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestSankey(t *testing.T) {
	s := newTestStore(&fakeBackend{recs: testRecords()})
	q := hourQuery("SrcAS", "DstAS")
	q.Limit = 2
	q.Bidirectional = true // ignored
	res, err := s.Sankey(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	avg := func(bits float64) float64 { return bits / 3600 }
	if diff := cmp.Diff([]string{"SrcAS", "DstAS"}, res.Dimensions); diff != "" {
		t.Errorf("dimensions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"0:100", "1:200", "0:300", "1:100", "0:Other", "1:Other"}, res.Nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	wantLinks := []SankeyLink{{"0:100", "1:200", avg(84000)}, {"0:300", "1:100", avg(32000)}, {"0:Other", "1:Other", avg(800)}}
	if diff := cmp.Diff(wantLinks, res.Links, cmpFloat); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	if len(res.Rows) != 3 {
		t.Errorf("rows %+v", res.Rows)
	}
}

var cmpFloat = cmp.Comparer(func(a, b float64) bool { return a == b || (a-b)/(a+b) < 1e-12 && (b-a)/(a+b) < 1e-12 })

func TestWidgets(t *testing.T) {
	recs := testRecords()
	for i := range recs {
		recs[i].TimeReceived = recs[i].TimeReceived.Add(time.Hour) // within the hour before now (t0+2h)
		recs[i].ExporterName = "edge-1"
		recs[i].ExporterAddress = netip.MustParseAddr("192.0.2.1")
	}
	recs[0].ExporterName = "edge-2"
	recs[3].TimeReceived = t0.Add(2*time.Hour - 3*time.Minute)
	b := &fakeBackend{recs: recs}
	s := newTestStore(b)
	ctx := context.Background()

	fr, err := s.FlowRate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(fr.Rate-1.0/300) > 1e-15 || fr.Period != 300 || fr.Step != 60 || len(fr.Values) != 60 || len(fr.Time) != 60 || fr.Values[1] != 10.0/60 || fr.Values[57] != 1.0/60 {
		t.Errorf("flow rate %+v", fr)
	}

	ex, err := s.Exporters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Rows) != 2 || ex.Rows[0].Dimensions[0] != "edge-2" || ex.Rows[0].Dimensions[1] != "192.0.2.1" || ex.Rows[0].Total != 80000 || ex.Rows[1].Total != 36800 {
		t.Errorf("exporters %+v", ex.Rows)
	}

	top, err := s.Top(ctx, "dstas", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Rows) != 3 || top.Rows[0].Dimensions[0] != "200" {
		t.Errorf("top %+v", top.Rows)
	}
	if _, err := s.Top(ctx, "Bytes", ""); err == nil || err.Error() != `"Bytes" is not a dimension` {
		t.Errorf("Top(Bytes) = %v", err)
	}

	last, err := s.LastFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := recs[3]
	var wantMap map[string]any
	dec := json.NewDecoder(jsonReader(flow.AppendJSON(nil, &want)))
	dec.UseNumber()
	if err := dec.Decode(&wantMap); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantMap, last); diff != "" {
		t.Errorf("last flow (-want +got):\n%s", diff)
	}
	s.Now = func() time.Time { return t0.Add(100 * 24 * time.Hour) }
	if last, err := s.LastFlow(ctx); last != nil || err != nil {
		t.Errorf("LastFlow without flows = %v, %v", last, err)
	}
}

func TestComplete(t *testing.T) {
	recs := testRecords()
	for i := range recs {
		recs[i].TimeReceived = t0.Add(time.Hour)
		recs[i].InIfName = []string{"et-0/0/1", "et-0/0/2", "xe 1", "Et-9", "et-0/0/1"}[i]
	}
	b := &fakeBackend{recs: recs}
	s := newTestStore(b)
	ctx := context.Background()
	for _, tc := range []struct {
		text string
		want []Completion
	}{
		{"InIfName = et", []Completion{
			{Label: "et-0/0/1", Detail: "InIfName seen in the last day", Kind: "value"},
			{Label: "et-0/0/2", Detail: "InIfName seen in the last day", Kind: "value"},
			{Label: "Et-9", Detail: "InIfName seen in the last day", Kind: "value"},
		}},
		{"InIfName IN ('x", []Completion{{Label: "'xe 1'", Detail: "InIfName seen in the last day", Kind: "value"}}},
		{"InIfName = 'et-0/0/2", []Completion{{Label: "'et-0/0/2'", Detail: "InIfName seen in the last day", Kind: "value"}}},
		{"SrcAS = as1", []Completion{{Label: "AS100", Detail: "SrcAS seen in the last day", Kind: "value"}}},
		{"SrcAS = 4", []Completion{{Label: "AS400", Detail: "SrcAS seen in the last day", Kind: "value"}}},
		{"InIfBoundary = e", []Completion{{Label: "external", Detail: "interface facing outside the network", Kind: "value"}}},
		{"Proto = \"ud", []Completion{{Label: "udp", Detail: "Proto 17", Kind: "value"}}},
		{"SrcAS = 1 a", []Completion{{Label: "AND", Detail: "both conditions hold", Kind: "operator"}}},
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

func TestSetText(t *testing.T) {
	var r flow.Record
	for _, tc := range []struct{ col, text string }{
		{"SrcMAC", "00:11:22:33:44:55"}, {"DstMAC", "73588229205"}, {"TimeReceived", "2026-11-30T10:00:00Z"},
		{"TimeFlowStart", "1795000000"}, {"TimeFlowEnd", "2026-11-30 10:00:01.5+00"}, {"SrcAddr", "0:0:0:0:0:ffff:c000:201"},
		{"DstAddr", "::"}, {"NextHop", ""}, {"InIfBoundary", "external"}, {"OutIfBoundary", ""},
	} {
		c, _ := flow.ColumnByName(tc.col)
		if err := setText(&r, c, tc.text); err != nil {
			t.Errorf("setText(%s, %q): %v", tc.col, tc.text, err)
		}
	}
	want := flow.Record{SrcMAC: 0x001122334455, DstMAC: 0x1122334455, TimeReceived: t0, TimeFlowStart: time.Unix(1795000000, 0).UTC(),
		TimeFlowEnd: t0.Add(1500 * time.Millisecond), SrcAddr: netip.MustParseAddr("192.0.2.1"), InIfBoundary: flow.BoundaryExternal}
	if diff := cmp.Diff(want, r, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ col, text string }{{"SrcMAC", "00:11"}, {"SrcAS", "x"}, {"TimeReceived", "yesterday"}, {"SrcAddr", "nope"}, {"InIfBoundary", "outside"}} {
		c, _ := flow.ColumnByName(tc.col)
		if err := setText(&r, c, tc.text); err == nil {
			t.Errorf("setText(%s, %q): no error", tc.col, tc.text)
		}
	}
}
