package duckdb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// TestStore runs the query model over the sink while it inserts: the
// builder's SQL, rendered with this dialect, runs on DuckDB, and the totals
// of a table add up to what was stored, from the raw table and from rollups.
func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, _ := newSink(t, path, "batch_size = 2000\nbatch_timeout = \"20ms\"")
	provision(t, s)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour)
	base := now.Add(-2 * time.Hour)
	in := make(chan *flow.Batch, 4)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, in) }()
	var done atomic.Int64
	const n = 20000
	st := store.New(s)
	st.Now = func() time.Time { return now }

	// Queries while inserts go on.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var queries atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := st.Table(ctx, store.Query{Start: base, End: now, Points: 10, Dimensions: []store.Dimension{{Column: "SrcAS"}}, Metric: store.MetricFlows, Limit: 5}); err != nil {
				t.Errorf("query during inserts: %v", err)
				return
			}
			queries.Add(1)
		}
	}()
	feed(ctx, in, 0, n, 1000, base, &done)
	close(in)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d queries ran during the inserts", queries.Load())

	var wantBits float64
	for i := 0; i < n; i++ {
		r := record(i, base)
		wantBits += float64(r.Bytes*r.SamplingRate) * 8
	}
	for _, c := range []struct {
		name string
		q    store.Query
		want string // table chosen
	}{
		{"raw", store.Query{Start: base, End: now, Points: 100, Dimensions: []store.Dimension{{Column: "SrcAddr", Truncate: 24}}, Metric: store.MetricL3bps, Limit: 3}, "flows"},
		{"rollup", store.Query{Start: base, End: now, Step: time.Hour, Dimensions: []store.Dimension{{Column: "InIfName"}, {Column: "InIfBoundary"}}, Metric: store.MetricL3bps, Limit: 3}, "flows_1h0m0s"},
		{"filtered", store.Query{Start: base, End: now, Points: 12, Dimensions: []store.Dimension{{Column: "ExporterAddress"}}, Metric: store.MetricL3bps, Limit: 10,
			Filter: "SrcAS >= AS64500 AND ExporterName ILIKE 'ROUTER%' AND NOT InIfBoundary = external OR InIfBoundary = external"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := st.Table(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if c.want != "" && res.Table != c.want {
				t.Errorf("table %s, want %s", res.Table, c.want)
			}
			var total float64
			for _, r := range res.Rows {
				total += r.Total
			}
			if total != wantBits {
				t.Errorf("%s: total %v bits, want %v (rows %v)", res.Table, total, wantBits, res.Rows)
			}
		})
	}
	line, err := st.Line(ctx, store.Query{Start: base, End: now, Points: 24, Dimensions: []store.Dimension{{Column: "SrcAS"}}, Metric: store.MetricPPS, Limit: 3, Bidirectional: true, PreviousPeriod: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(line.Series) == 0 {
		t.Error("no series")
	}
	sk, err := st.Sankey(ctx, store.Query{Start: base, End: now, Points: 12, Dimensions: []store.Dimension{{Column: "SrcAS"}, {Column: "InIfName"}, {Column: "ExporterName"}}, Metric: store.MetricL3bps, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(sk.Links) == 0 {
		t.Error("no sankey links")
	}
	st.Now = time.Now
	last, err := st.LastFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last == nil || last["InIfDescription"] != "transit: a long interface description" {
		t.Errorf("last flow %v", last)
	}
	if _, err := st.Table(ctx, store.Query{Start: base, End: now, Points: 10, Metric: store.MetricL3bps, Filter: "SrcAS = 'x' AND"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad filter: %v", err)
	}
	comps, err := st.Complete(ctx, "ExporterName = ", len("ExporterName = "))
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, c := range comps {
		labels = append(labels, c.Label)
	}
	if !strings.Contains(fmt.Sprint(labels), "router1") {
		t.Logf("completions: %v", labels)
	}
}
