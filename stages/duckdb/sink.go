// Package duckdb is the `sink "duckdb"` stage, the embedded store: it keeps
// flows in a DuckDB file (a flows table, rollup tables flows_1m0s, flows_5m0s
// and flows_1h0m0s aggregated by the sink, and the console's saved filters),
// appends them in batches through DuckDB's C appender, releases each flow
// batch only once the transaction holding its rows committed (at-least-once),
// deletes rows past each table's retention, and answers the console's
// queries (store.Backend) on the same database while inserts go on.
//
// Each transaction appends its flows and the rollup rows store/rollup
// aggregated from them: an interval spanning several transactions has
// several partial rows per set of dimension values, which queries sum; once
// the interval is over, compaction replaces them by their sums. Appending
// keeps inserts as fast as the raw table's (no index, no read), where an
// upsert would need a primary key index over some forty columns.
//
// The flows table stores empty text as NULL: its text columns are nullable
// (provisioning drops NOT NULL from those of a file made before, whose rows
// keep their empty strings), and DuckDB leaves NULLs out of the statistics
// and the compression it works out for each column: a tenth of the CPU
// time of an insert for flows named as the default pipeline names them (17
// of the 26 text columns empty), a sixth when all are empty. The
// rollup tables keep empty strings in NOT NULL columns (a few rows per
// interval: little to save). The dialect reads a text column, wherever it
// reads one (dimension, grouping key, comparison), with NULL replaced by
// the empty string (COALESCE): no query tells NULL from "", and comparisons
// are never NULL, so that NOT and NOT IN keep the rows they should.
//
// All the cgo of the project is here, through github.com/duckdb/duckdb-go/v2.
package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/inserter"
	"github.com/flowengine/flowengine/store"
	"github.com/flowengine/flowengine/store/rollup"
)

var (
	_ engine.Sink        = (*Sink)(nil)
	_ engine.Provisioner = (*Sink)(nil)
	_ store.Backend      = (*Sink)(nil)
)

// Spec is the `sink "duckdb"` block.
var Spec = &dsl.Spec{
	Description: "Stores flows in a DuckDB file, the embedded store the console queries: a flows table, " +
		"rollup tables flows_1m0s, flows_5m0s and flows_1h0m0s aggregated by the sink, and saved filters. " +
		"Batches are released once their transaction committed; old rows are deleted per table retention.",
	Attrs: []dsl.Attr{
		{Name: "path", Type: dsl.TypeString, Required: true, Description: "database file; created with its directory if missing. One process at a time may open it"},
		{Name: "retention", Type: dsl.TypeStringMap, Default: map[string]string{}, Description: "how long rows are kept, per table: " +
			"flows (default 15d), flows_1m0s (7d), flows_5m0s (90d), flows_1h0m0s (2y); \"0s\" keeps them forever. Units: s, m, h, d, w, y"},
		{Name: "retention_interval", Type: dsl.TypeDuration, Default: 15 * time.Minute, Description: "how often rows past their retention are deleted"},
		{Name: "memory_limit", Type: dsl.TypeString, Default: "", Description: "DuckDB memory limit, e.g. \"2GB\" (default: DuckDB's, 80% of the RAM)"},
		{Name: "threads", Type: dsl.TypeInt, Default: int64(0), Description: "DuckDB worker threads (0: one per core). For insert-heavy setups, 1 is recommended: each flow inserted then costs about a sixth less CPU time (measured), while the console's queries run on one core, slower"},
		{Name: "batch_size", Type: dsl.TypeInt, Default: int64(122880), Description: "flows per transaction: a transaction is committed when this many flows wait (DuckDB writes full row groups of 122880 rows straight into the file; smaller transactions go through its write-ahead log). Each flow waiting takes about 750 bytes, and about 400 more in DuckDB while its transaction runs"},
		{Name: "insert_concurrency", Type: dsl.TypeInt, Default: int64(2), Description: "transactions in flight at once, each on its own connection (batches are still released in order); DuckDB compresses and writes one while the next is appended"},
		{Name: "batch_timeout", Type: dsl.TypeDuration, Default: 2 * time.Second, Description: "longest time a flow waits before its transaction is committed"},
		{Name: "allow_destructive", Type: dsl.TypeBool, Default: false, Description: "let provisioning drop or retype columns (data loss)"},
		{Name: "max_retries", Type: dsl.TypeInt, Default: int64(0), Description: "failed transactions before the sink fails (and is restarted); 0 retries forever while flows wait"},
		{Name: "retry_backoff", Type: dsl.TypeDuration, Default: 500 * time.Millisecond, Description: "first wait after a failed transaction; doubled after each failure"},
		{Name: "retry_max_backoff", Type: dsl.TypeDuration, Default: 30 * time.Second, Description: "longest wait between attempts"},
	},
}

func init() {
	engine.RegisterSink("duckdb", Spec, New)
}

type config struct {
	path              string
	retention         map[string]time.Duration
	retentionInterval time.Duration
	memoryLimit       string
	threads           int
	batchSize         int
	concurrency       int
	batchTimeout      time.Duration
	allowDestructive  bool
	maxRetries        int
	retryBackoff      time.Duration
	retryMaxBackoff   time.Duration
}

// Sink stores flows in DuckDB. It implements engine.Sink, engine.Provisioner
// and store.Backend.
type Sink struct {
	id      engine.ID
	cfg     config
	log     *slog.Logger
	metrics *metrics
	columns []flow.Column // the schema; flow.Columns except in tests
	tables  []tableSpec

	mu     sync.Mutex
	db     *sql.DB
	live   []store.Table // tables that exist, for the Backend
	closed bool

	// Insert state, kept across restarts of Run: the groups of batches,
	// and the idle workers.
	queue  *inserter.Queue[struct{}]
	retry  inserter.Retry
	workMu sync.Mutex
	idle   []*worker
}

// ParseRetention reads a retention: a duration as the pipeline language
// writes them, or a number of years ("2y").
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "y"); ok {
		v, err := strconv.ParseFloat(n, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		return time.Duration(v * 365 * 24 * float64(time.Hour)), nil
	}
	d, err := dsl.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// New builds the sink from its configuration. It does no I/O.
func New(cfg *dsl.Config, env engine.Env) (*Sink, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: cfg.Range(attr)})
	}
	c := config{
		path:              cfg.String("path"),
		retention:         map[string]time.Duration{},
		retentionInterval: cfg.Duration("retention_interval"),
		memoryLimit:       cfg.String("memory_limit"),
		threads:           int(cfg.Int("threads")),
		batchSize:         int(cfg.Int("batch_size")),
		concurrency:       int(cfg.Int("insert_concurrency")),
		batchTimeout:      cfg.Duration("batch_timeout"),
		allowDestructive:  cfg.Bool("allow_destructive"),
		maxRetries:        int(cfg.Int("max_retries")),
		retryBackoff:      cfg.Duration("retry_backoff"),
		retryMaxBackoff:   cfg.Duration("retry_max_backoff"),
	}
	for k, v := range DefaultRetention {
		c.retention[k] = v
	}
	if strings.TrimSpace(c.path) == "" {
		bad("path", "Missing database path", "path names the DuckDB file, e.g. \"data/flows.duckdb\".")
	}
	names := make([]string, 0, len(DefaultRetention))
	for k := range DefaultRetention {
		names = append(names, k)
	}
	sort.Strings(names)
	for table, v := range cfg.StringMap("retention") {
		if _, ok := DefaultRetention[table]; !ok {
			bad("retention", "Unknown table in retention", fmt.Sprintf("%q is not a table of the DuckDB store; tables: %s.", table, strings.Join(names, ", ")))
			continue
		}
		d, err := ParseRetention(v)
		switch {
		case err != nil:
			bad("retention", "Invalid retention", fmt.Sprintf("%s: %v (e.g. \"15d\", \"2y\", \"0s\" to keep rows forever).", table, err))
			continue
		case d > 0 && d < time.Hour:
			bad("retention", "Retention too short", fmt.Sprintf("%s: retention must be at least 1h (or 0s to keep rows forever).", table))
			continue
		}
		c.retention[table] = d
	}
	if c.retentionInterval < time.Second {
		bad("retention_interval", "Invalid retention interval", "retention_interval must be at least 1s.")
	}
	if c.memoryLimit != "" {
		if _, err := dsl.ParseSize(c.memoryLimit); err != nil {
			bad("memory_limit", "Invalid memory limit", fmt.Sprintf("%q is not a size such as \"2GB\" or \"512MiB\".", c.memoryLimit))
		}
	}
	if c.threads < 0 || c.threads > 1024 {
		bad("threads", "Invalid threads", "threads must be between 0 (one per core) and 1024.")
	}
	if c.batchSize < 1 || c.batchSize > 10_000_000 {
		bad("batch_size", "Invalid batch size", "batch_size must be between 1 and 10000000.")
	}
	if c.concurrency < 1 || c.concurrency > 8 {
		bad("insert_concurrency", "Invalid insert_concurrency", "insert_concurrency must be between 1 and 8.")
	}
	if c.batchTimeout <= 0 {
		bad("batch_timeout", "Invalid batch timeout", "batch_timeout must be positive.")
	}
	if c.maxRetries < 0 {
		bad("max_retries", "Invalid max_retries", "max_retries must be 0 (retry forever) or more.")
	}
	if c.retryBackoff <= 0 {
		bad("retry_backoff", "Invalid retry_backoff", "retry_backoff must be positive.")
	}
	if c.retryMaxBackoff < c.retryBackoff {
		c.retryMaxBackoff = c.retryBackoff
	}
	if diags.HasErrors() {
		return nil, diags
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{id: env.ID, cfg: c, log: log, columns: flow.Columns}
	s.tables = wantTables(s.columns, c.retention)
	s.metrics = newMetrics(env.Metrics)
	s.retry = inserter.Retry{Max: c.maxRetries, Backoff: c.retryBackoff, MaxBackoff: c.retryMaxBackoff}
	s.queue = inserter.New(inserter.Config{
		BatchSize: c.batchSize, Timeout: c.batchTimeout, Concurrency: c.concurrency,
		Name: "duckdb", Log: log, Dropped: s.metrics.dropped.WithLabelValues("shutdown"),
	}, inserter.Sink[struct{}](transactions{s}))
	return s, diags
}

// Path is the database file.
func (s *Sink) Path() string { return s.cfg.path }

// dsn is the database file with its settings.
func (s *Sink) dsn(readOnly bool) string {
	var q []string
	if readOnly {
		q = append(q, "access_mode=READ_ONLY")
	}
	if s.cfg.memoryLimit != "" {
		q = append(q, "memory_limit="+urlEscape(s.cfg.memoryLimit))
	}
	if s.cfg.threads > 0 {
		q = append(q, "threads="+strconv.Itoa(s.cfg.threads))
	}
	if len(q) == 0 {
		return s.cfg.path
	}
	return s.cfg.path + "?" + strings.Join(q, "&")
}

// open returns the database, opening it (read-write, created if missing)
// the first time.
func (s *Sink) open(ctx context.Context) (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	if s.closed {
		return nil, errors.New("duckdb: store closed")
	}
	if dir := filepath.Dir(s.cfg.path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, engine.Permanent(fmt.Errorf("duckdb: create the directory of %s: %w", s.cfg.path, err))
		}
	}
	if st, err := os.Stat(s.cfg.path); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
		// An empty file (touched, say) holds nothing; DuckDB only makes a
		// database where there is no file.
		os.Remove(s.cfg.path)
	}
	db, err := openDB(ctx, s.cfg.path, s.dsn(false))
	if err != nil {
		return nil, err
	}
	s.db = db
	return db, nil
}

// Close closes the database. Run checkpoints it before it returns; Close
// is for the end of the process (and tests).
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// worker inserts groups on its own connection: with several, one group's
// rows are compressed and written while the next one is appended.
type worker struct {
	w   *writer
	set *rollup.Set
}

// group is the batches of one transaction (the sink fills no buffer of its
// own: the appender reads the batches).
type group = inserter.Group[struct{}]

// Run stores the flows received on in, until in is closed and everything is
// committed. Batches are gathered until batch_size flows or batch_timeout;
// their flows and rollup rows are then written in one transaction, on one of
// insert_concurrency connections, and the batches released in order once
// their transaction and every older one committed. A failed transaction is
// counted and retried with backoff; meanwhile the sink stops reading, so the
// pipeline back-pressures.
func (s *Sink) Run(ctx context.Context, in <-chan *flow.Batch) (err error) {
	if _, err := s.open(ctx); err != nil {
		return err
	}
	rctx, stopRetention := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.maintain(rctx)
	}()
	defer func() {
		stopRetention()
		wg.Wait()
		s.stop()
	}()
	return s.queue.Run(ctx, in)
}

// stop ends Run, once no transaction runs (the queue keeps the groups not
// committed for the next Run, or gave them up past the shutdown deadline):
// it closes the connections and checkpoints the database.
func (s *Sink) stop() {
	s.closeWorkers()
	if db, oerr := s.open(context.Background()); oerr == nil {
		if _, cerr := db.ExecContext(context.Background(), "CHECKPOINT"); cerr != nil {
			s.log.Warn("duckdb checkpoint failed", "path", s.cfg.path, "error", cerr)
		}
	}
}

// closeWorkers closes the connections of the idle workers.
func (s *Sink) closeWorkers() {
	s.workMu.Lock()
	defer s.workMu.Unlock()
	for _, wk := range s.idle {
		if wk.w != nil {
			wk.w.close()
			wk.w = nil
		}
	}
}

// takeWorker returns an idle worker, making one if needed.
func (s *Sink) takeWorker() *worker {
	s.workMu.Lock()
	defer s.workMu.Unlock()
	if n := len(s.idle); n > 0 {
		wk := s.idle[n-1]
		s.idle = s.idle[:n-1]
		return wk
	}
	return &worker{set: rollup.NewSet(rollupIntervals...)}
}

func (s *Sink) putWorker(wk *worker) {
	s.workMu.Lock()
	s.idle = append(s.idle, wk)
	s.workMu.Unlock()
}

// transactions is the sink as the queue sees it (inserter.Sink).
type transactions struct{ *Sink }

// NewBuffer is the empty buffer of a group.
func (transactions) NewBuffer() struct{} { return struct{}{} }

// Fill does nothing: the batches are appended as their transaction runs.
func (transactions) Fill(struct{}, *flow.Batch) {}

// Done releases the batches of a group committed.
func (transactions) Done(g *group) {
	for _, b := range g.Batches {
		b.Release()
	}
}

// Insert writes the group in one transaction on a worker's connection,
// retrying failures with backoff.
func (t transactions) Insert(ctx context.Context, g *group) error {
	s := t.Sink
	wk := s.takeWorker()
	defer s.putWorker(wk)
	var start time.Time
	return s.retry.Do(ctx, func(attempt int) error {
		start = time.Now()
		if err := s.write(ctx, wk, g); err != nil {
			return err
		}
		s.metrics.latency.Observe(time.Since(start).Seconds())
		s.metrics.rows.Add(float64(g.Rows))
		if attempt > 1 {
			s.log.Info("duckdb insert succeeded after retries", "flows", g.Rows, "attempts", attempt)
		}
		return nil
	}, func(err error, attempt int, wait time.Duration, last bool) error {
		s.metrics.errors.Inc()
		if last {
			return fmt.Errorf("duckdb insert of %d flows into %s failed %d times: %w", g.Rows, s.cfg.path, attempt, err)
		}
		s.metrics.retries.Inc()
		s.log.Warn("duckdb insert failed, retrying", "path", s.cfg.path, "flows", g.Rows, "attempt", attempt, "in", wait, "error", err)
		return nil
	})
}

// write inserts the flows of g and their rollup rows in one transaction.
func (s *Sink) write(ctx context.Context, wk *worker, g *group) error {
	db, err := s.open(ctx)
	if err != nil {
		return err
	}
	if wk.w == nil {
		if wk.w, err = newWriter(ctx, db, s.tables); err != nil {
			return err
		}
	}
	wk.set.Reset()
	for _, b := range g.Batches {
		wk.set.Add(b.Records)
	}
	wk.set.Finish()
	err = wk.w.write(ctx, g.Batches, wk.set, s.metrics)
	wk.set.Reset()
	if err != nil {
		// The connection is in an unknown state: the next attempt starts afresh.
		wk.w.close()
		wk.w = nil
		if invalidated(err) {
			s.reopen(db, err)
		}
	}
	return err
}

// invalidated reports whether DuckDB gave up on the database after a fatal
// error (a write that failed while committing, on a full disk say): every
// statement fails until it is opened again.
func invalidated(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "database has been invalidated") || strings.Contains(msg, "FATAL Error")
}

// reopen closes db, invalidated, so that the next use opens the file again
// (DuckDB replays its write-ahead log).
func (s *Sink) reopen(db *sql.DB, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != db {
		return
	}
	s.log.Warn("duckdb database invalidated by a fatal error; opening it again", "path", s.cfg.path, "error", cause)
	s.db = nil
	s.live = nil
	go db.Close() // waits for queries running on it
}

type metrics struct {
	rows      prometheus.Counter
	latency   prometheus.Histogram
	retries   prometheus.Counter
	errors    prometheus.Counter
	dropped   *prometheus.CounterVec
	deleted   *prometheus.CounterVec
	rollupRo  *prometheus.CounterVec
	compacted *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_duckdb_rows_inserted_total",
			Help: "Flows inserted into DuckDB (committed)."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowengine_duckdb_insert_duration_seconds",
			Help: "Duration of successful transactions (flows and rollups).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_duckdb_insert_retries_total",
			Help: "Transactions retried after a failure."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_duckdb_insert_errors_total",
			Help: "Failed transactions (a full disk, say); their batches are kept and retried."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_duckdb_rows_dropped_total",
			Help: "Flows dropped, by reason: shutdown (not written when the shutdown deadline passed)."}, []string{"reason"}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_duckdb_rows_deleted_total",
			Help: "Rows deleted past their table's retention, by table."}, []string{"table"}),
		rollupRo: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_duckdb_rollup_rows_inserted_total",
			Help: "Rollup rows inserted, by table."}, []string{"table"}),
	}
	m.compacted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_duckdb_rollup_rows_compacted_total",
		Help: "Partial rollup rows merged by compaction once their interval was over, by table."}, []string{"table"})
	m.compacted = engine.Register(reg, m.compacted)
	m.dropped.WithLabelValues("shutdown")
	m.rows = engine.Register(reg, m.rows)
	m.latency = engine.Register(reg, m.latency)
	m.retries = engine.Register(reg, m.retries)
	m.errors = engine.Register(reg, m.errors)
	m.dropped = engine.Register(reg, m.dropped)
	m.deleted = engine.Register(reg, m.deleted)
	m.rollupRo = engine.Register(reg, m.rollupRo)
	return m
}
