package duckdb

import (
	"context"
	"fmt"
	"time"

	"github.com/flowengine/flowengine/store"
)

// Dialect renders the query model for DuckDB.
func (s *Sink) Dialect() store.Dialect { return Dialect{} }

// Query runs one SELECT on the database, alongside the inserts.
func (s *Sink) Query(ctx context.Context, sql string, args ...any) (store.Rows, error) {
	db, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	return rows, nil
}

// SavedFilters lists the saved filters, by name.
func (s *Sink) SavedFilters(ctx context.Context) ([]store.SavedFilter, error) {
	rows, err := s.Query(ctx, `SELECT "Name", "Filter", "Description", "Updated" FROM saved_filters ORDER BY "Name"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.SavedFilter{}
	for rows.Next() {
		var f store.SavedFilter
		if err := rows.Scan(&f.Name, &f.Filter, &f.Description, &f.Updated); err != nil {
			return nil, fmt.Errorf("duckdb: %w", err)
		}
		f.Updated = f.Updated.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

// SaveFilter adds or replaces the saved filter f.Name.
func (s *Sink) SaveFilter(ctx context.Context, f store.SavedFilter) error {
	db, err := s.open(ctx)
	if err != nil {
		return err
	}
	if f.Updated.IsZero() {
		f.Updated = time.Now()
	}
	_, err = db.ExecContext(ctx, `INSERT OR REPLACE INTO saved_filters ("Name", "Filter", "Description", "Updated") VALUES (?, ?, ?, make_timestamp(?))`,
		f.Name, f.Filter, f.Description, f.Updated.UnixMicro())
	if err != nil {
		return fmt.Errorf("duckdb: save filter: %w", err)
	}
	return nil
}

// DeleteFilter removes a saved filter; removing a missing one is no error.
func (s *Sink) DeleteFilter(ctx context.Context, name string) error {
	db, err := s.open(ctx)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM saved_filters WHERE "Name" = ?`, name); err != nil {
		return fmt.Errorf("duckdb: delete filter: %w", err)
	}
	return nil
}
