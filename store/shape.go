package store

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// maxTies bounds the dimension sets read to break a tie at the top-N edge.
const maxTies = 10000

// OtherLabel names the folded rest of the dimension sets.
const OtherLabel = "Other"

// set is one dimension set of an axis: its values as the store returned
// them (for query 2's parameters) and as shown.
type set struct {
	raw   []string
	shown []string
	total float64
}

// axisData is one axis of a query answered: per set, the metric's quantity
// per point.
type axisData struct {
	axis   Axis
	sets   []set
	values [][]float64 // per set, per point
	other  []float64   // per point; nil when the sets hold everything
}

// normalize turns a dimension value as a store returned it into the shown
// form: addresses as netip prints them, IPv4 never IPv4-mapped.
func normalize(c flow.Column, v string) string {
	if c.Kind == flow.KindAddr {
		if a, err := netip.ParseAddr(v); err == nil {
			return a.Unmap().String()
		}
	}
	return v
}

func rowsErr(rows Rows, err error) error {
	if err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// axes runs every axis of p.
func (s *Store) axes(ctx context.Context, p *plan) ([]*axisData, error) {
	type job struct {
		axis Axis
		swap bool
		prev bool
	}
	jobs := []job{{AxisDirect, false, false}}
	if p.bidir {
		jobs = append(jobs, job{AxisReverse, true, false})
	}
	if p.prev {
		jobs = append(jobs, job{AxisPrevious, false, true})
		if p.bidir {
			jobs = append(jobs, job{AxisPreviousReverse, true, true})
		}
	}
	out := make([]*axisData, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		q := &query{p: p, d: s.backend.Dialect(), swap: j.swap, start: p.start, end: p.end, top: p.topTable}
		if j.prev {
			l := p.end.Sub(p.start)
			q.start, q.end = p.start.Add(-l), p.start
		}
		run := func() { out[i], errs[i] = s.runAxis(ctx, q, j.axis) }
		if len(jobs) == 1 {
			run()
			break
		}
		wg.Add(1)
		go func() { defer wg.Done(); run() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cleanValue rounds what float sums leave behind for the percent metrics
// (their per-row ratios sum in any order); quantities of the other metrics
// are whole numbers and stay exact.
func cleanValue(m Metric, v float64) float64 {
	if m == MetricInL2 || m == MetricOutL2 {
		return math.Round(v*1e6) / 1e6
	}
	return v
}

func (s *Store) runAxis(ctx context.Context, q *query, axis Axis) (*axisData, error) {
	p := q.p
	_, factor := quantity(q.d, p.table, p.metric)
	ad := &axisData{axis: axis}
	if len(p.dims) == 0 {
		totals, err := s.perStep(ctx, q, nil, factor)
		if err != nil {
			return nil, err
		}
		ad.sets = []set{{raw: []string{}, shown: []string{}}}
		ad.values = [][]float64{totals[""]}
		if ad.values[0] == nil {
			ad.values[0] = make([]float64, p.n)
		}
		return ad, nil
	}
	// Query 3 runs beside queries 1 and 2.
	var totals map[string][]float64
	var totalErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		totals, totalErr = s.perStep(ctx, q, nil, factor)
	}()
	sets, err := s.top(ctx, q)
	if err != nil {
		<-done
		return nil, err
	}
	var per map[string][]float64
	if len(sets) > 0 {
		raw := make([][]string, len(sets))
		for i := range sets {
			raw[i] = sets[i].raw
		}
		per, err = s.perStep(ctx, q, raw, factor)
	}
	<-done
	if err != nil {
		return nil, err
	}
	if totalErr != nil {
		return nil, totalErr
	}
	ad.sets = sets
	total := totals[""]
	if total == nil {
		total = make([]float64, p.n)
	}
	if len(sets) == 0 {
		ad.other = nonZero(total)
		return ad, nil
	}
	other := slices.Clone(total)
	for _, st := range sets {
		v := per[strings.Join(st.raw, "\x00")]
		if v == nil {
			v = make([]float64, p.n)
		}
		ad.values = append(ad.values, v)
		for i := range other {
			other[i] = cleanValue(p.metric, other[i]-v[i])
		}
	}
	ad.other = nonZero(other)
	return ad, nil
}

func nonZero(v []float64) []float64 {
	for _, x := range v {
		if x != 0 {
			return v
		}
	}
	return nil
}

// top runs query 1 and returns the top sets, ties at the edge broken by the
// shown values so that every store picks the same sets.
func (s *Store) top(ctx context.Context, q *query) ([]set, error) {
	p := q.p
	read := func(limit int, atLeast float64) ([]set, error) {
		st, err := q.topSQL(limit, atLeast)
		if err != nil {
			return nil, err
		}
		rows, err := s.backend.Query(ctx, st.String(), st.args...)
		if err != nil {
			return nil, fmt.Errorf("query top %s: %w", q.topTable().Name, err)
		}
		var out []set
		dest := make([]any, len(p.dims)+1)
		vals := make([]string, len(p.dims))
		var v float64
		for i := range vals {
			dest[i] = &vals[i]
		}
		dest[len(vals)] = &v
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("query top %s: %w", q.topTable().Name, err)
			}
			st := set{raw: slices.Clone(vals), shown: make([]string, len(vals)), total: v}
			for i, dm := range p.dims {
				st.shown[i] = normalize(dm.col, vals[i])
			}
			out = append(out, st)
		}
		if err := rowsErr(rows, nil); err != nil {
			return nil, fmt.Errorf("query top %s: %w", q.topTable().Name, err)
		}
		return out, nil
	}
	sets, err := read(p.limit+1, -1)
	if err != nil {
		return nil, err
	}
	if len(sets) > p.limit && sets[p.limit].total == sets[p.limit-1].total {
		edge := sets[p.limit-1].total
		if sets, err = read(maxTies, edge-math.Abs(edge)*1e-9); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(sets, func(a, b set) int {
		if c := cmp.Compare(b.total, a.total); c != 0 {
			return c
		}
		return slices.Compare(a.shown, b.shown)
	})
	if len(sets) > p.limit {
		sets = sets[:p.limit]
	}
	return sets, nil
}

// perStep runs query 2 (sets given) or 3 (sets nil) and returns the
// quantities per point, keyed by the raw values joined with NUL ("" for
// query 3).
func (s *Store) perStep(ctx context.Context, q *query, sets [][]string, factor float64) (map[string][]float64, error) {
	p := q.p
	st, err := q.seriesSQL(sets)
	if err != nil {
		return nil, err
	}
	rows, err := s.backend.Query(ctx, st.String(), st.args...)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", p.table.Name, err)
	}
	nd := 0
	if sets != nil {
		nd = len(p.dims)
	}
	var t int64
	var v float64
	vals := make([]string, nd)
	dest := make([]any, 0, nd+2)
	dest = append(dest, &t)
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	dest = append(dest, &v)
	out := map[string][]float64{}
	start, stepS := q.start.Unix(), int64(p.step/time.Second)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("query %s: %w", p.table.Name, err)
		}
		i := (t - start) / stepS
		if t < start || i >= int64(p.n) {
			continue
		}
		key := strings.Join(vals, "\x00")
		row := out[key]
		if row == nil {
			row = make([]float64, p.n)
			out[key] = row
		}
		row[i] = cleanValue(p.metric, row[i]+v*factor)
	}
	if err := rowsErr(rows, nil); err != nil {
		return nil, fmt.Errorf("query %s: %w", p.table.Name, err)
	}
	return out, nil
}

// statsOf summarises quantities per point of step.
func statsOf(values []float64, step time.Duration) (Stats, []float64) {
	secs := step.Seconds()
	rates := make([]float64, len(values))
	var st Stats
	for i, v := range values {
		st.Total += v
		rates[i] = v / secs
	}
	if len(rates) == 0 {
		return st, rates
	}
	sorted := slices.Clone(rates)
	slices.Sort(sorted)
	st.Min, st.Max = sorted[0], sorted[len(sorted)-1]
	var sum float64
	for _, r := range rates {
		sum += r
	}
	st.Avg = sum / float64(len(rates))
	// Nearest rank.
	k := int(math.Ceil(0.95*float64(len(sorted)))) - 1
	st.P95 = sorted[max(k, 0)]
	return st, rates
}

// series turns axes into series: the sets in order, then Other.
func series(p *plan, axes []*axisData) []Series {
	var out []Series
	for _, ad := range axes {
		for i, st := range ad.sets {
			stats, rates := statsOf(ad.values[i], p.step)
			out = append(out, Series{Dimensions: st.shown, Axis: ad.axis, Values: rates, Stats: stats})
		}
		if ad.other != nil {
			dims := make([]string, len(p.dims))
			for i := range dims {
				dims[i] = OtherLabel
			}
			stats, rates := statsOf(ad.other, p.step)
			out = append(out, Series{Dimensions: dims, Axis: ad.axis, Values: rates, Stats: stats})
		}
	}
	return out
}

// sankeyRows answers the rows of a sankey: query 1 and the total over the
// range, Other the difference; Total and Avg only.
func (s *Store) sankeyRows(ctx context.Context, p *plan) ([]Row, error) {
	q := &query{p: p, d: s.backend.Dialect(), start: p.start, end: p.end, top: p.topTable}
	_, factor := quantity(q.d, p.table, p.metric)
	var total float64
	var totalErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		total, totalErr = s.total(ctx, q)
	}()
	sets, err := s.top(ctx, q)
	<-done
	if err != nil {
		return nil, err
	}
	if totalErr != nil {
		return nil, totalErr
	}
	secs := p.end.Sub(p.start).Seconds()
	rows := []Row{}
	other := cleanValue(p.metric, total*factor)
	for _, st := range sets {
		v := cleanValue(p.metric, st.total*factor)
		other = cleanValue(p.metric, other-v)
		rows = append(rows, Row{Dimensions: st.shown, Axis: AxisDirect, Stats: Stats{Total: v, Avg: v / secs}})
	}
	if other != 0 {
		dims := make([]string, len(p.dims))
		for i := range dims {
			dims[i] = OtherLabel
		}
		rows = append(rows, Row{Dimensions: dims, Axis: AxisDirect, Stats: Stats{Total: other, Avg: other / secs}})
	}
	return rows, nil
}

// total runs totalSQL.
func (s *Store) total(ctx context.Context, q *query) (float64, error) {
	st, err := q.totalSQL()
	if err != nil {
		return 0, err
	}
	rows, err := s.backend.Query(ctx, st.String(), st.args...)
	if err != nil {
		return 0, fmt.Errorf("query total %s: %w", q.topTable().Name, err)
	}
	var v float64
	if rows.Next() {
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return 0, fmt.Errorf("query total %s: %w", q.topTable().Name, err)
		}
	}
	if err := rowsErr(rows, nil); err != nil {
		return 0, fmt.Errorf("query total %s: %w", q.topTable().Name, err)
	}
	return v, nil
}
