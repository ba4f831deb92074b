package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Rollup rows are appended by each transaction: with several transactions
// per interval, an interval has several partial rows per set of dimension
// values (queries sum them, so they are right, only bigger). Once an
// interval is over, compaction replaces its rows by their sums, in one
// transaction; rows a concurrent insert adds to it meanwhile are not
// touched (they are not visible to the transaction) and are merged the next
// time, if ever.

// compactSlack is how long after its end an interval is compacted: flows
// wait up to batch_timeout in the sink, and arrive late.
const compactSlack = time.Minute

// compactor remembers, per rollup table, up to when it compacted.
type compactor struct {
	done map[string]time.Time
}

// compact compacts the intervals of every rollup table that ended before
// now (minus the slack) since the last call; the first call looks back two
// intervals (to merge what an earlier run left).
func (s *Sink) compact(ctx context.Context, db *sql.DB, c *compactor, now time.Time) error {
	if c.done == nil {
		c.done = map[string]time.Time{}
	}
	var errs []error
	for _, t := range s.tables {
		if t.Interval == 0 {
			continue
		}
		secs := int64(t.Interval / time.Second)
		hi := time.Unix((now.Add(-compactSlack-s.cfg.batchTimeout).Unix()/secs)*secs, 0).UTC()
		lo, ok := c.done[t.Name]
		if !ok {
			lo = hi.Add(-2 * t.Interval)
		}
		if !hi.After(lo) {
			continue
		}
		n, err := s.compactRange(ctx, db, t, lo, hi)
		if err != nil {
			errs = append(errs, fmt.Errorf("compact %s: %w", t.Name, err))
			continue
		}
		c.done[t.Name] = hi
		if n > 0 {
			s.metrics.compacted.WithLabelValues(t.Name).Add(float64(n))
			s.log.Debug("duckdb rollup compacted", "table", t.Name, "from", lo, "to", hi, "rows_merged", n)
		}
	}
	return errors.Join(errs...)
}

// compactRange replaces the rows of t in [lo, hi) by their sums per set of
// dimension values. It returns how many rows fewer the table has.
func (s *Sink) compactRange(ctx context.Context, db *sql.DB, t tableSpec, lo, hi time.Time) (int64, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var dims, all, sums []string
	for _, c := range t.Columns {
		all = append(all, quote(c.Name))
		switch c.Name {
		case "Bytes", "Packets", "Flows":
			sums = append(sums, fmt.Sprintf("CAST(SUM(%s) AS UBIGINT) AS %s", quote(c.Name), quote(c.Name)))
		default:
			dims = append(dims, quote(c.Name))
		}
	}
	where := fmt.Sprintf(`%s >= make_timestamp(?) AND %s < make_timestamp(?)`, quote("TimeReceived"), quote("TimeReceived"))
	args := []any{lo.UnixMicro(), hi.UnixMicro()}
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return 0, err
	}
	committed := false
	defer func() {
		if !committed {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
		conn.ExecContext(context.Background(), "DROP TABLE IF EXISTS temp.rollup_compact")
	}()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE rollup_compact AS SELECT %s, %s FROM %s WHERE %s GROUP BY %s",
		strings.Join(dims, ", "), strings.Join(sums, ", "), quote(t.Name), where, strings.Join(dims, ", ")), args...); err != nil {
		return 0, err
	}
	var before, after int64
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", quote(t.Name), where), args...).Scan(&before); err != nil {
		return 0, err
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM temp.rollup_compact").Scan(&after); err != nil {
		return 0, err
	}
	if after == before {
		return 0, nil // nothing to merge
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s", quote(t.Name), where), args...); err != nil {
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM temp.rollup_compact",
		quote(t.Name), strings.Join(all, ", "), strings.Join(all, ", "))); err != nil {
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, err
	}
	committed = true
	return before - after, nil
}
