package clickhouse

import (
	"context"
	"fmt"
	"time"
)

// retentionInterval is how often the sink looks for expired partitions on
// servers without TTL.
const retentionInterval = 10 * time.Minute

// retentionLoop drops expired partitions until ctx is done.
func (s *Sink) retentionLoop(ctx context.Context, f features) {
	t := time.NewTicker(retentionInterval)
	defer t.Stop()
	for {
		if _, err := s.dropExpired(ctx, f, s.now()); err != nil && ctx.Err() == nil {
			s.log.Warn("clickhouse retention: cannot drop old partitions", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dropExpired drops the partitions whose rows are all older than their
// table's retention at now. It returns the number of partitions dropped.
func (s *Sink) dropExpired(ctx context.Context, f features, now time.Time) (int, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return 0, err
	}
	sc := s.schema(f)
	dropped := 0
	for _, t := range sc.Tables {
		if t.Retention <= 0 || t.PartitionBy == "" {
			continue
		}
		rows, err := conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active",
			s.cfg.database, t.Name)
		if err != nil {
			return dropped, s.explain(err)
		}
		var expired []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return dropped, err
			}
			if end, ok := t.Partition.end(id); ok && !end.After(now.Add(-t.Retention)) {
				expired = append(expired, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dropped, s.explain(err)
		}
		for _, id := range expired {
			stmt := fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %s", quote(s.cfg.database), quote(t.Name), id)
			if err := conn.Exec(ctx, stmt); err != nil {
				return dropped, fmt.Errorf("clickhouse retention: drop partition %s of %s: %w", id, t.Name, err)
			}
			dropped++
			s.metrics.partitions.Inc()
			s.log.Info("clickhouse retention: dropped partition", "table", t.Name, "partition", id, "retention", formatRetention(t.Retention))
		}
	}
	return dropped, nil
}
