package store

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// maxExporterNames bounds the (address, name) pairs ExporterNames reads.
const maxExporterNames = 10000

// ExporterNames returns the name each exporter had in its latest named flow
// of the last hour, by address. The sources that receive flows do not know
// names (the metadata and SNMP enrichers set ExporterName later), so this is
// how the pipeline page learns them. Exporters without a named flow in the
// hour are absent.
func (s *Store) ExporterNames(ctx context.Context) (map[netip.Addr]string, error) {
	addrCol, _ := columnLookup("ExporterAddress")
	nameCol, _ := columnLookup("ExporterName")
	now := s.now()
	start := now.Add(-time.Hour)
	t, ok := chooseTable(s.backend.Tables(), []string{addrCol.Name, nameCol.Name}, false, time.Minute, start, now)
	if !ok {
		return map[netip.Addr]string{}, nil
	}
	d := s.backend.Dialect()
	st := &sqlText{}
	st.w("SELECT ")
	st.part(d.Dimension(addrCol, 0))
	st.w(" AS ", d.Ident("d0"), ", ")
	st.part(d.Dimension(nameCol, 0))
	st.w(" AS ", d.Ident("d1"), ", MAX(")
	st.part(d.Bucket(time.Second))
	st.w(") AS ", d.Ident("t"), " FROM ", d.Ident(t.Name), " WHERE ")
	st.part(d.TimeRange(start, now.Add(time.Minute)))
	named, args, err := d.Compare(nameCol, "!=", "")
	if err != nil {
		return nil, fmt.Errorf("exporter names: %w", err)
	}
	st.w(" AND ")
	st.part(named, args)
	st.w(" GROUP BY ", d.Ident("d0"), ", ", d.Ident("d1"),
		" ORDER BY ", d.Ident("t"), " DESC LIMIT ", fmt.Sprint(maxExporterNames))
	rows, err := s.backend.Query(ctx, st.String(), st.args...)
	if err != nil {
		return nil, fmt.Errorf("exporter names: %w", err)
	}
	type seen struct {
		name string
		at   int64
	}
	latest := map[netip.Addr]seen{}
	var addr, name string
	var at int64
	for rows.Next() {
		if err := rows.Scan(&addr, &name, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("exporter names: %w", err)
		}
		a, err := netip.ParseAddr(normalize(addrCol, addr))
		if err != nil || name == "" {
			continue
		}
		// The latest name wins; of two seen in the same second, the
		// smaller, so that the answer does not depend on row order.
		if cur, ok := latest[a]; !ok || at > cur.at || (at == cur.at && name < cur.name) {
			latest[a] = seen{name, at}
		}
	}
	if err := rowsErr(rows, nil); err != nil {
		return nil, fmt.Errorf("exporter names: %w", err)
	}
	out := make(map[netip.Addr]string, len(latest))
	for a, s := range latest {
		out[a] = s.name
	}
	return out, nil
}
