package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/filter"
)

// Store answers the console's questions over one Backend. It is safe for
// concurrent use.
type Store struct {
	backend Backend
	// Limits bound each request; New sets DefaultLimits.
	Limits Limits
	// Now is the clock (time.Now unless a test sets it).
	Now func() time.Time
}

// New returns the store of backend b.
func New(b Backend) *Store {
	return &Store{backend: b, Limits: DefaultLimits, Now: time.Now}
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Line answers a line graph: every point of the aligned range has a value
// in every series (0 where there was no data).
func (s *Store) Line(ctx context.Context, q Query) (*LineResult, error) {
	p, err := s.plan(q, 0)
	if err != nil {
		return nil, err
	}
	axes, err := s.axes(ctx, p)
	if err != nil {
		return nil, err
	}
	res := &LineResult{Start: p.start, End: p.end, Step: int64(p.step / time.Second), Table: p.table.Name,
		Time: make([]time.Time, p.n), Series: series(p, axes)}
	for i := range res.Time {
		res.Time[i] = p.start.Add(time.Duration(i) * p.step)
	}
	if res.Series == nil {
		res.Series = []Series{}
	}
	return res, nil
}

// Table answers a table: one row per series with its stats.
func (s *Store) Table(ctx context.Context, q Query) (*TableResult, error) {
	p, err := s.plan(q, 0)
	if err != nil {
		return nil, err
	}
	return s.table(ctx, p)
}

func (s *Store) table(ctx context.Context, p *plan) (*TableResult, error) {
	axes, err := s.axes(ctx, p)
	if err != nil {
		return nil, err
	}
	res := &TableResult{Table: p.table.Name, Rows: []Row{}}
	for _, sr := range series(p, axes) {
		res.Rows = append(res.Rows, Row{Dimensions: sr.Dimensions, Axis: sr.Axis, Stats: sr.Stats})
	}
	return res, nil
}

// Sankey answers a sankey graph over two dimensions or more: the rows of
// the direct axis (Other included) and the links between the values of
// adjacent dimensions, weighted by the rows' average rates. Its rows carry
// Total and Avg only (two queries, none per step).
func (s *Store) Sankey(ctx context.Context, q Query) (*SankeyResult, error) {
	q.Bidirectional, q.PreviousPeriod = false, false
	p, err := s.plan(q, 2)
	if err != nil {
		return nil, err
	}
	rows, err := s.sankeyRows(ctx, p)
	if err != nil {
		return nil, err
	}
	res := &SankeyResult{Table: p.topTable.Name, Rows: rows, Nodes: []string{}, Links: []SankeyLink{}}
	for _, d := range p.dims {
		res.Dimensions = append(res.Dimensions, d.col.Name)
	}
	nodes := map[string]bool{}
	links := map[[2]string]int{}
	node := func(i int, v string) string {
		n := fmt.Sprintf("%d:%s", i, v)
		if !nodes[n] {
			nodes[n] = true
			res.Nodes = append(res.Nodes, n)
		}
		return n
	}
	for _, r := range rows {
		for i := 0; i+1 < len(r.Dimensions); i++ {
			a, b := node(i, r.Dimensions[i]), node(i+1, r.Dimensions[i+1])
			k := [2]string{a, b}
			j, ok := links[k]
			if !ok {
				j = len(res.Links)
				links[k] = j
				res.Links = append(res.Links, SankeyLink{Source: a, Target: b})
			}
			res.Links[j].Value += r.Avg
		}
	}
	return res, nil
}

// ValidateFilter parses a filter and returns its errors (none when valid).
func (s *Store) ValidateFilter(text string) []FilterError {
	_, errs := filter.Parse(text)
	return filterErrors(errs)
}

// Completion is a suggestion at an offset of a filter; Kind is "column",
// "operator" or "value".
type Completion struct {
	Label  string `json:"label"`
	Detail string `json:"detail"`
	Kind   string `json:"kind"`
}

// ColumnInfo describes a column of the schema for the console.
type ColumnInfo struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Dimension   bool   `json:"dimension"`
}

// Columns lists the flow columns, then the derived ones (DstFirstAS,
// DstLastAS: computed from DstASPath).
func (s *Store) Columns() []ColumnInfo {
	all := filter.AllColumns()
	out := make([]ColumnInfo, len(all))
	for i, c := range all {
		out[i] = ColumnInfo{Name: c.Name, Type: typeName(c), Description: c.Description, Dimension: c.Dimension}
	}
	return out
}

func typeName(c flow.Column) string {
	switch c.Kind {
	case flow.KindTime:
		return "time"
	case flow.KindUint:
		return fmt.Sprintf("uint%d", c.Bits)
	case flow.KindString:
		return "string"
	case flow.KindAddr:
		return "address"
	case flow.KindMAC:
		return "mac"
	case flow.KindBoundary:
		return "boundary"
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		return c.Kind.String() // as-path, communities, large-communities
	}
	return "unknown"
}

// FlowRate is the flows per second the store received: Rate over the last
// Period seconds, and a series over the last hour.
type FlowRate struct {
	Rate   float64     `json:"rate"`
	Period int64       `json:"period"` // seconds
	Step   int64       `json:"step"`   // seconds between points of Values
	Time   []time.Time `json:"time"`
	Values []float64   `json:"values"`
}

// FlowRate returns the flows per second over the last 5 complete minutes and
// per minute over the last hour.
func (s *Store) FlowRate(ctx context.Context) (*FlowRate, error) {
	end := alignDown(s.now(), time.Minute)
	hour, err := s.Line(ctx, Query{Start: end.Add(-time.Hour), End: end, Step: time.Minute, Metric: MetricFlows})
	if err != nil {
		return nil, err
	}
	fr := &FlowRate{Period: 300, Step: hour.Step, Time: hour.Time, Values: make([]float64, len(hour.Time))}
	if len(hour.Series) > 0 {
		fr.Values = hour.Series[0].Values
	}
	last := fr.Values[max(len(fr.Values)-5, 0):]
	for _, v := range last {
		fr.Rate += v
	}
	if len(last) > 0 {
		fr.Rate /= float64(len(last))
	}
	return fr, nil
}

// lastHour is the query of the widgets: the last hour, per minute.
func (s *Store) lastHour(dims ...Dimension) Query {
	end := alignDown(s.now(), time.Minute)
	return Query{Start: end.Add(-time.Hour), End: end, Step: time.Minute, Dimensions: dims, Limit: 10, Metric: MetricL3bps}
}

// Exporters returns the top 10 exporters (name and address) by bits over
// the last hour.
func (s *Store) Exporters(ctx context.Context) (*TableResult, error) {
	return s.Table(ctx, s.lastHour(Dimension{Column: "ExporterName"}, Dimension{Column: "ExporterAddress"}))
}

// Top returns the top 10 values of a dimension by bits over the last hour,
// of the flows that match filter (filter language text, "" for all): e.g.
// the AS paths of the flows that have a route, "DstFirstAS != 0". The
// filter is parsed and rendered as any query's, its values as parameters.
func (s *Store) Top(ctx context.Context, dimension, filter string) (*TableResult, error) {
	c, ok := columnLookup(dimension)
	if !ok || !c.Dimension {
		return nil, invalidf("%q is not a dimension", dimension)
	}
	q := s.lastHour(Dimension{Column: c.Name})
	q.Filter = filter
	return s.Table(ctx, q)
}

// SavedFilters lists the saved filters.
func (s *Store) SavedFilters(ctx context.Context) ([]SavedFilter, error) {
	fs, err := s.backend.SavedFilters(ctx)
	if fs == nil && err == nil {
		fs = []SavedFilter{}
	}
	return fs, err
}

// maxFilterName bounds saved filter names.
const maxFilterName = 100

func checkFilterName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalidf("a saved filter needs a name")
	}
	if len(name) > maxFilterName {
		return invalidf("saved filter name too long: %d bytes, at most %d", len(name), maxFilterName)
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f {
			return invalidf("saved filter name has a control character")
		}
	}
	return nil
}

// SaveFilter adds or replaces a saved filter once its name and filter are
// valid.
func (s *Store) SaveFilter(ctx context.Context, f SavedFilter) error {
	if err := checkFilterName(f.Name); err != nil {
		return err
	}
	if strings.TrimSpace(f.Filter) == "" {
		return invalidf("saved filter %q is empty", f.Name)
	}
	if _, err := parseFilter(f.Filter); err != nil {
		return err
	}
	if f.Updated.IsZero() {
		f.Updated = s.now().UTC()
	}
	return s.backend.SaveFilter(ctx, f)
}

// DeleteFilter removes a saved filter.
func (s *Store) DeleteFilter(ctx context.Context, name string) error {
	if err := checkFilterName(name); err != nil {
		return err
	}
	return s.backend.DeleteFilter(ctx, name)
}
