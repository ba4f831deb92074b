package e2e

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// TestQuerySpeed loads $FLOWENGINE_QUERY_SPEED_FLOWS generated flows over 24
// hours into every store and times the console's two heavy questions: a
// top-10 time series by SrcAS over the 24 hours (200 points), a sankey
// SrcAS → InIfProvider → DstCountry, and the raw table's: by SrcAddr/24, by
// DstASPath, and by DstFirstAS filtered on communities and the path. It reports the first run (cold) and the
// best of three more (warm). Skipped unless the variable is set (10000000
// for the figure of the issue).
func TestQuerySpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FLOWENGINE_QUERY_SPEED_FLOWS"))
	if n <= 0 {
		t.Skip("set FLOWENGINE_QUERY_SPEED_FLOWS (e.g. 10000000) to run")
	}
	end := time.Now().UTC().Truncate(time.Hour)
	start := end.Add(-24 * time.Hour)
	g := newFlowGen(start, 24*time.Hour)
	fill := func(_ int, r *flow.Record) { g.fill(r) }
	type named struct {
		name string
		load func() []loadedStore
	}
	loaders := []named{
		{"duckdb", func() []loadedStore { return []loadedStore{loadDuckDB(t, n, fill)} }},
		{"clickhouse", func() []loadedStore { return loadClickHouse(t, n, fill) }},
	}
	queries := []struct {
		name string
		run  func(ctx context.Context, s *store.Store) error
	}{
		{"top-10 SrcAS line, 24h", func(ctx context.Context, s *store.Store) error {
			_, err := s.Line(ctx, store.Query{Start: start, End: end, Points: 200, Limit: 10, Dimensions: dims("SrcAS")})
			return err
		}},
		{"sankey SrcAS → InIfProvider → DstCountry, 24h", func(ctx context.Context, s *store.Store) error {
			_, err := s.Sankey(ctx, store.Query{Start: start, End: end, Points: 200, Limit: 10, Dimensions: dims("SrcAS", "InIfProvider", "DstCountry")})
			return err
		}},
		{"top-10 SrcAddr/24 table, 1h (raw flows)", func(ctx context.Context, s *store.Store) error {
			_, err := s.Table(ctx, store.Query{Start: end.Add(-time.Hour), End: end, Points: 60, Limit: 10, Dimensions: dims("SrcAddr/24")})
			return err
		}},
		{"top-10 DstASPath line, 24h (raw flows)", func(ctx context.Context, s *store.Store) error {
			_, err := s.Line(ctx, store.Query{Start: start, End: end, Points: 200, Limit: 10, Dimensions: dims("DstASPath")})
			return err
		}},
		{"top-10 DstFirstAS, DstCommunities HAS, 24h", func(ctx context.Context, s *store.Store) error {
			_, err := s.Line(ctx, store.Query{Start: start, End: end, Points: 200, Limit: 10, Dimensions: dims("DstFirstAS"),
				Filter: "DstCommunities HAS 65000:100 AND NOT DstASPath HAS AS6939"})
			return err
		}},
	}
	for _, l := range loaders {
		g = newFlowGen(start, 24*time.Hour)
		t0 := time.Now()
		stores := l.load()
		if len(stores) == 0 {
			continue
		}
		t.Logf("%s: loaded %d flows in %s", l.name, n, time.Since(t0).Round(time.Millisecond))
		for _, ls := range stores {
			s := store.New(ls.b)
			for _, q := range queries {
				var cold, warm time.Duration
				for i := range 4 {
					t0 := time.Now()
					if err := q.run(context.Background(), s); err != nil {
						t.Fatalf("%s: %s: %v", ls.name, q.name, err)
					}
					d := time.Since(t0)
					if i == 0 {
						cold = d
					} else if warm == 0 || d < warm {
						warm = d
					}
				}
				t.Logf("%-16s %-48s cold %8s  warm %8s", ls.name, q.name, cold.Round(time.Millisecond), warm.Round(time.Millisecond))
			}
		}
	}
}
