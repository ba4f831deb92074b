package clickhouse

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// TestStore runs the query model over the sink: the builder's SQL, rendered
// with this dialect, runs on the server, and the totals of a table add up to
// what was stored, from the raw table and from each rollup.
func TestStore(t *testing.T) { forEachServer(t, testStore) }

func testStore(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "batch_size = 3000\nbatch_timeout = \"50ms\"")
	provision(t, s)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour)
	base := now.Add(-2 * time.Hour)
	const n = 20000
	in := make(chan *flow.Batch, 4)
	errc := runSink(t, s, in)
	feed(ctx, in, 0, n, 1000, base, new(atomic.Int64), nil)
	close(in)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	st := store.New(s)
	st.Now = func() time.Time { return now }

	var wantBits, wantFlows float64
	var r flow.Record
	for i := range n {
		makeFlow(&r, i, base)
		wantBits += float64(r.Bytes*r.SamplingRate) * 8
		wantFlows += float64(r.SamplingRate)
	}
	for _, c := range []struct {
		name   string
		q      store.Query
		table  string
		metric float64
	}{
		{"raw", store.Query{Start: base, End: now, Points: 100, Dimensions: []store.Dimension{{Column: "SrcAddr", Truncate: 24}}, Metric: store.MetricL3bps, Limit: 3}, "flows", wantBits},
		{"raw v6", store.Query{Start: base, End: now, Points: 100, Dimensions: []store.Dimension{{Column: "DstAddr", Truncate: 120}, {Column: "DstPort"}}, Metric: store.MetricFlows, Limit: 5}, "flows", wantFlows},
		{"1m", store.Query{Start: base, End: now, Step: time.Minute, Dimensions: []store.Dimension{{Column: "ExporterName"}, {Column: "SrcCountry"}}, Metric: store.MetricFlows, Limit: 3}, "flows_1m0s", wantFlows},
		{"5m", store.Query{Start: base, End: now, Step: 5 * time.Minute, Dimensions: []store.Dimension{{Column: "SrcAS"}}, Metric: store.MetricL3bps, Limit: 4}, "flows_5m0s", wantBits},
		{"1h", store.Query{Start: base, End: now, Step: time.Hour, Dimensions: []store.Dimension{{Column: "InIfName"}, {Column: "InIfBoundary"}}, Metric: store.MetricL3bps, Limit: 3}, "flows_1h0m0s", wantBits},
		{"filtered", store.Query{Start: base, End: now, Points: 12, Dimensions: []store.Dimension{{Column: "ExporterAddress"}}, Metric: store.MetricL3bps, Limit: 10,
			Filter: "SrcAS >= AS64500 AND ExporterName ILIKE 'ROUTER%' AND NOT InIfBoundary = external OR InIfBoundary = external"}, "", wantBits},
		{"prefix", store.Query{Start: base, End: now, Points: 12, Dimensions: []store.Dimension{{Column: "SrcAS"}}, Metric: store.MetricFlows, Limit: 10,
			Filter: "SrcAddr << 10.0.0.0/8 OR SrcAddr << 2001:db8::/32"}, "flows", wantFlows},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := st.Table(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if c.table != "" && res.Table != c.table {
				t.Errorf("table %s, want %s", res.Table, c.table)
			}
			var total float64
			for _, r := range res.Rows {
				total += r.Total
			}
			if total != c.metric {
				t.Errorf("%s: total %v, want %v (rows %v)", res.Table, total, c.metric, res.Rows)
			}
		})
	}
	line, err := st.Line(ctx, store.Query{Start: base, End: now, Points: 24, Dimensions: []store.Dimension{{Column: "SrcAS"}}, Metric: store.MetricPPS, Limit: 3, Bidirectional: true, PreviousPeriod: true})
	if err != nil {
		t.Fatal(err)
	}
	var axes []store.Axis
	for _, s := range line.Series {
		if !slices.Contains(axes, s.Axis) {
			axes = append(axes, s.Axis)
		}
	}
	if !slices.Contains(axes, store.AxisDirect) || !slices.Contains(axes, store.AxisReverse) {
		t.Errorf("line series axes %v, want the direct and reverse ones", axes)
	}
	sk, err := st.Sankey(ctx, store.Query{Start: base, End: now, Points: 12, Dimensions: []store.Dimension{{Column: "SrcAS"}, {Column: "InIfName"}, {Column: "ExporterName"}}, Metric: store.MetricL3bps, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(sk.Links) == 0 {
		t.Error("no sankey links")
	}
	if _, err := st.Table(ctx, store.Query{Start: base, End: now, Points: 10, Metric: store.MetricL3bps, Filter: "SrcAS = 'x' AND"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad filter: %v", err)
	}
	comps, err := st.Complete(ctx, "ExporterName = ", len("ExporterName = "))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("completions of ExporterName: %v", comps)
	if _, err := st.Exporters(ctx); err != nil {
		t.Errorf("exporters: %v", err)
	}
	if _, err := st.FlowRate(ctx); err != nil {
		t.Errorf("flow rate: %v", err)
	}
	st.Now = time.Now
	last, err := st.LastFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("last flow: %v", last)
}
