package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// change is a plan entry with the statements that make it.
type change struct {
	engine.Change
	stmts []string
	// last: the change must be the last of its transaction. DuckDB 1.5
	// fails the commit of a transaction that alters a table after adding
	// a list column with a default to it ("another transaction has altered
	// this table"), so such a change commits what came before it and itself.
	last bool
}

type liveColumn struct {
	Name, Type string
	NotNull    bool
}

// Plan compares the database file with what the pipeline wants. It changes
// nothing: a missing file is not created, an existing one is opened read-only
// unless the sink has it open already.
func (s *Sink) Plan(ctx context.Context) (*engine.Plan, error) {
	s.mu.Lock()
	db := s.db
	s.mu.Unlock()
	var live map[string][]liveColumn
	switch st, err := os.Stat(s.cfg.path); {
	case db != nil:
		if live, err = readSchema(ctx, db); err != nil {
			return nil, fmt.Errorf("duckdb: read the schema of %s: %w", s.cfg.path, err)
		}
	case errors.Is(err, os.ErrNotExist), err == nil && st.Size() == 0: // open replaces an empty file
	case err != nil:
		return nil, engine.Permanent(fmt.Errorf("duckdb: %w", err))
	default:
		ro, err := openDB(ctx, s.cfg.path, s.dsn(true))
		if err != nil {
			return nil, err
		}
		live, err = readSchema(ctx, ro)
		ro.Close()
		if err != nil {
			return nil, fmt.Errorf("duckdb: read the schema of %s: %w", s.cfg.path, err)
		}
	}
	p := &engine.Plan{Stage: s.id}
	if live == nil {
		p.Changes = append(p.Changes, engine.Change{Action: engine.ActionCreate, Resource: "duckdb database " + s.cfg.path})
	}
	p.Changes = append(p.Changes, engine.Changes(s.diff(live))...)
	return p, nil
}

// Apply makes the changes of a plan, in one transaction. It recomputes the
// difference and refuses to go on if it no longer matches plan, and refuses
// destructive changes unless allow_destructive is set.
func (s *Sink) Apply(ctx context.Context, plan *engine.Plan) error {
	db, err := s.open(ctx)
	if err != nil {
		return err
	}
	live, err := readSchema(ctx, db)
	if err != nil {
		return fmt.Errorf("duckdb: read the schema of %s: %w", s.cfg.path, err)
	}
	changes := s.diff(live)
	if plan != nil {
		planned := plan.Changes
		if len(planned) > 0 && planned[0].Resource == "duckdb database "+s.cfg.path {
			planned = planned[1:]
		}
		if !engine.SameChanges(planned, changes) {
			return engine.Permanent(fmt.Errorf("duckdb: %s changed since the plan was made (%d changes planned, %d now): plan again",
				s.cfg.path, len(planned), len(changes)))
		}
	}
	if !s.cfg.allowDestructive {
		if refused := engine.Destructive(changes); len(refused) > 0 {
			return engine.Permanent(fmt.Errorf("duckdb: refusing %d destructive change(s) to %s (set allow_destructive = true on %s to allow them): %s",
				len(refused), s.cfg.path, s.id, strings.Join(refused, "; ")))
		}
	}
	for len(changes) > 0 {
		n := len(changes)
		for i, c := range changes {
			if c.last {
				n = i + 1
				break
			}
		}
		if err := s.applyTx(ctx, db, changes[:n]); err != nil {
			return err
		}
		changes = changes[n:]
	}
	s.mu.Lock()
	s.live = nil
	s.mu.Unlock()
	s.closeWorkers() // appenders know the old columns
	return nil
}

// applyTx makes changes in one transaction.
func (s *Sink) applyTx(ctx context.Context, db *sql.DB, changes []change) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	for _, c := range changes {
		for _, stmt := range c.stmts {
			s.log.Info("duckdb provisioning", "path", s.cfg.path, "change", string(c.Action)+" "+c.Resource)
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("duckdb: %s %s: %w", c.Action, c.Resource, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("duckdb: provisioning %s: %w", s.cfg.path, err)
	}
	return nil
}

// readSchema reads the tables of the database and their columns, in order.
func readSchema(ctx context.Context, db *sql.DB) (map[string][]liveColumn, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_nullable = 'NO' FROM information_schema.columns
		WHERE table_schema = 'main' ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	live := map[string][]liveColumn{}
	for rows.Next() {
		var t string
		var c liveColumn
		if err := rows.Scan(&t, &c.Name, &c.Type, &c.NotNull); err != nil {
			return nil, err
		}
		live[t] = append(live[t], c)
	}
	return live, rows.Err()
}

// diff lists the changes from live (nil: no database yet) to the wanted tables.
func (s *Sink) diff(live map[string][]liveColumn) []change {
	var out []change
	for _, t := range s.tables {
		res := "duckdb table " + t.Name
		cols, ok := live[t.Name]
		if !ok {
			out = append(out, change{Change: engine.Change{Action: engine.ActionCreate, Resource: res, Details: tableDetails(t)},
				stmts: []string{createTable(t)}})
			continue
		}
		have := map[string]string{}
		notNull := map[string]bool{}
		for _, c := range cols {
			have[c.Name] = c.Type
			notNull[c.Name] = c.NotNull
		}
		wanted := map[string]bool{}
		for _, c := range t.Columns {
			wanted[c.Name] = true
			cres := fmt.Sprintf("duckdb column %s.%s", t.Name, c.Name)
			typ, ok := have[c.Name]
			switch {
			case !ok:
				out = append(out, change{Change: engine.Change{Action: engine.ActionCreate, Resource: cres, Details: []string{"type " + c.Type.sql}},
					stmts: []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s", quote(t.Name), columnDef(c, false))},
					last:  c.Type.id == mapping.TypeList})
			case !strings.EqualFold(typ, c.Type.sql):
				out = append(out, change{Change: engine.Change{Action: engine.ActionUpdate, Resource: cres, Destructive: true,
					Details: []string{fmt.Sprintf("type %s -> %s", typ, c.Type.sql), "every row is rewritten; values that do not fit fail the change"}},
					stmts: []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DATA TYPE %s", quote(t.Name), quote(c.Name), c.Type.sql)}})
			case notNull[c.Name] && nullable(t, c):
				out = append(out, change{Change: engine.Change{Action: engine.ActionUpdate, Resource: cres, Details: []string{"drop NOT NULL: empty text is stored as NULL"}},
					stmts: []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL", quote(t.Name), quote(c.Name))}})
			}
		}
		for _, c := range cols {
			if wanted[c.Name] {
				continue
			}
			out = append(out, change{Change: engine.Change{Action: engine.ActionDelete, Resource: fmt.Sprintf("duckdb column %s.%s", t.Name, c.Name),
				Destructive: true, Details: []string{"type " + c.Type, "the column's data is lost"}},
				stmts: []string{fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", quote(t.Name), quote(c.Name))}})
		}
	}
	return out
}

func tableDetails(t tableSpec) []string {
	var d []string
	if t.Flows {
		if t.Interval > 0 {
			d = append(d, fmt.Sprintf("rollup of %s: sums of Bytes, Packets and Flows scaled by SamplingRate", t.Interval))
		}
		if t.Retention > 0 {
			d = append(d, "retention "+formatRetention(t.Retention)+" (rows deleted by the sink)")
		} else {
			d = append(d, "retention: forever")
		}
	}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name + " " + c.Type.sql
	}
	d = append(d, fmt.Sprintf("%d columns: %s", len(t.Columns), strings.Join(names, ", ")))
	return d
}

func formatRetention(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// Tables lists the flow tables of the database, raw flows first, for the
// query model. It reads the schema once (again after provisioning).
func (s *Sink) Tables() []store.Table {
	s.mu.Lock()
	live := s.live
	s.mu.Unlock()
	if live != nil {
		return live
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := s.open(ctx)
	if err != nil {
		s.log.Warn("duckdb tables", "error", err)
		return nil
	}
	schema, err := readSchema(ctx, db)
	if err != nil {
		s.log.Warn("duckdb tables", "path", s.cfg.path, "error", err)
		return nil
	}
	live = []store.Table{}
	for _, t := range s.tables {
		cols, ok := schema[t.Name]
		if !ok || !t.Flows {
			continue
		}
		st := store.Table{Name: t.Name, Interval: t.Interval, Retention: t.Retention, Scaled: t.Interval > 0}
		for _, c := range cols {
			if _, ok := flow.ColumnByName(c.Name); ok {
				st.Columns = append(st.Columns, c.Name)
			}
		}
		live = append(live, st)
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].Interval < live[j].Interval })
	s.mu.Lock()
	s.live = live
	s.mu.Unlock()
	return live
}
