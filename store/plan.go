package store

import (
	"slices"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/filter"
)

// defaultPoints is the number of points of a query that gives neither
// Points nor Step.
const defaultPoints = 200

// dim is one checked dimension.
type dim struct {
	col   flow.Column
	trunc int
}

// plan is a validated query: its table, aligned range and step, and the
// parsed filter.
type plan struct {
	metric Metric
	dims   []dim
	filter filter.Expr
	limit  int
	bidir  bool
	prev   bool

	table Table
	// topTable serves query 1 and the total over the range: the coarsest
	// rollup whose interval the range is aligned on (the same sums from
	// fewer rows), else table.
	topTable Table
	step     time.Duration
	start    time.Time // aligned on step
	end      time.Time // aligned on step
	n        int       // points
}

// columnLookup finds a column by name, ignoring case.
func columnLookup(name string) (flow.Column, bool) { return filter.LookupColumn(name) }

// swapped returns the column of the other direction (Src/Dst, In/Out), or
// name itself when there is none.
func swapped(name string) string {
	var other string
	switch {
	case strings.HasPrefix(name, "Src"):
		other = "Dst" + name[3:]
	case strings.HasPrefix(name, "Dst"):
		other = "Src" + name[3:]
	case strings.HasPrefix(name, "In"):
		other = "Out" + name[2:]
	case strings.HasPrefix(name, "Out"):
		other = "In" + name[3:]
	default:
		return name
	}
	if _, ok := flow.ColumnByName(other); ok {
		return other
	}
	return name
}

func swapColumn(c flow.Column) flow.Column {
	if n := swapped(c.Name); n != c.Name {
		o, _ := flow.ColumnByName(n)
		return o
	}
	return c
}

// metricColumns are the flow columns a metric reads, besides Bytes/Packets.
func metricColumns(m Metric) []string {
	switch m {
	case MetricInL2:
		return []string{"InIfSpeed"}
	case MetricOutL2:
		return []string{"OutIfSpeed"}
	}
	return nil
}

func validMetric(m Metric) bool {
	switch m {
	case MetricL3bps, MetricL2bps, MetricPPS, MetricFlows, MetricInL2, MetricOutL2:
		return true
	}
	return false
}

// parseFilter parses text into an expression, or an *InvalidFilterError.
func parseFilter(text string) (filter.Expr, error) {
	e, errs := filter.Parse(text)
	if len(errs) > 0 {
		return nil, &InvalidFilterError{Errors: filterErrors(errs)}
	}
	return e, nil
}

func filterErrors(errs []filter.Error) []FilterError {
	out := make([]FilterError, len(errs))
	for i, e := range errs {
		out[i] = FilterError{Offset: e.Offset, Line: e.Line, Column: e.Column, Message: e.Message}
	}
	return out
}

// plan validates q and chooses its table and step.
func (s *Store) plan(q Query, minDims int) (*plan, error) {
	p := &plan{metric: q.Metric, limit: q.Limit, bidir: q.Bidirectional, prev: q.PreviousPeriod}
	if p.metric == "" {
		p.metric = MetricL3bps
	}
	if !validMetric(p.metric) {
		return nil, invalidf("unknown metric %q: expected l3bps, l2bps, pps, flows, inl2%% or outl2%%", q.Metric)
	}
	if q.Start.IsZero() || q.End.IsZero() {
		return nil, invalidf("start and end are required")
	}
	if !q.End.After(q.Start) {
		return nil, invalidf("end (%s) must be after start (%s)", q.End.UTC().Format(time.RFC3339), q.Start.UTC().Format(time.RFC3339))
	}
	lim := s.Limits
	rng := q.End.Sub(q.Start)
	if rng > lim.MaxRange {
		return nil, &LimitError{Limit: "range_days", Max: int(lim.MaxRange / (24 * time.Hour)), Got: int((rng + 24*time.Hour - 1) / (24 * time.Hour))}
	}
	if q.Points < 0 {
		return nil, invalidf("points must be positive, got %d", q.Points)
	}
	if q.Points > lim.MaxPoints {
		return nil, &LimitError{Limit: "points", Max: lim.MaxPoints, Got: q.Points}
	}
	if q.Step < 0 || (q.Step > 0 && q.Step%time.Second != 0) {
		return nil, invalidf("step must be a positive whole number of seconds, got %s", q.Step)
	}
	if len(q.Dimensions) > lim.MaxDimensions {
		return nil, &LimitError{Limit: "dimensions", Max: lim.MaxDimensions, Got: len(q.Dimensions)}
	}
	if len(q.Dimensions) < minDims {
		return nil, invalidf("at least %d dimensions are needed, got %d", minDims, len(q.Dimensions))
	}
	if q.Limit < 0 {
		return nil, invalidf("limit must be positive, got %d", q.Limit)
	}
	if q.Limit > lim.MaxLimit {
		return nil, &LimitError{Limit: "limit", Max: lim.MaxLimit, Got: q.Limit}
	}
	if p.limit == 0 {
		p.limit = 10
	}
	for _, d := range q.Dimensions {
		c, ok := columnLookup(d.Column)
		if !ok {
			return nil, invalidf("unknown dimension %q", d.Column)
		}
		if !c.Dimension {
			return nil, invalidf("%s cannot be a dimension", c.Name)
		}
		if d.Truncate != 0 {
			if c.Kind != flow.KindAddr {
				return nil, invalidf("%s is not an address: it cannot be truncated", c.Name)
			}
			if d.Truncate < 0 || d.Truncate > 128 {
				return nil, invalidf("truncation of %s must be from 0 to 128 bits, got %d", c.Name, d.Truncate)
			}
		}
		p.dims = append(p.dims, dim{col: c, trunc: d.Truncate})
	}
	var err error
	if p.filter, err = parseFilter(q.Filter); err != nil {
		return nil, err
	}

	// Columns the query reads, both directions if bidirectional.
	var need []string
	rawOnly := false
	addCol := func(n string) {
		n = sourceName(n) // derived columns read their list
		if !slices.Contains(need, n) {
			need = append(need, n)
		}
		if p.bidir {
			if o := swapped(n); !slices.Contains(need, o) {
				need = append(need, o)
			}
		}
	}
	for _, d := range p.dims {
		addCol(d.col.Name)
	}
	for _, n := range filter.Columns(p.filter) {
		if n == "Bytes" || n == "Packets" {
			rawOnly = true // per-flow counters: rollup rows sum them
		}
		addCol(n)
	}
	for _, n := range metricColumns(p.metric) {
		addCol(n)
	}

	// The step wanted before the table rounds it.
	want := q.Step
	if want == 0 {
		pts := q.Points
		if pts == 0 {
			pts = defaultPoints
		}
		want = (rng + time.Duration(pts) - 1) / time.Duration(pts)
		want = (want + time.Second - 1) / time.Second * time.Second
	}
	oldest := q.Start
	if p.prev {
		oldest = q.Start.Add(-rng - want)
	}
	t, ok := chooseTable(s.backend.Tables(), need, rawOnly, want, oldest, s.now())
	if !ok {
		return nil, invalidf("no table holds the columns %s", strings.Join(need, ", "))
	}
	step := want
	if t.Interval > 0 {
		step = (want + t.Interval - 1) / t.Interval * t.Interval
		// The rounded step may suit a coarser rollup (295s → 5m).
		if c, ok := chooseTable(s.backend.Tables(), need, rawOnly, step, oldest, s.now()); ok && c.Interval > t.Interval && step%c.Interval == 0 {
			t = c
		}
	}
	p.table = t
	p.step = step
	p.start = alignDown(q.Start, step)
	p.end = alignDown(q.End, step)
	if p.end.Before(q.End) {
		p.end = p.end.Add(step)
	}
	p.n = int(p.end.Sub(p.start) / step)
	p.topTable = p.table
	if !rawOnly {
		if t, ok := alignedTable(s.backend.Tables(), need, p.start, p.end, oldest, s.now()); ok && t.Interval > p.table.Interval {
			p.topTable = t
		}
	}
	if p.n > lim.MaxPoints+1 {
		return nil, &LimitError{Limit: "points", Max: lim.MaxPoints, Got: p.n}
	}
	return p, nil
}

// alignDown rounds t down to a multiple of step since the epoch.
func alignDown(t time.Time, step time.Duration) time.Time {
	s := int64(step / time.Second)
	u := t.Unix()
	u -= ((u % s) + s) % s
	return time.Unix(u, 0).UTC()
}

// chooseTable picks the coarsest rollup whose interval is at most step,
// that keeps data back to oldest, and that has every needed column; else a
// rollup that has the columns and the data at a finer step than asked; else
// the raw table.
func chooseTable(tables []Table, need []string, rawOnly bool, step time.Duration, oldest, now time.Time) (Table, bool) {
	has := func(t Table) bool {
		if len(t.Columns) == 0 && t.Interval == 0 {
			return true
		}
		for _, n := range need {
			if !slices.Contains(t.Columns, n) {
				return false
			}
		}
		return true
	}
	covers := func(t Table) bool { return t.Retention == 0 || !oldest.Before(now.Add(-t.Retention)) }
	var rollups []Table
	var raw *Table
	for i := range tables {
		if tables[i].Interval == 0 {
			if raw == nil {
				raw = &tables[i]
			}
			continue
		}
		rollups = append(rollups, tables[i])
	}
	slices.SortStableFunc(rollups, func(a, b Table) int { return int((b.Interval - a.Interval) / time.Second) })
	if !rawOnly {
		for _, t := range rollups {
			if t.Interval <= step && t.Interval%time.Second == 0 && covers(t) && has(t) {
				return t, true
			}
		}
	}
	if raw != nil && has(*raw) && covers(*raw) {
		return *raw, true
	}
	if !rawOnly {
		// Older than the raw table keeps: the finest rollup that has it.
		for i := len(rollups) - 1; i >= 0; i-- {
			if t := rollups[i]; t.Interval%time.Second == 0 && covers(t) && has(t) {
				return t, true
			}
		}
	}
	if raw != nil && has(*raw) {
		return *raw, true
	}
	return Table{}, false
}

// alignedTable picks the coarsest rollup whose interval start and end are
// multiples of, that keeps data back to oldest and has every needed column.
func alignedTable(tables []Table, need []string, start, end, oldest, now time.Time) (Table, bool) {
	var best Table
	found := false
	for _, t := range tables {
		secs := int64(t.Interval / time.Second)
		if t.Interval == 0 || t.Interval%time.Second != 0 || start.Unix()%secs != 0 || end.Unix()%secs != 0 {
			continue
		}
		if t.Retention != 0 && oldest.Before(now.Add(-t.Retention)) {
			continue
		}
		if !slices.ContainsFunc(need, func(n string) bool { return !slices.Contains(t.Columns, n) }) && (!found || t.Interval > best.Interval) {
			best, found = t, true
		}
	}
	return best, found
}
