package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// LastFlow returns the newest flow of the last day, as the JSON encoder of
// flow writes it (nil when there is none). Every column is read as text
// through Dialect.Dimension and typed back.
func (s *Store) LastFlow(ctx context.Context) (map[string]any, error) {
	var raw *Table
	for _, t := range s.backend.Tables() {
		if t.Interval == 0 {
			raw = &t
			break
		}
	}
	if raw == nil {
		return nil, fmt.Errorf("last flow: the store has no flows table")
	}
	d := s.backend.Dialect()
	st := &sqlText{}
	st.w("SELECT ")
	for i, c := range flow.Columns {
		if i > 0 {
			st.w(", ")
		}
		st.part(d.Dimension(c, 0))
	}
	now := s.now()
	st.w(" FROM ", d.Ident(raw.Name), " WHERE ")
	st.part(d.TimeRange(now.Add(-24*time.Hour), now.Add(time.Hour)))
	st.w(" ORDER BY ", d.Ident("TimeReceived"), " DESC LIMIT 1")
	rows, err := s.backend.Query(ctx, st.String(), st.args...)
	if err != nil {
		return nil, fmt.Errorf("last flow: %w", err)
	}
	vals := make([]string, len(flow.Columns))
	dest := make([]any, len(vals))
	for i := range vals {
		dest[i] = &vals[i]
	}
	found := false
	if rows.Next() {
		found = true
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("last flow: %w", err)
		}
	}
	if err := rowsErr(rows, nil); err != nil {
		return nil, fmt.Errorf("last flow: %w", err)
	}
	if !found {
		return nil, nil
	}
	var r flow.Record
	for i, c := range flow.Columns {
		if err := setText(&r, c, vals[i]); err != nil {
			return nil, fmt.Errorf("last flow: %s: %w", c.Name, err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(flow.AppendJSON(nil, &r)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("last flow: %w", err)
	}
	return m, nil
}

// timeLayouts are the forms a store may give a time as text in, besides
// Unix seconds.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999",
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999",
}

// parseTimeText reads a time as Dialect.Dimension yields it.
func parseTimeText(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n == 0 {
			return time.Time{}, nil
		}
		return time.Unix(n, 0).UTC(), nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if t.Unix() == 0 && t.Nanosecond() == 0 {
				return time.Time{}, nil
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q not understood", s)
}

// setText sets column c of r from its text form.
func setText(r *flow.Record, c flow.Column, s string) error {
	a := flow.Access(c.Name)
	switch c.Kind {
	case flow.KindTime:
		t, err := parseTimeText(s)
		if err != nil {
			return err
		}
		a.SetTime(r, t)
	case flow.KindUint, flow.KindMAC:
		if s == "" {
			return nil
		}
		if c.Kind == flow.KindMAC && strings.Contains(s, ":") {
			hw, err := net.ParseMAC(s)
			if err != nil || len(hw) != 6 {
				return fmt.Errorf("MAC address %q not understood", s)
			}
			var v uint64
			for _, b := range hw {
				v = v<<8 | uint64(b)
			}
			a.SetUint(r, v)
			return nil
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("number %q not understood", s)
		}
		a.SetUint(r, v)
	case flow.KindBoundary:
		b, ok := flow.ParseBoundary(strings.ToLower(s))
		if !ok {
			return fmt.Errorf("boundary %q not understood", s)
		}
		a.SetUint(r, uint64(b))
	case flow.KindString:
		a.SetString(r, s)
	case flow.KindAddr:
		if s == "" {
			return nil
		}
		ad, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("address %q not understood", s)
		}
		ad = ad.Unmap()
		if ad.IsUnspecified() && ad.Is6() {
			ad = netip.Addr{} // "::" is how a store without nulls keeps no address
		}
		a.SetAddr(r, ad)
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		l, ok := parseList(c, strings.Join(strings.Fields(s), " "))
		if !ok {
			return fmt.Errorf("%s %q not understood", c.Kind, s)
		}
		switch l := l.(type) {
		case flow.Uint32s:
			a.SetUint32s(r, l)
		case flow.LargeCommunities:
			a.SetLargeCommunities(r, l)
		}
	}
	return nil
}
