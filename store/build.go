package store

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/filter"
)

// sqlText accumulates SQL and its parameters in order.
type sqlText struct {
	b    strings.Builder
	args []any
}

func (s *sqlText) w(parts ...string) {
	for _, p := range parts {
		s.b.WriteString(p)
	}
}

func (s *sqlText) part(sql string, args []any) {
	s.b.WriteString(sql)
	s.args = append(s.args, args...)
}

func (s *sqlText) String() string { return s.b.String() }

// renderFilter renders e through d, with the columns of the other direction
// when swap is set.
func renderFilter(s *sqlText, d Dialect, e filter.Expr, swap bool) error {
	switch e := e.(type) {
	case *filter.Logical:
		s.w("(")
		for i, t := range e.Terms {
			if i > 0 {
				s.w(" ", e.Op, " ")
			}
			if err := renderFilter(s, d, t, swap); err != nil {
				return err
			}
		}
		s.w(")")
	case *filter.Not:
		s.w("NOT ")
		if c, leaf := e.X.(*filter.Compare); leaf && c.Op != "IN" && c.Op != "NOT IN" {
			s.w("(")
			defer s.w(")")
		}
		return renderFilter(s, d, e.X, swap)
	case *filter.Compare:
		c := e.Column
		if swap {
			c = swapColumn(c)
		}
		switch e.Op {
		case "IN", "NOT IN":
			if e.Op == "NOT IN" {
				s.w("NOT ")
			}
			s.w("(")
			for i, v := range e.Values {
				if i > 0 {
					s.w(" OR ")
				}
				sql, args, err := compare(d, c, "=", v)
				if err != nil {
					return fmt.Errorf("filter on %s: %w", c.Name, err)
				}
				s.part(sql, args)
			}
			s.w(")")
		default:
			v := e.Values[0]
			if strings.HasSuffix(e.Op, "LIKE") {
				v = canonicalLike(v.(string))
			}
			sql, args, err := compare(d, c, e.Op, v)
			if err != nil {
				return fmt.Errorf("filter on %s: %w", c.Name, err)
			}
			s.part(sql, args)
		}
	default:
		return fmt.Errorf("filter: unexpected node %T", e)
	}
	return nil
}

// derivedSource returns the list column and element a derived column is
// read from.
func derivedSource(c flow.Column) (flow.Column, int, bool) {
	dv, ok := filter.DerivedFrom(c.Name)
	if !ok {
		return flow.Column{}, 0, false
	}
	from, ok := flow.ColumnByName(dv.From)
	return from, dv.Index, ok
}

// sourceName is the column of the table a column is read from: the list
// of a derived column, else the column itself.
func sourceName(name string) string {
	if dv, ok := filter.DerivedFrom(name); ok {
		return dv.From
	}
	return name
}

// sqlOps are the comparisons of derived columns, written by the builder.
var sqlOps = map[string]string{"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

// compare renders one comparison of column c of a table: derived columns
// as a comparison of their list element, NOT HAS as the negation of HAS,
// the rest through Dialect.Compare.
func compare(d Dialect, c flow.Column, op string, v any) (string, []any, error) {
	if from, i, ok := derivedSource(c); ok {
		n, isUint := v.(uint64)
		sqlOp, known := sqlOps[op]
		if !isUint || !known {
			return "", nil, fmt.Errorf("%w: %s cannot be compared with %s %v", ErrInvalid, c.Name, op, v)
		}
		return d.ListElement(from, i) + " " + sqlOp + " ?", []any{n}, nil
	}
	if op == "NOT HAS" {
		sql, args, err := d.Compare(c, "HAS", v)
		if err != nil {
			return "", nil, err
		}
		return "NOT (" + sql + ")", args, nil
	}
	return d.Compare(c, op, v)
}

// dimText is column c of a table as text (Dialect.Dimension), derived
// columns computed from their list.
func dimText(d Dialect, c flow.Column, truncate int) (string, []any) {
	if from, i, ok := derivedSource(c); ok {
		return d.UintText(d.ListElement(from, i)), nil
	}
	return d.Dimension(c, truncate)
}

// dimKey is column c of a table as a Key, derived columns computed from
// their list.
func dimKey(d Dialect, c flow.Column, truncate int) (string, []any) {
	if from, i, ok := derivedSource(c); ok {
		return d.ListElement(from, i), nil
	}
	return d.Key(c, truncate)
}

// parseList reads a list column's value back from its text (Dimension).
func parseList(c flow.Column, text string) (any, bool) {
	fields := strings.Fields(text)
	if strings.Join(fields, " ") != text {
		return nil, false
	}
	return filter.ParseList(c, text)
}

// canonicalLike rewrites a LIKE pattern so that a backslash only ever
// precedes %, _ or another backslash: a backslash before any other character
// is dropped, and a trailing one doubled (a literal backslash). Stores read
// such patterns alike (ClickHouse, and DuckDB with ESCAPE), whereas they
// differ on other escapes.
func canonicalLike(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(p) {
			b.WriteString(`\\`)
			break
		}
		i++
		switch p[i] {
		case '%', '_', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// quantity is the SQL of the metric's quantity summed over the rows of a
// group, as a float, and the factor that turns it into the metric's unit.
func quantity(d Dialect, t Table, m Metric) (string, float64) {
	bytes, packets := d.Ident("Bytes"), d.Ident("Packets")
	var sr string
	if !t.Scaled {
		s := d.Ident("SamplingRate")
		sr = "(CASE WHEN " + s + " = 0 THEN 1 ELSE " + s + " END)"
	}
	scaled := func(x string) string {
		if sr == "" {
			return x
		}
		return "(" + x + ") * " + sr
	}
	l2 := bytes + " + 18 * " + packets
	switch m {
	case MetricL2bps:
		return d.Float("SUM(" + scaled(l2) + ")"), 8
	case MetricPPS:
		return d.Float("SUM(" + scaled(packets) + ")"), 1
	case MetricFlows:
		if sr == "" {
			return d.Float("SUM(" + d.Ident("Flows") + ")"), 1
		}
		return d.Float("SUM(" + sr + ")"), 1
	case MetricInL2, MetricOutL2:
		speed := d.Ident("InIfSpeed")
		if m == MetricOutL2 {
			speed = d.Ident("OutIfSpeed")
		}
		// bits*100 / (speed in Mbps * 1e6) = bytes / speed * 8e-4
		return "SUM(CASE WHEN " + speed + " = 0 THEN 0 ELSE " + d.Float(scaled(l2)) + " / " + d.Float(speed) + " END)", 8e-4
	}
	return d.Float("SUM(" + scaled(bytes) + ")"), 8
}

// query is one axis of a plan: the dimensions and filter in one direction
// over one range.
type query struct {
	p     *plan
	d     Dialect
	swap  bool
	start time.Time
	end   time.Time
	// top is the table of query 1 and of the total over the range: a
	// coarser rollup than the plan's when the range is aligned on its
	// interval (the same sums from fewer rows), else the plan's.
	top Table
}

// topTable returns the table for query 1 and the total.
func (q *query) topTable() Table {
	if q.top.Name != "" {
		return q.top
	}
	return q.p.table
}

func (q *query) col(c flow.Column) flow.Column {
	if q.swap {
		return swapColumn(c)
	}
	return c
}

func (q *query) alias(prefix string, i int) string { return q.d.Ident(prefix + strconv.Itoa(i)) }

// from writes FROM table, the time range and the filter.
func (q *query) from(s *sqlText, table Table) error {
	s.w(" FROM ", q.d.Ident(table.Name), " WHERE ")
	s.part(q.d.TimeRange(q.start, q.end))
	if q.p.filter != nil {
		s.w(" AND ")
		if err := renderFilter(s, q.d, q.p.filter, q.swap); err != nil {
			return err
		}
	}
	return nil
}

// selectDims writes the dimensions as text: read from the table, or from
// the Key columns of a subquery renamed to their columns' names (outer).
func (q *query) selectDims(s *sqlText, outer bool) {
	for i, dm := range q.p.dims {
		if i > 0 {
			s.w(", ")
		}
		if outer {
			s.part(q.d.Dimension(q.col(dm.col), dm.trunc))
		} else {
			s.part(dimText(q.d, q.col(dm.col), dm.trunc))
		}
		s.w(" AS ", q.alias("d", i))
	}
}

func (q *query) groupDims(s *sqlText) {
	for i := range q.p.dims {
		if i > 0 {
			s.w(", ")
		}
		s.w(q.alias("d", i))
	}
}

// keyed says whether the dimensions can be grouped by their Key (see
// Dialect): each column once, so that the Key columns can take their
// column's name in the outer query.
func (q *query) keyed() bool {
	seen := make(map[string]bool, len(q.p.dims))
	for _, dm := range q.p.dims {
		name := q.col(dm.col).Name
		if seen[name] {
			return false
		}
		seen[name] = true
	}
	return true
}

func (q *query) selectKeys(s *sqlText) {
	for i, dm := range q.p.dims {
		if i > 0 {
			s.w(", ")
		}
		s.part(dimKey(q.d, q.col(dm.col), dm.trunc))
		s.w(" AS ", q.alias("k", i))
	}
}

func (q *query) groupKeys(s *sqlText) {
	for i := range q.p.dims {
		if i > 0 {
			s.w(", ")
		}
		s.w(q.alias("k", i))
	}
}

// outer writes the start of a query reading the rows of a subquery grouped
// by Keys: the dimensions' text, then the subquery renaming the Keys to
// their columns' names (with t first when step is set). The caller writes
// the subquery's SELECT and closes both parentheses.
func (q *query) outer(s *sqlText, step bool) {
	t, v := q.d.Ident("t"), q.d.Ident("v")
	s.w("SELECT ")
	if step {
		s.w(t, ", ")
	}
	q.selectDims(s, true)
	s.w(", ", v, " FROM (SELECT ")
	if step {
		s.w(t, ", ")
	}
	for i, dm := range q.p.dims {
		s.w(q.alias("k", i), " AS ", q.d.Ident(q.col(dm.col).Name), ", ")
	}
	s.w(v, " FROM (")
}

// topSQL is query 1: the totals of the dimension sets, largest first, at
// most limit rows; with atLeast >= 0, every set whose total is at least that.
// The rows are grouped by the dimensions' Keys, and only the rows returned
// turned into text.
func (q *query) topSQL(limit int, atLeast float64) (*sqlText, error) {
	s := &sqlText{}
	qty, _ := quantity(q.d, q.topTable(), q.p.metric)
	keyed := q.keyed()
	if keyed {
		q.outer(s, false)
		s.w("SELECT ")
		q.selectKeys(s)
	} else {
		s.w("SELECT ")
		q.selectDims(s, false)
	}
	s.w(", ", qty, " AS ", q.d.Ident("v"))
	if err := q.from(s, q.topTable()); err != nil {
		return nil, err
	}
	s.w(" GROUP BY ")
	if keyed {
		q.groupKeys(s)
	} else {
		q.groupDims(s)
	}
	if atLeast >= 0 {
		s.w(" HAVING ", qty, " >= ?")
		s.args = append(s.args, atLeast)
	}
	s.w(" ORDER BY ", q.d.Ident("v"), " DESC")
	if keyed {
		// Ties at the edge are read again with atLeast (Store.top).
		s.w(" LIMIT ", strconv.Itoa(limit), "))")
		s.w(" ORDER BY ", q.d.Ident("v"), " DESC")
	}
	for i := range q.p.dims {
		s.w(", ", q.alias("d", i))
	}
	if !keyed {
		s.w(" LIMIT ", strconv.Itoa(limit))
	}
	return s, nil
}

// match writes the condition that dimension dm has the value text, as the
// store returned it: a comparison of the column with the value typed back
// when it reads back (cheaper than the text of every row, and what an index
// serves), else an equality of the dimension's text.
func (q *query) match(s *sqlText, dm dim, text string) error {
	c := q.col(dm.col)
	var op string
	var v any
	switch c.Kind {
	case flow.KindString:
		op, v = "=", text
	case flow.KindUint:
		if n, err := strconv.ParseUint(text, 10, 64); err == nil && strconv.FormatUint(n, 10) == text {
			op, v = "=", n
		}
	case flow.KindBoundary:
		if b, ok := flow.ParseBoundary(text); ok {
			op, v = "=", b
		}
	case flow.KindAddr:
		if a, err := netip.ParseAddr(text); err == nil && a.Zone() == "" {
			a = a.Unmap()
			bits := a.BitLen()
			if dm.trunc > 0 {
				bits = min(dm.trunc, bits)
			}
			switch {
			case bits == a.BitLen():
				op, v = "=", a
			default:
				if pf := netip.PrefixFrom(a, bits); pf.Masked() == pf {
					op, v = "<<", pf
				}
			}
		}
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		if l, ok := parseList(c, text); ok {
			op, v = "=", l
		}
	}
	if op != "" {
		if sql, args, err := compare(q.d, c, op, v); err == nil {
			s.part(sql, args)
			return nil
		}
	}
	s.part(dimText(q.d, c, dm.trunc))
	s.w(" = ?")
	s.args = append(s.args, text)
	return nil
}

// totalSQL is the metric's quantity over the whole range.
func (q *query) totalSQL() (*sqlText, error) {
	s := &sqlText{}
	qty, _ := quantity(q.d, q.topTable(), q.p.metric)
	// SUM over no rows is NULL in DuckDB.
	s.w("SELECT ", q.d.Float("COALESCE("+qty+", 0)"), " AS ", q.d.Ident("v"))
	if err := q.from(s, q.topTable()); err != nil {
		return nil, err
	}
	return s, nil
}

// seriesSQL is query 2: the sums per step of the given dimension sets (as
// the store returned them), or, with no sets, query 3: the sums per step of
// everything.
func (q *query) seriesSQL(sets [][]string) (*sqlText, error) {
	s := &sqlText{}
	qty, _ := quantity(q.d, q.p.table, q.p.metric)
	keyed := sets != nil && q.keyed()
	if keyed {
		q.outer(s, true)
	}
	s.w("SELECT ")
	s.part(q.d.Bucket(q.p.step))
	s.w(" AS ", q.d.Ident("t"))
	if sets != nil {
		s.w(", ")
		if keyed {
			q.selectKeys(s)
		} else {
			q.selectDims(s, false)
		}
	}
	s.w(", ", qty, " AS ", q.d.Ident("v"))
	if err := q.from(s, q.p.table); err != nil {
		return nil, err
	}
	if sets != nil {
		s.w(" AND (")
		for i, set := range sets {
			if i > 0 {
				s.w(" OR ")
			}
			s.w("(")
			for j, dm := range q.p.dims {
				if j > 0 {
					s.w(" AND ")
				}
				if err := q.match(s, dm, set[j]); err != nil {
					return nil, err
				}
			}
			s.w(")")
		}
		s.w(")")
	}
	s.w(" GROUP BY ", q.d.Ident("t"))
	if sets != nil {
		s.w(", ")
		if keyed {
			q.groupKeys(s)
			s.w("))")
		} else {
			q.groupDims(s)
		}
	}
	s.w(" ORDER BY ", q.d.Ident("t"))
	return s, nil
}
