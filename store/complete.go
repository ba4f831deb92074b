package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/filter"
)

// maxValueCompletions bounds the values a completion offers.
const maxValueCompletions = 50

// Complete suggests what may be typed at offset (bytes) of a filter:
// columns, operators valid after a column, and values: named ones (protocols,
// Ethernet types, boundaries) and, for text, AS and exporter address columns,
// the values the store saw in the last day, most frequent first. Values of
// the list columns after HAS (AS numbers of paths, communities) and of the
// columns derived from them are the ones seen in the last hour: only the
// raw flows table has them.
func (s *Store) Complete(ctx context.Context, text string, offset int) ([]Completion, error) {
	sg := filter.Complete(text, offset)
	out := make([]Completion, 0, len(sg.Completions))
	for _, c := range sg.Completions {
		label := c.Label
		if sg.Quoted && c.Kind == "value" {
			label = filter.Literal(label)
		}
		out = append(out, Completion{Label: label, Detail: c.Detail, Kind: c.Kind})
	}
	if sg.Values == nil {
		return out, nil
	}
	c := *sg.Values
	elements := c.Kind.IsList() && (sg.Op == "HAS" || sg.Op == "NOT HAS")
	if c.Kind != flow.KindString && !filter.IsAS(c) && c.Name != "ExporterAddress" && !elements {
		return out, nil
	}
	vals, span, err := s.seen(ctx, c, elements, sg.Prefix, sg.Quoted)
	if err != nil {
		return out, err
	}
	detail := c.Name + " seen in the last day"
	if span == time.Hour {
		detail = c.Name + " seen in the last hour"
	}
	for _, v := range vals {
		out = append(out, Completion{Label: v, Detail: detail, Kind: "value"})
	}
	return out, nil
}

// seen returns values of c seen lately that start with prefix, as typed in
// a filter, and how far back it looked: a day, or an hour for the columns
// of the raw table only (lists and what derives from them). With elements,
// c is a list column and the values are its elements.
func (s *Store) seen(ctx context.Context, c flow.Column, elements bool, prefix string, quoted bool) ([]string, time.Duration, error) {
	now := s.now()
	span := 24 * time.Hour
	if !InRollups(sourceName(c.Name)) {
		span = time.Hour
	}
	t, ok := chooseTable(s.backend.Tables(), []string{sourceName(c.Name)}, false, span, now.Add(-span), now)
	if !ok {
		return nil, span, nil
	}
	d := s.backend.Dialect()
	qty, _ := quantity(d, t, MetricFlows)
	st := &sqlText{}
	if elements {
		// One row per element, grouped by its text.
		st.w("SELECT ", d.Ident("e"), " AS ", d.Ident("d0"), ", ", d.Float("COUNT(*)"), " AS ", d.Ident("v"), " FROM (SELECT ", d.ListElements(c), " AS ", d.Ident("e"),
			" FROM ", d.Ident(t.Name), " WHERE ")
		st.part(d.TimeRange(now.Add(-span), now.Add(time.Minute)))
		st.w(")")
	} else {
		st.w("SELECT ")
		st.part(dimText(d, c, 0))
		st.w(" AS ", d.Ident("d0"), ", ", qty, " AS ", d.Ident("v"), " FROM ", d.Ident(t.Name), " WHERE ")
		st.part(d.TimeRange(now.Add(-span), now.Add(time.Minute)))
	}
	if c.Kind == flow.KindString && prefix != "" && !strings.ContainsAny(prefix, `%_\`) {
		sql, args, err := d.Compare(c, "ILIKE", prefix+"%")
		if err == nil {
			st.w(" AND ")
			st.part(sql, args)
		}
	}
	st.w(" GROUP BY ", d.Ident("d0"), " ORDER BY ", d.Ident("v"), " DESC, ", d.Ident("d0"), " LIMIT 1000")
	rows, err := s.backend.Query(ctx, st.String(), st.args...)
	if err != nil {
		return nil, span, fmt.Errorf("values of %s: %w", c.Name, err)
	}
	var out []string
	var v string
	var n float64
	want := strings.ToLower(prefix)
	asNumbers := filter.IsAS(c) || c.Kind == flow.KindASPath
	if asNumbers && len(want) >= 2 && want[:2] == "as" {
		want = want[2:]
	}
	for rows.Next() {
		if err := rows.Scan(&v, &n); err != nil {
			rows.Close()
			return nil, span, fmt.Errorf("values of %s: %w", c.Name, err)
		}
		if !elements {
			v = normalize(c, v)
		}
		if v == "" || len(out) >= maxValueCompletions || !strings.HasPrefix(strings.ToLower(v), want) {
			continue
		}
		switch {
		case elements && !asNumbers:
			out = append(out, v) // communities: words as they are
		case asNumbers:
			if v == "0" && !elements {
				continue
			}
			out = append(out, "AS"+v)
		case quoted:
			out = append(out, filter.Quote(v))
		default:
			out = append(out, filter.Literal(v))
		}
	}
	if err := rowsErr(rows, nil); err != nil {
		return nil, span, fmt.Errorf("values of %s: %w", c.Name, err)
	}
	return out, span, nil
}
