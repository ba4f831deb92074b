package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store/rollup"
)

func urlEscape(s string) string { return url.QueryEscape(s) }

// ErrLocked is returned when another process has the database file open.
var ErrLocked = errors.New("database file in use by another process")

var lockPID = regexp.MustCompile(`\(PID (\d+)\)`)
var lockHolder = regexp.MustCompile(`held in (.*?) \(PID`)

// lockedError is a database file another process holds.
type lockedError struct {
	path, who string
	err       error
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("duckdb: %s is open in %s; one process at a time may use a DuckDB file: stop it or set another path (%v)", e.path, e.who, e.err)
}
func (e *lockedError) Unwrap() error        { return e.err }
func (e *lockedError) Is(target error) bool { return target == ErrLocked }

// openError explains why path could not be opened. Every such error is
// permanent: waiting will not unlock a file another process holds open for
// good, nor repair a damaged one.
func openError(path string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Could not set lock on file") || strings.Contains(msg, "Conflicting lock"):
		who := "another process"
		if m := lockPID.FindStringSubmatch(msg); m != nil {
			who = "process " + m[1]
			if h := lockHolder.FindStringSubmatch(msg); h != nil {
				who += " (" + h[1] + ")"
			}
		}
		return engine.Permanent(&lockedError{path: path, who: who, err: err})
	case strings.Contains(msg, "not a valid DuckDB database file") || strings.Contains(msg, "Corrupt") ||
		strings.Contains(msg, "corrupt") || strings.Contains(msg, "Serialization Error") || strings.Contains(msg, "checksum"):
		return engine.Permanent(fmt.Errorf("duckdb: %s is not a readable DuckDB database (damaged, or written by another program): move it away to start afresh: %w", path, err))
	}
	return engine.Permanent(fmt.Errorf("duckdb: open %s: %w", path, err))
}

// openDB opens the database file.
func openDB(ctx context.Context, path, dsn string) (*sql.DB, error) {
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, openError(path, err)
	}
	db := sql.OpenDB(connector)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, openError(path, err)
	}
	return db, nil
}

// writer is the connection flows are appended on, with an appender per table.
type writer struct {
	conn    *sql.Conn
	c       mapping.Connection // the C connection of conn
	flows   *appender
	rollups []*appender
}

func newWriter(ctx context.Context, db *sql.DB, tables []tableSpec) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var mc mapping.Connection
	if err := conn.Raw(func(dc any) error {
		var err error
		mc, err = cConn(dc)
		return err
	}); err != nil {
		conn.Close()
		return nil, err
	}
	w := &writer{conn: conn, c: mc}
	for _, t := range tables {
		if !t.Flows {
			continue
		}
		a, err := newAppender(mc, t.Name, t.Columns)
		if err != nil {
			w.close()
			return nil, err
		}
		if t.Interval == 0 {
			w.flows = a
		} else {
			w.rollups = append(w.rollups, a)
		}
	}
	return w, nil
}

func (w *writer) close() {
	w.flows.close()
	for _, a := range w.rollups {
		a.close()
	}
	w.flows, w.rollups = nil, nil
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// write inserts the flows of batches and the rows of the rollup set in one
// transaction.
func (w *writer) write(ctx context.Context, batches []*flow.Batch, set *rollup.Set, m *metrics) (err error) {
	if err := w.exec(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("duckdb: begin: %w", err)
	}
	defer func() {
		if err != nil {
			if _, rerr := w.conn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
				err = errors.Join(err, fmt.Errorf("duckdb: rollback: %w", rerr))
			}
		}
	}()
	for _, b := range batches {
		if err := w.flows.addRecords(b.Records); err != nil {
			return err
		}
	}
	if err := w.flows.flush(); err != nil {
		return err
	}
	counts := make([]int, len(w.rollups))
	for i, a := range w.rollups {
		rows := set.Aggs[i].Rows()
		for j := range rows {
			if err := a.add(&rows[j].Key, rows[j].Flows); err != nil {
				return err
			}
		}
		if err := a.flush(); err != nil {
			return err
		}
		counts[i] = len(rows)
	}
	if err := w.exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("duckdb: commit: %w", err)
	}
	for i, a := range w.rollups {
		m.rollupRo.WithLabelValues(a.table).Add(float64(counts[i]))
	}
	return nil
}

// exec runs a statement on the writer's connection, waiting for DuckDB's
// worker threads without spinning. duckdb-go (as DuckDB's own Query) polls
// for tasks in a loop while a worker thread runs the statement's (a commit
// compressing row groups, say): with two cores, that loop took a quarter
// of the CPU time of inserting. Here the caller sleeps between polls, from
// 20µs up to 1ms. A cancelled ctx interrupts the statement.
func (w *writer) exec(ctx context.Context, query string) error {
	var ps mapping.PreparedStatement
	if mapping.Prepare(w.c, query, &ps) == mapping.StateError {
		err := errors.New(mapping.PrepareError(ps))
		mapping.DestroyPrepare(&ps)
		return err
	}
	defer mapping.DestroyPrepare(&ps)
	var pr mapping.PendingResult
	if mapping.PendingPrepared(ps, &pr) == mapping.StateError {
		err := errors.New(mapping.PendingError(pr))
		mapping.DestroyPending(&pr)
		return err
	}
	defer mapping.DestroyPending(&pr)
	const minWait, maxWait = 20 * time.Microsecond, time.Millisecond
	wait, interrupted := minWait, false
	for done := false; !done; {
		if !interrupted && ctx.Err() != nil {
			mapping.Interrupt(w.c)
			interrupted = true
		}
		switch mapping.PendingExecuteTask(pr) {
		case mapping.PendingStateResultReady, mapping.PendingStateError:
			done = true
		case mapping.PendingStateNoTasksAvailable:
			time.Sleep(wait)
			wait = min(2*wait, maxWait)
		default:
			wait = minWait
		}
	}
	var res mapping.Result
	state := mapping.ExecutePending(pr, &res)
	defer mapping.DestroyResult(&res)
	if state == mapping.StateError {
		return errors.Join(ctx.Err(), errors.New(mapping.ResultError(&res)))
	}
	return nil
}

// maintain deletes rows past their table's retention, now and every
// retention_interval, and compacts the rollups every minute.
func (s *Sink) maintain(ctx context.Context) {
	retention := time.NewTicker(s.cfg.retentionInterval)
	defer retention.Stop()
	compaction := time.NewTicker(time.Minute)
	defer compaction.Stop()
	var c compactor
	for {
		if db, err := s.open(ctx); err == nil {
			if err := s.enforceRetention(ctx, db, time.Now()); err != nil && ctx.Err() == nil {
				s.log.Warn("duckdb retention failed", "path", s.cfg.path, "error", err)
			}
		}
	compact:
		for {
			select {
			case <-ctx.Done():
				return
			case <-compaction.C:
				db, err := s.open(ctx)
				if err != nil {
					continue
				}
				if err := s.compact(ctx, db, &c, time.Now()); err != nil && ctx.Err() == nil {
					s.log.Warn("duckdb rollup compaction failed", "path", s.cfg.path, "error", err)
				}
			case <-retention.C:
				break compact
			}
		}
	}
}

// enforceRetention deletes the rows older than now minus each table's retention.
func (s *Sink) enforceRetention(ctx context.Context, db *sql.DB, now time.Time) error {
	var errs []error
	for _, t := range s.tables {
		if !t.Flows || t.Retention <= 0 {
			continue
		}
		cut := now.Add(-t.Retention)
		res, err := db.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s < make_timestamp(?)", quote(t.Name), quote("TimeReceived")), cut.UnixMicro())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
			continue
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			s.metrics.deleted.WithLabelValues(t.Name).Add(float64(n))
			s.log.Info("duckdb retention", "table", t.Name, "deleted", n, "before", cut.UTC().Format(time.RFC3339))
		}
	}
	return errors.Join(errs...)
}
