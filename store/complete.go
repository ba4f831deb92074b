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
// the values the store saw in the last day, most frequent first.
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
	if c.Kind != flow.KindString && !filter.IsAS(c) && c.Name != "ExporterAddress" {
		return out, nil
	}
	vals, err := s.seen(ctx, c, sg.Prefix, sg.Quoted)
	if err != nil {
		return out, err
	}
	for _, v := range vals {
		out = append(out, Completion{Label: v, Detail: c.Name + " seen in the last day", Kind: "value"})
	}
	return out, nil
}

// seen returns values of c seen in the last day that start with prefix, as
// typed in a filter.
func (s *Store) seen(ctx context.Context, c flow.Column, prefix string, quoted bool) ([]string, error) {
	now := s.now()
	t, ok := chooseTable(s.backend.Tables(), []string{sourceName(c.Name)}, false, 24*time.Hour, now.Add(-24*time.Hour), now)
	if !ok {
		return nil, nil
	}
	d := s.backend.Dialect()
	qty, _ := quantity(d, t, MetricFlows)
	st := &sqlText{}
	st.w("SELECT ")
	st.part(dimText(d, c, 0))
	st.w(" AS ", d.Ident("d0"), ", ", qty, " AS ", d.Ident("v"), " FROM ", d.Ident(t.Name), " WHERE ")
	st.part(d.TimeRange(now.Add(-24*time.Hour), now.Add(time.Minute)))
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
		return nil, fmt.Errorf("values of %s: %w", c.Name, err)
	}
	var out []string
	var v string
	var n float64
	want := strings.ToLower(prefix)
	if filter.IsAS(c) && len(want) >= 2 && want[:2] == "as" {
		want = want[2:]
	}
	for rows.Next() {
		if err := rows.Scan(&v, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("values of %s: %w", c.Name, err)
		}
		v = normalize(c, v)
		if v == "" || len(out) >= maxValueCompletions || !strings.HasPrefix(strings.ToLower(v), want) {
			continue
		}
		switch {
		case filter.IsAS(c):
			if v == "0" {
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
		return nil, fmt.Errorf("values of %s: %w", c.Name, err)
	}
	return out, nil
}
