package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/flowengine/flowengine/store"
)

// The sink is also the store the console queries over ClickHouse: the tables
// it provisioned, queried through its clickhouse-go connection pool.

var _ store.Backend = (*Sink)(nil)

// queryTimeout bounds one console query on the server.
const queryTimeout = 60 * time.Second

// Dialect implements store.Backend, for the server's version (read once,
// with a short timeout, if provisioning did not read it already).
func (s *Sink) Dialect() store.Dialect {
	s.mu.Lock()
	f := s.features
	s.mu.Unlock()
	if f == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.dialTimeout)
		defer cancel()
		if got, err := s.serverFeatures(ctx); err == nil {
			f = &got
		} else {
			s.log.Warn("clickhouse: cannot read the server version, queries assume 18.16", "error", err)
			f = &features{}
		}
	}
	return dialect{f: *f}
}

// Tables implements store.Backend: the flows table, then the consolidated
// tables, finest first, as provisioning creates them.
func (s *Sink) Tables() []store.Table {
	flows := store.Table{Name: "flows", Retention: s.cfg.retention}
	for _, c := range s.columns {
		flows.Columns = append(flows.Columns, c.Name)
	}
	out := []store.Table{flows}
	cols := rollupColumns(s.columns)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	for _, cn := range s.cfg.consolidations {
		out = append(out, store.Table{Name: consolidatedName(cn.Interval), Interval: cn.Interval, Retention: cn.Retention,
			Columns: names, Scaled: true})
	}
	// Finest first, whatever the order of the consolidation blocks.
	for i := 2; i < len(out); i++ {
		for j := i; j > 1 && out[j].Interval < out[j-1].Interval; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Query implements store.Backend. Arguments are bound by clickhouse-go on
// the client: each "?" outside quotes and comments becomes a literal,
// strings quoted with ', \ and NUL escaped. Tables are named alone: the
// query's default database is the sink's. The query runs read-only.
func (s *Sink) Query(ctx context.Context, sql string, args ...any) (store.Rows, error) {
	conn, err := s.queryConnect()
	if err != nil {
		return nil, err
	}
	if !s.readOnlyUser.Load() {
		rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
			"readonly":           1,
			"max_execution_time": int(queryTimeout / time.Second),
		})), sql, args...)
		var ex *exception
		if !errors.As(err, &ex) || ex.Code != codeReadOnly {
			if err != nil {
				return nil, s.explain(err)
			}
			return rows, nil
		}
		// A read-only user may not change settings, not even readonly:
		// its queries are read-only already.
		s.readOnlyUser.Store(true)
	}
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.explain(err)
	}
	return rows, nil
}

// codeReadOnly is the server's error for a setting a read-only user may
// not change.
const codeReadOnly = 164

// savedVersion makes the versions of saved-filter rows written by this
// process increase even if the clock does not.
var savedVersion struct {
	sync.Mutex
	last uint64
}

func nextVersion(now time.Time) uint64 {
	savedVersion.Lock()
	defer savedVersion.Unlock()
	v := uint64(now.UnixNano())
	if v <= savedVersion.last {
		v = savedVersion.last + 1
	}
	savedVersion.last = v
	return v
}

// SavedFilters implements store.Backend: the newest row of each name, unless
// it is a deletion.
func (s *Sink) SavedFilters(ctx context.Context) ([]store.SavedFilter, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf("SELECT Name, argMax(Filter, Version), argMax(Description, Version), argMax(Updated, Version) FROM %s.%s "+
		"GROUP BY Name HAVING argMax(Deleted, Version) = 0 ORDER BY Name", quote(s.cfg.database), quote(savedFiltersTable))
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, s.explain(err)
	}
	defer rows.Close()
	out := []store.SavedFilter{}
	for rows.Next() {
		var f store.SavedFilter
		if err := rows.Scan(&f.Name, &f.Filter, &f.Description, &f.Updated); err != nil {
			return nil, fmt.Errorf("clickhouse: saved filters: %w", err)
		}
		f.Updated = f.Updated.UTC()
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.explain(err)
	}
	return out, nil
}

// SaveFilter implements store.Backend.
func (s *Sink) SaveFilter(ctx context.Context, f store.SavedFilter) error {
	return s.writeFilter(ctx, f, 0)
}

// DeleteFilter implements store.Backend: a deletion row hides the name.
func (s *Sink) DeleteFilter(ctx context.Context, name string) error {
	return s.writeFilter(ctx, store.SavedFilter{Name: name}, 1)
}

// writeFilter inserts one row of the saved filters table. The values go in a
// native-protocol block, never into the SQL text.
func (s *Sink) writeFilter(ctx context.Context, f store.SavedFilter, deleted uint8) error {
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	if f.Updated.IsZero() {
		f.Updated = now
	}
	batch, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (Name, Filter, Description, Updated, Version, Deleted)",
		quote(s.cfg.database), quote(savedFiltersTable)))
	if err != nil {
		return s.explain(err)
	}
	if err := batch.Append(f.Name, f.Filter, f.Description, clampTime(f.Updated), nextVersion(now), deleted); err != nil {
		_ = batch.Abort()
		return fmt.Errorf("clickhouse: save filter: %w", err)
	}
	if err := batch.Send(); err != nil {
		return s.explain(err)
	}
	return nil
}
