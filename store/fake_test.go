package store

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/filter"
)

// testDialect renders readable SQL for the builder's tests.
type testDialect struct{}

func (testDialect) Name() string { return "test" }
func (testDialect) Ident(n string) string {
	return `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
}
func (testDialect) Bucket(step time.Duration) (string, []any) {
	return `bucket("TimeReceived", ?)`, []any{int64(step / time.Second)}
}
func (testDialect) TimeRange(start, end time.Time) (string, []any) {
	return `"TimeReceived" >= ? AND "TimeReceived" < ?`, []any{start, end}
}
func (d testDialect) Dimension(c flow.Column, truncate int) (string, []any) {
	if truncate > 0 {
		return "text(trunc(" + d.Ident(c.Name) + ", ?))", []any{truncate}
	}
	return "text(" + d.Ident(c.Name) + ")", nil
}
func (d testDialect) Key(c flow.Column, truncate int) (string, []any) {
	if truncate > 0 {
		return "key(trunc(" + d.Ident(c.Name) + ", ?))", []any{truncate}
	}
	return "key(" + d.Ident(c.Name) + ")", nil
}
func (d testDialect) Compare(c flow.Column, op string, v any) (string, []any, error) {
	switch op {
	case "UNLIKE":
		op = "NOT LIKE"
	case "IUNLIKE":
		op = "NOT ILIKE"
	case "<<":
		op = "WITHIN"
	}
	return d.Ident(c.Name) + " " + op + " ?", []any{v}, nil
}
func (testDialect) Float(e string) string { return "float(" + e + ")" }
func (d testDialect) ListElement(c flow.Column, i int) string {
	return "elem(" + d.Ident(c.Name) + ", " + strconv.Itoa(i) + ")"
}
func (testDialect) UintText(e string) string { return "text(" + e + ")" }
func (d testDialect) ListElements(c flow.Column) string {
	return "unnest(" + d.Ident(c.Name) + ")"
}

// fakeBackend answers the builder's SQL (as testDialect renders it, without
// filters) from records in memory, as a store would: it reads the
// dimensions, time range, sets, HAVING and LIMIT back from the SQL and its
// arguments. Addresses come back IPv4-mapped, and ties are ordered by
// descending text, unlike what the builder asks, to check the builder does
// not depend on either.
type fakeBackend struct {
	tables []Table
	recs   []flow.Record
	saved  []SavedFilter

	mu      sync.Mutex
	queries []string
	args    [][]any
}

func (b *fakeBackend) Dialect() Dialect { return testDialect{} }
func (b *fakeBackend) Tables() []Table {
	if b.tables != nil {
		return b.tables
	}
	return []Table{{Name: "flows", Columns: names(flow.Columns)}}
}
func (b *fakeBackend) SavedFilters(context.Context) ([]SavedFilter, error) { return b.saved, nil }
func (b *fakeBackend) SaveFilter(_ context.Context, f SavedFilter) error {
	b.saved = append(b.saved, f)
	return nil
}
func (b *fakeBackend) DeleteFilter(_ context.Context, name string) error { return nil }

func names(cs []flow.Column) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

type fakeRows struct {
	rows [][]any
	i    int
}

func (r *fakeRows) Next() bool   { r.i++; return r.i <= len(r.rows) }
func (r *fakeRows) Err() error   { return nil }
func (r *fakeRows) Close() error { return nil }
func (r *fakeRows) Scan(dest ...any) error {
	row := r.rows[r.i-1]
	if len(dest) != len(row) {
		return fmt.Errorf("scan: %d destinations for %d columns", len(dest), len(row))
	}
	for i, v := range row {
		switch d := dest[i].(type) {
		case *string:
			*d = v.(string)
		case *int64:
			*d = v.(int64)
		case *float64:
			*d = v.(float64)
		default:
			return fmt.Errorf("scan: destination %T", d)
		}
	}
	return nil
}

var (
	reCond   = regexp.MustCompile(`^(?:"(\w+)" (=|WITHIN) \?|text\((?:trunc\()?"(\w+)"(?:, \?\))?\) = \?|elem\("(\w+)", (-?\d+)\) = \?)$`)
	reDim    = regexp.MustCompile(`text\((?:elem\()?"(\w+)"(?:, (-?\d+)\))?\)`)
	reLimit  = regexp.MustCompile(`LIMIT (\d+)`)
	reUnnest = regexp.MustCompile(`unnest\("(\w+)"\)`)
)

// typedText is a typed value as fakeText writes it.
func typedText(v any) string {
	switch v := v.(type) {
	case netip.Addr:
		return netip.AddrFrom16(v.As16()).String()
	case string:
		return v
	case flow.Boundary:
		return v.String()
	}
	return fmt.Sprint(v)
}

// fakeColumn finds a column by its name, or a derived one by its list and
// element.
func fakeColumn(name, index string) flow.Column {
	if index != "" {
		for _, d := range filter.DerivedColumns {
			if d.From == name && strconv.Itoa(d.Index) == index {
				return d.Column
			}
		}
	}
	c, _ := filter.LookupColumn(name)
	return c
}

// fakeElem is element i of list column name (1 first, -1 last), 0 past
// its end.
func fakeElem(r *flow.Record, name string, i int) uint64 {
	l := flow.Access(name).Uint32s(r)
	if i < 0 {
		i += l.Len() + 1
	}
	if i < 1 || i > l.Len() {
		return 0
	}
	return uint64(l.At(i - 1))
}

// fakeText is a column as text, as a store would return it.
func fakeText(r *flow.Record, c flow.Column) string {
	if d, ok := filter.DerivedFrom(c.Name); ok {
		return strconv.FormatUint(fakeElem(r, d.From, d.Index), 10)
	}
	a := flow.Access(c.Name)
	switch c.Kind {
	case flow.KindASPath:
		return a.Uint32s(r).String()
	case flow.KindCommunities:
		return a.Uint32s(r).CommunityString()
	case flow.KindLargeCommunities:
		return a.LargeCommunities(r).String()
	case flow.KindString:
		return a.String(r)
	case flow.KindAddr:
		ad := a.Addr(r)
		if !ad.IsValid() {
			return "::"
		}
		return netip.AddrFrom16(ad.As16()).String()
	case flow.KindBoundary:
		return flow.Boundary(a.Uint(r)).String()
	case flow.KindTime:
		return strconv.FormatInt(a.Time(r).Unix(), 10)
	}
	return strconv.FormatUint(a.Uint(r), 10)
}

func (b *fakeBackend) Query(_ context.Context, sql string, args ...any) (Rows, error) {
	b.mu.Lock()
	b.queries = append(b.queries, sql)
	b.args = append(b.args, args)
	b.mu.Unlock()
	from := strings.Index(sql, " FROM ")
	var dims []flow.Column
	for _, m := range reDim.FindAllStringSubmatch(sql[:from], -1) {
		dims = append(dims, fakeColumn(m[1], m[2]))
	}
	args = slices.Clone(args)
	var step int64
	if strings.Contains(sql, "bucket(") {
		i := slices.IndexFunc(args, func(a any) bool { _, ok := a.(int64); return ok })
		step, args = args[i].(int64), slices.Delete(args, i, i+1)
	}
	for len(args) > 0 {
		if _, ok := args[0].(time.Time); ok {
			break
		}
		args = args[1:] // truncation
	}
	start, end := args[0].(time.Time), args[1].(time.Time)
	args = args[2:]
	if strings.Contains(sql, "ORDER BY \"TimeReceived\" DESC LIMIT 1") { // last flow
		var last *flow.Record
		for i := range b.recs {
			r := &b.recs[i]
			if !r.TimeReceived.Before(start) && r.TimeReceived.Before(end) && (last == nil || r.TimeReceived.After(last.TimeReceived)) {
				last = r
			}
		}
		if last == nil {
			return &fakeRows{}, nil
		}
		var row []any
		for _, c := range dims {
			row = append(row, fakeText(last, c))
		}
		return &fakeRows{rows: [][]any{row}}, nil
	}
	if m := reUnnest.FindStringSubmatch(sql); m != nil { // elements seen
		c, _ := flow.ColumnByName(m[1])
		count := map[string]float64{}
		for i := range b.recs {
			r := &b.recs[i]
			if r.TimeReceived.Before(start) || !r.TimeReceived.Before(end) {
				continue
			}
			for _, e := range strings.Fields(fakeText(r, c)) {
				count[e]++
			}
		}
		var rows [][]any
		for e, n := range count {
			rows = append(rows, []any{e, n})
		}
		slices.SortFunc(rows, func(a, b []any) int {
			if c := cmp.Compare(b[1].(float64), a[1].(float64)); c != 0 {
				return c
			}
			return strings.Compare(a[0].(string), b[0].(string))
		})
		return &fakeRows{rows: rows}, nil
	}
	var having float64 = -1
	if strings.Contains(sql, " HAVING ") {
		having, args = args[len(args)-1].(float64), args[:len(args)-1]
	}
	// Query 2: the sets, as conditions on one record.
	var sets []func(r *flow.Record) bool
	if i := strings.Index(sql, " AND (("); i >= 0 {
		section := sql[i:]
		n := strings.Count(section, "?")
		args = args[len(args)-n:] // no filter
		for _, part := range strings.Split(section[len(" AND (("):strings.Index(section, ")) GROUP BY")], ") OR (") {
			var conds []func(r *flow.Record) bool
			for _, cond := range strings.Split(part, " AND ") {
				m := reCond.FindStringSubmatch(cond)
				if m == nil {
					return nil, fmt.Errorf("fake: condition %q", cond)
				}
				switch {
				case m[4] != "":
					i, _ := strconv.Atoi(m[5])
					want, name := args[0].(uint64), m[4]
					args = args[1:]
					conds = append(conds, func(r *flow.Record) bool { return fakeElem(r, name, i) == want })
				case m[1] != "" && m[2] == "=":
					c, _ := flow.ColumnByName(m[1])
					want := args[0]
					args = args[1:]
					conds = append(conds, func(r *flow.Record) bool {
						switch w := want.(type) {
						case flow.Uint32s:
							return flow.Access(c.Name).Uint32s(r).Equal(w)
						case flow.LargeCommunities:
							return flow.Access(c.Name).LargeCommunities(r).Equal(w)
						}
						return fakeText(r, c) == typedText(want)
					})
				case m[1] != "":
					c, _ := flow.ColumnByName(m[1])
					pf := args[0].(netip.Prefix)
					args = args[1:]
					conds = append(conds, func(r *flow.Record) bool { return pf.Contains(flow.Access(c.Name).Addr(r).Unmap()) })
				default:
					c, _ := flow.ColumnByName(m[3])
					if strings.Contains(m[0], "trunc(") {
						args = args[1:] // not truncated by the fake
					}
					want := args[0].(string)
					args = args[1:]
					conds = append(conds, func(r *flow.Record) bool { return fakeText(r, c) == want })
				}
			}
			sets = append(sets, func(r *flow.Record) bool {
				for _, f := range conds {
					if !f(r) {
						return false
					}
				}
				return true
			})
		}
	}
	qty := func(r *flow.Record) float64 {
		sr := max(r.SamplingRate, 1)
		switch {
		case strings.Contains(sql, "18 *"):
			return float64((r.Bytes + 18*r.Packets) * sr)
		case strings.Contains(sql, `SUM("Flows")`), strings.Contains(sql, "SUM((CASE"):
			return float64(sr)
		case strings.Contains(sql, `"Packets"`):
			return float64(r.Packets * sr)
		}
		return float64(r.Bytes * sr)
	}
	type group struct {
		t    int64
		dims []string
		v    float64
	}
	idx := map[string]*group{}
	var groups []*group
	for i := range b.recs {
		r := &b.recs[i]
		if r.TimeReceived.Before(start) || !r.TimeReceived.Before(end) {
			continue
		}
		g := group{}
		if step > 0 {
			g.t = r.TimeReceived.Unix() / step * step
		}
		for _, c := range dims {
			g.dims = append(g.dims, fakeText(r, c))
		}
		if sets != nil && !slices.ContainsFunc(sets, func(f func(*flow.Record) bool) bool { return f(r) }) {
			continue
		}
		k := fmt.Sprint(g.t, g.dims)
		if idx[k] == nil {
			idx[k] = &g
			groups = append(groups, &g)
		}
		idx[k].v += qty(r)
	}
	slices.SortFunc(groups, func(a, b *group) int {
		if step > 0 {
			if c := cmp.Compare(a.t, b.t); c != 0 {
				return c
			}
		} else if c := cmp.Compare(b.v, a.v); c != 0 {
			return c
		}
		return -slices.Compare(a.dims, b.dims)
	})
	var rows [][]any
	for _, g := range groups {
		if g.v < having {
			continue
		}
		var row []any
		if step > 0 {
			row = append(row, g.t)
		}
		for _, d := range g.dims {
			row = append(row, d)
		}
		rows = append(rows, append(row, g.v))
	}
	if m := reLimit.FindStringSubmatch(sql); m != nil {
		n, _ := strconv.Atoi(m[1])
		if len(rows) > n {
			rows = rows[:n]
		}
	}
	return &fakeRows{rows: rows}, nil
}

func jsonReader(b []byte) *strings.Reader { return strings.NewReader(string(b)) }
