// Package clickhouse is the `sink "clickhouse"` stage: it provisions the
// flows table, the consolidated (rollup) tables and the lookup tables with
// DDL adapted to the server's version, and inserts flows in large batches
// over the native protocol, with retries, back-pressure and poison-row
// isolation, releasing each flow batch only once its rows are in ClickHouse
// (at-least-once delivery). It aggregates the rollups itself (store/rollup)
// and inserts the pre-aggregated rows, or leaves them to materialized views
// on the server. It is also a store the console queries (store.Backend).
package clickhouse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/inserter"
	"github.com/flowengine/flowengine/internal/tlsconfig"
)

type exception = clickhouse.Exception

var _ engine.Sink = (*Sink)(nil)

// Spec is the `sink "clickhouse"` block.
var Spec = &dsl.Spec{
	Description: "Writes flows to ClickHouse over the native protocol and provisions its tables " +
		"(flows, consolidated flows_<interval> rollup tables, protocols and asns lookup tables, saved filters of the console).",
	Attrs: []dsl.Attr{
		{Name: "servers", Type: dsl.TypeStringList, Default: []string{"127.0.0.1:9000"}, Description: "ClickHouse servers (host:port of the native protocol); tried in order"},
		{Name: "database", Type: dsl.TypeString, Default: "flowengine", Description: "database holding the tables; created if missing"},
		{Name: "username", Type: dsl.TypeString, Default: "default", Description: "user name"},
		{Name: "password", Type: dsl.TypeString, Default: "", Description: "password (never logged)"},
		{Name: "batch_size", Type: dsl.TypeInt, Default: int64(100000), Description: "rows per INSERT: an INSERT is sent when this many rows wait"},
		{Name: "insert_concurrency", Type: dsl.TypeInt, Default: int64(2), Description: "INSERTs in flight at once, each of up to batch_size rows, while the next block is being built (batches are still released in order); more use more server cores, and memory for the rows waiting"},
		{Name: "batch_timeout", Type: dsl.TypeDuration, Default: 5 * time.Second, Description: "longest time a row waits before its INSERT is sent"},
		{Name: "retention", Type: dsl.TypeDuration, Default: 30 * 24 * time.Hour, Description: "how long flows are kept in the flows table (TTL, or partitions dropped by the sink on servers before 19.6); \"0s\" keeps them forever"},
		{Name: "consolidate", Type: dsl.TypeBool, Default: true, Description: "create the consolidated tables; without consolidation blocks: flows_1m0s (90d), flows_5m0s (1y), flows_1h0m0s (5y)"},
		{Name: "consolidate_in", Type: dsl.TypeString, Default: consolidateInEngine, OneOf: []string{consolidateInEngine, consolidateInServer}, Description: "where the consolidated tables' rows are computed: \"engine\" (the sink aggregates each batch and inserts the sums) or \"server\" (materialized views on the flows table, for setups whose writers cannot aggregate; they cost the server most of its insert time)"},
		{Name: "rollup_batch_size", Type: dsl.TypeInt, Default: int64(0), Description: "with consolidate_in = \"engine\": flows whose rollups are aggregated together into one INSERT per consolidated table (their batches are held until then); fewer, larger rollup inserts cost the server less. 0: 4 × batch_size"},
		{Name: "allow_destructive", Type: dsl.TypeBool, Default: false, Description: "let provisioning drop or rewrite columns and replace tables (data loss)"},
		{Name: "max_retries", Type: dsl.TypeInt, Default: int64(0), Description: "failed INSERT attempts before the sink fails (and is restarted); 0 retries forever while flows wait"},
		{Name: "retry_backoff", Type: dsl.TypeDuration, Default: 500 * time.Millisecond, Description: "first wait after a failed INSERT; doubled after each failure"},
		{Name: "retry_max_backoff", Type: dsl.TypeDuration, Default: 30 * time.Second, Description: "longest wait between INSERT attempts"},
		{Name: "dial_timeout", Type: dsl.TypeDuration, Default: 10 * time.Second, Description: "timeout to connect to a server"},
		{Name: "compression", Type: dsl.TypeString, Default: "lz4", OneOf: []string{"lz4", "zstd", "none"}, Description: "compression of the native protocol blocks"},
	},
	Blocks: []dsl.BlockSpec{
		tlsconfig.Block("TLS to the servers (the secure native port, 9440 by default)"),
		{Type: "consolidation", Description: "a consolidated (rollup) table flows_<interval>: Bytes, Packets and Flows scaled by SamplingRate and summed per interval over the dimension columns but addresses, ports and the BGP lists (AS path, communities: in the flows table only); replaces the default set", Attrs: []dsl.Attr{
			{Name: "interval", Type: dsl.TypeDuration, Required: true, Description: "time resolution: \"1m\", \"5m\", \"1h\""},
			{Name: "retention", Type: dsl.TypeDuration, Required: true, Description: "how long rows are kept; \"0s\" keeps them forever"},
		}},
	},
}

// DefaultConsolidations are the consolidated tables made without consolidation blocks.
var DefaultConsolidations = []consolidation{
	{Interval: time.Minute, Retention: 90 * 24 * time.Hour},
	{Interval: 5 * time.Minute, Retention: 365 * 24 * time.Hour},
	{Interval: time.Hour, Retention: 5 * 365 * 24 * time.Hour},
}

func init() {
	engine.RegisterSink("clickhouse", Spec, New)
}

type config struct {
	servers          []string
	database         string
	username         string
	password         string
	tls              tlsconfig.Config
	batchSize        int
	concurrency      int
	batchTimeout     time.Duration
	retention        time.Duration
	consolidations   []consolidation
	consolidateIn    string
	rollupBatch      int
	allowDestructive bool
	maxRetries       int
	retryBackoff     time.Duration
	retryMaxBackoff  time.Duration
	dialTimeout      time.Duration
	compression      string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Sink writes flows to ClickHouse. It implements engine.Sink and engine.Provisioner.
type Sink struct {
	id      engine.ID
	cfg     config
	log     *slog.Logger
	metrics *metrics
	columns []flow.Column // the schema; flow.Columns except in tests

	mu        sync.Mutex
	conn      driver.Conn // queries: provisioning, version, retention, saved filters
	queryConn driver.Conn // the console's queries (store.Backend)
	// readOnlyUser: the server refused the settings of console queries
	// (the user is read-only); they are sent without.
	readOnlyUser atomic.Bool
	features     *features

	// Insert state, kept across restarts of Run. The queue's Run appends
	// rows to one buffer while other goroutines insert the older ones (at
	// most insert_concurrency of them), so that building blocks and the
	// server's work overlap, and releases batches in order: a buffer's once
	// its insert and those of every older one succeeded. The fields below
	// are owned by the queue's Run goroutine.
	queue *inserter.Queue[*rowBuffer]
	retry inserter.Retry
	free  []*rowBuffer
	feats features
	// Consolidation in the engine: the group of buffers whose rollups
	// are aggregated together, by member, and the group still open.
	groups      map[*rowBuffer]*rollupGroup
	openGroup   *rollupGroup
	freeRollups []*rollupState

	connMu    sync.Mutex
	idle      []*nativeConn // INSERT connections not in use
	insertSQL string
	now       func() time.Time
	// Deduplication tokens of rollup inserts: this sink's random instance
	// and the number of the rollup build.
	instance string
	buildSeq atomic.Uint64
}

// New builds the sink from its configuration. It does no I/O.
func New(cfg *dsl.Config, env engine.Env) (*Sink, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: cfg.Range(attr)})
	}
	c := config{
		servers:          cfg.Strings("servers"),
		database:         cfg.String("database"),
		username:         cfg.String("username"),
		password:         cfg.String("password"),
		batchSize:        int(cfg.Int("batch_size")),
		concurrency:      int(cfg.Int("insert_concurrency")),
		batchTimeout:     cfg.Duration("batch_timeout"),
		retention:        cfg.Duration("retention"),
		consolidateIn:    cfg.String("consolidate_in"),
		rollupBatch:      int(cfg.Int("rollup_batch_size")),
		allowDestructive: cfg.Bool("allow_destructive"),
		maxRetries:       int(cfg.Int("max_retries")),
		retryBackoff:     cfg.Duration("retry_backoff"),
		retryMaxBackoff:  cfg.Duration("retry_max_backoff"),
		dialTimeout:      cfg.Duration("dial_timeout"),
		compression:      cfg.String("compression"),
	}
	if len(c.servers) == 0 {
		bad("servers", "No ClickHouse server", "servers needs at least one host:port.")
	}
	for _, s := range c.servers {
		if !strings.Contains(s, ":") {
			bad("servers", "Invalid ClickHouse server", fmt.Sprintf("%q is not host:port (the native protocol port is 9000, 9440 with TLS).", s))
		}
	}
	if !identRE.MatchString(c.database) {
		bad("database", "Invalid database name", fmt.Sprintf("%q is not a database name: letters, digits and _ only.", c.database))
	}
	if c.batchSize <= 0 {
		bad("batch_size", "Invalid batch size", "batch_size must be at least 1.")
	}
	if c.concurrency < 1 || c.concurrency > 16 {
		bad("insert_concurrency", "Invalid insert_concurrency", "insert_concurrency must be between 1 and 16.")
	}
	if c.rollupBatch < 0 {
		bad("rollup_batch_size", "Invalid rollup_batch_size", "rollup_batch_size must be 0 (4 × batch_size) or more.")
	}
	if c.rollupBatch == 0 {
		c.rollupBatch = 4 * c.batchSize
	}
	if c.batchTimeout <= 0 {
		bad("batch_timeout", "Invalid batch timeout", "batch_timeout must be positive.")
	}
	if c.maxRetries < 0 {
		bad("max_retries", "Invalid max_retries", "max_retries must be 0 (retry forever) or more.")
	}
	if c.retryBackoff <= 0 {
		c.retryBackoff = 500 * time.Millisecond
	}
	if c.retryMaxBackoff < c.retryBackoff {
		c.retryMaxBackoff = c.retryBackoff
	}
	if c.retention > 0 && c.retention < time.Hour {
		bad("retention", "Retention too short", "retention must be at least 1h (or 0s to keep flows forever).")
	}
	var tlsDiags hcl.Diagnostics
	c.tls, tlsDiags = tlsconfig.Decode(cfg)
	diags = append(diags, tlsDiags...)
	if cfg.Bool("consolidate") {
		blocks := cfg.Blocks("consolidation")
		if len(blocks) == 0 {
			c.consolidations = append(c.consolidations, DefaultConsolidations...)
		}
		seen := map[string]bool{}
		for _, b := range blocks {
			cn := consolidation{Interval: b.Duration("interval"), Retention: b.Duration("retention")}
			switch {
			case cn.Interval < time.Second || cn.Interval%time.Second != 0:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid consolidation interval",
					Detail: "interval must be a whole number of seconds, at least 1s.", Subject: b.Range("interval")})
				continue
			case cn.Retention > 0 && cn.Retention < cn.Interval:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid consolidation retention",
					Detail: "retention must be longer than the interval (or 0s to keep rows forever).", Subject: b.Range("retention")})
				continue
			case seen[consolidatedName(cn.Interval)]:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate consolidation",
					Detail: fmt.Sprintf("Another consolidation block already has interval %s.", cn.Interval), Subject: b.Range("interval")})
				continue
			}
			seen[consolidatedName(cn.Interval)] = true
			c.consolidations = append(c.consolidations, cn)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{id: env.ID, cfg: c, log: log, columns: flow.Columns, now: time.Now, instance: fmt.Sprintf("%016x", rand.Uint64())}
	s.metrics = newMetrics(env.Metrics)
	s.retry = inserter.Retry{Max: c.maxRetries, Backoff: c.retryBackoff, MaxBackoff: c.retryMaxBackoff}
	s.queue = inserter.New(inserter.Config{
		BatchSize: c.batchSize, Timeout: c.batchTimeout, Concurrency: c.concurrency,
		Name: "clickhouse", Log: log, Dropped: s.metrics.dropped.WithLabelValues("shutdown"),
	}, inserter.Sink[*rowBuffer](buffers{s}))
	return s, diags
}

// connect returns the connection pool, opening it the first time. Opening
// does not dial: errors show at the first query.
func (s *Sink) connect(ctx context.Context) (driver.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return s.conn, nil
	}
	conn, err := s.open("")
	if err != nil {
		return nil, err
	}
	s.conn = conn
	return conn, nil
}

// queryConnect returns the pool of the console's queries, whose default
// database is the sink's (queries name tables alone), opening it the first
// time.
func (s *Sink) queryConnect() (driver.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queryConn != nil {
		return s.queryConn, nil
	}
	conn, err := s.open(s.cfg.database)
	if err != nil {
		return nil, err
	}
	s.queryConn = conn
	return conn, nil
}

// open opens a clickhouse-go pool with database as its default ("": the
// server's). Opening does not dial.
func (s *Sink) open(database string) (driver.Conn, error) {
	opts := &clickhouse.Options{
		Addr:         s.cfg.servers,
		Auth:         clickhouse.Auth{Username: s.cfg.username, Password: s.cfg.password, Database: database},
		DialTimeout:  s.cfg.dialTimeout,
		MaxOpenConns: 4,
		MaxIdleConns: 2,
		ReadTimeout:  5 * time.Minute,
		ClientInfo:   clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "flowengine", Version: "1"}}},
	}
	switch s.cfg.compression {
	case "lz4":
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	case "zstd":
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionZSTD}
	}
	if s.cfg.tls.Enabled {
		tc, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts.TLS = tc
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	return conn, nil
}

// tlsConfig is the TLS configuration of the connections.
func (s *Sink) tlsConfig() (*tls.Config, error) { return s.cfg.tls.Build("clickhouse") }

// Close closes the connections. Run closes them too when it returns.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connMu.Lock()
	for _, c := range s.idle {
		c.close()
	}
	clear(s.idle)
	s.idle = s.idle[:0]
	s.connMu.Unlock()
	var err error
	if s.queryConn != nil {
		err = s.queryConn.Close()
		s.queryConn = nil
	}
	if s.conn != nil {
		err = errors.Join(err, s.conn.Close())
		s.conn = nil
	}
	return err
}

// Run inserts the flows received on in, until in is closed and everything
// is written. A batch is released only once the INSERT holding its rows
// succeeded; while ClickHouse is unreachable the sink retries and stops
// reading, so the pipeline back-pressures. Rows are appended to one buffer
// while the previous one is being inserted, so that building a block and
// the server's work on the previous one overlap.
func (s *Sink) Run(ctx context.Context, in <-chan *flow.Batch) error {
	defer s.Close()
	f, err := s.waitFeatures(ctx)
	if err != nil {
		return err
	}
	if s.groups == nil {
		s.feats = f
		s.groups = map[*rowBuffer]*rollupGroup{}
		names := make([]string, len(s.columns))
		for i, c := range s.columns {
			names[i] = quote(c.Name)
		}
		s.insertSQL = fmt.Sprintf("INSERT INTO %s.%s (%s) VALUES", quote(s.cfg.database), quote("flows"), strings.Join(names, ", "))
	}

	// Servers without TTL: the sink drops old partitions itself.
	rctx, stopRetention := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if !f.TTL {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.retentionLoop(rctx, f)
		}()
	}
	defer func() {
		stopRetention()
		wg.Wait()
	}()
	return s.queue.Run(ctx, in)
}

// buffers is the sink as its insert queue sees it (inserter.Sink and
// inserter.Holder): the rows of each group are appended to a rowBuffer as
// they arrive, and with consolidation in the engine, consecutive groups
// form a rollup group whose batches are held until its rollups are in.
type buffers struct{ *Sink }

type group = inserter.Group[*rowBuffer]

// NewBuffer returns a free buffer.
func (s buffers) NewBuffer() *rowBuffer {
	if n := len(s.free); n > 0 {
		rb := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		return rb
	}
	return newRowBuffer(s.columns, s.feats)
}

// Fill appends the rows of b.
func (buffers) Fill(rb *rowBuffer, b *flow.Batch) { rb.append(b.Records) }

// Seal adds a buffer handed to its insert to the open rollup group, with
// consolidation in the engine; it closes the group (the buffer inserts its
// rollups after its flows) when last is set or the group holds
// rollup_batch_size flows.
func (s buffers) Seal(g *group, last bool) {
	rb := g.Buf
	if st := s.rollupState(); st != nil || s.openGroup != nil {
		rg := s.openGroup
		if rg == nil {
			rg = &rollupGroup{st: st}
			s.openGroup = rg
		} else if st != nil {
			s.freeRollups = append(s.freeRollups, st)
		}
		rg.batches = append(rg.batches, g.Batches...)
		rg.rows += g.Rows
		s.groups[rb] = rg
		if last || rg.rows >= s.cfg.rollupBatch {
			rg.closer = rb
			s.openGroup = nil
			rb.closeSt, rb.closeBatches = rg.st, rg.batches
		}
	}
}

// Insert inserts the flows of a buffer, then, if it closes a rollup group,
// the group's rollups. Each insert is made once: after a failure, the next
// call resumes with the insert that failed.
func (s buffers) Insert(ctx context.Context, g *group) error {
	rb := g.Buf
	st := rb.closeSt
	if st == nil || !st.flowsDone {
		if err := s.insertRange(ctx, rb, "flows", s.insertSQL, 0, rb.rows); err != nil {
			return err
		}
		if st == nil {
			return nil
		}
		st.flowsDone = true
	}
	return s.insertRollups(ctx, st, rb.closeBatches)
}

// Done releases the batches of a buffer inserted, and frees it. The
// batches of a rollup group's member wait for the rollups of the group:
// they are released with its closer's (in order: no buffer after the
// closer is released before it).
func (s buffers) Done(g *group) {
	rb := g.Buf
	rg := s.groups[rb]
	delete(s.groups, rb)
	switch {
	case rg == nil:
		for _, b := range g.Batches {
			b.Release()
		}
	case rg.closer != rb:
		rg.held = append(rg.held, g.Batches...)
	default:
		rg.held = append(rg.held, g.Batches...)
		s.releaseGroup(rg)
	}
	rb.reset()
	s.free = append(s.free, rb)
}

// Holding reports whether a rollup group is open.
func (s buffers) Holding() bool { return s.openGroup != nil }

// Flush inserts the rollups of the open group, whose members were all
// inserted, and releases their batches.
func (s buffers) Flush(ctx context.Context) error {
	rg := s.openGroup
	if err := s.insertRollups(ctx, rg.st, rg.batches); err != nil {
		return err
	}
	s.openGroup = nil
	s.releaseGroup(rg)
	return nil
}

// Hold keeps an empty batch received while no buffer is in flight, to
// release after the batches of the open group (its release may commit a
// source's offsets).
func (s buffers) Hold(b *flow.Batch) {
	if s.openGroup != nil {
		s.openGroup.held = append(s.openGroup.held, b)
		return
	}
	b.Release()
}

// Abandon fails and releases the batches held by the rollup groups past
// the shutdown deadline, and frees the buffers given up.
func (s buffers) Abandon(bufs []*rowBuffer) {
	groups := map[*rollupGroup]bool{}
	if s.openGroup != nil {
		groups[s.openGroup] = true
	}
	for _, rb := range bufs {
		if rg := s.groups[rb]; rg != nil {
			groups[rg] = true
		}
	}
	for rg := range groups {
		for _, b := range rg.held {
			b.Fail()
			b.Release()
		}
		clear(rg.held)
		rg.held = rg.held[:0]
		clear(rg.batches)
		rg.st.reset()
		s.freeRollups = append(s.freeRollups, rg.st)
	}
	s.openGroup = nil
	clear(s.groups)
	for _, rb := range bufs {
		rb.reset()
		s.free = append(s.free, rb)
	}
}

// rollupState returns a free rollup state, or nil without consolidation
// in the engine.
func (s *Sink) rollupState() *rollupState {
	if n := len(s.freeRollups); n > 0 {
		st := s.freeRollups[n-1]
		s.freeRollups = s.freeRollups[:n-1]
		return st
	}
	return s.newRollupState()
}

// insertRollups aggregates batches into st, once, and inserts the rollup
// tables not inserted yet.
func (s *Sink) insertRollups(ctx context.Context, st *rollupState, batches []*flow.Batch) error {
	if !st.built {
		start := time.Now()
		st.seq = s.buildSeq.Add(1)
		st.build(batches)
		s.metrics.aggregation.Observe(time.Since(start).Seconds())
	}
	for st.done < len(st.tables) {
		t := st.tables[st.done]
		token := ""
		if s.feats.DedupToken {
			token = fmt.Sprintf("flowengine-%s-%d-%s", s.instance, st.seq, st.names[st.done])
		}
		if err := s.insertRangeToken(ctx, t, st.names[st.done], st.sql[st.done], token, 0, t.rows); err != nil {
			return err
		}
		st.done++
	}
	return nil
}

// releaseGroup releases the batches of a group whose flows and rollups are
// inserted, and frees its rollup state.
func (s *Sink) releaseGroup(g *rollupGroup) {
	for _, b := range g.held {
		b.Release()
	}
	clear(g.held)
	clear(g.batches)
	g.st.reset()
	s.freeRollups = append(s.freeRollups, g.st)
}

// waitFeatures reads the server version, retrying while the server is down.
func (s *Sink) waitFeatures(ctx context.Context) (features, error) {
	s.mu.Lock()
	f := s.features
	s.mu.Unlock()
	if f != nil {
		return *f, nil
	}
	var got features
	err := s.retry.Do(ctx, func(int) error {
		var err error
		got, err = s.serverFeatures(ctx)
		return err
	}, func(err error, attempt int, wait time.Duration, last bool) error {
		if !isTransient(err) || last {
			return err
		}
		s.metrics.retries.Inc()
		s.log.Warn("clickhouse not ready, retrying", "attempt", attempt, "in", wait, "error", err)
		return nil
	})
	return got, err
}

// dataError is an INSERT rejected because of the rows it holds.
type dataError struct{ err error }

func (e dataError) Error() string { return e.err.Error() }
func (e dataError) Unwrap() error { return e.err }

// Server error codes caused by the data of an INSERT, not by the server's state.
var dataCodes = map[int32]bool{
	6: true, 27: true, 36: true, 38: true, 41: true, 53: true, 69: true, 70: true, 72: true,
	131: true, 321: true, 691: true,
}

func isDataError(err error) bool {
	var de dataError
	if errors.As(err, &de) {
		return true
	}
	var ex *exception
	return errors.As(err, &ex) && dataCodes[ex.Code]
}

// isTransient reports whether err is worth retrying as is.
func isTransient(err error) bool {
	if isDataError(err) {
		return false
	}
	var ex *exception
	if errors.Is(err, ErrAuthentication) || (errors.As(err, &ex) && authCodes[ex.Code]) {
		return false
	}
	return true
}

// insertRange inserts rows [lo, hi) of the buffer into table with query.
// Transient failures are retried with exponential backoff; a rejection
// caused by the data splits the range in halves until the bad rows are
// alone, and drops only those.
func (s *Sink) insertRange(ctx context.Context, rb *rowBuffer, table, query string, lo, hi int) error {
	return s.insertRangeToken(ctx, rb, table, query, "", lo, hi)
}

// insertRangeToken is insertRange with a deduplication token, if not "":
// each insert sends it suffixed with its range, the same on every retry.
func (s *Sink) insertRangeToken(ctx context.Context, rb *rowBuffer, table, query, token string, lo, hi int) error {
	if hi <= lo {
		return nil
	}
	tok := ""
	if token != "" {
		tok = fmt.Sprintf("%s-%d-%d", token, lo, hi)
	}
	var split bool // rejected because of its data: the halves are inserted instead
	err := s.retry.Do(ctx, func(attempt int) error {
		start := time.Now()
		err := s.insertOnce(ctx, rb, query, tok, lo, hi)
		if err != nil {
			return err
		}
		s.metrics.latency.Observe(time.Since(start).Seconds())
		if table == "flows" {
			s.metrics.rows.Add(float64(hi - lo))
		} else {
			s.metrics.rollupRows.Add(float64(hi - lo))
		}
		if attempt > 1 {
			s.log.Info("clickhouse insert succeeded after retries", "table", table, "rows", hi-lo, "attempts", attempt)
		}
		return nil
	}, func(err error, attempt int, wait time.Duration, last bool) error {
		if isDataError(err) {
			s.metrics.errors.WithLabelValues("data").Inc()
			split = true
			return err
		}
		s.metrics.errors.WithLabelValues("transient").Inc()
		if last {
			return fmt.Errorf("clickhouse insert of %d rows into %s failed %d times: %w", hi-lo, table, attempt, s.explain(err))
		}
		s.metrics.retries.Inc()
		s.log.Warn("clickhouse insert failed, retrying", "table", table, "rows", hi-lo, "attempt", attempt, "in", wait, "error", s.explain(err))
		return nil
	})
	if !split {
		return err
	}
	if hi-lo == 1 {
		if table == "flows" {
			s.metrics.dropped.WithLabelValues("rejected").Inc()
		}
		s.log.Warn("clickhouse rejected a row, dropped", "table", table, "error", err, "row", rb.describeRow(lo))
		return nil
	}
	s.log.Warn("clickhouse rejected an insert, splitting it to isolate the bad rows", "table", table, "rows", hi-lo, "error", err)
	mid := lo + (hi-lo)/2
	if err := s.insertRangeToken(ctx, rb, table, query, token, lo, mid); err != nil {
		return err
	}
	return s.insertRangeToken(ctx, rb, table, query, token, mid, hi)
}

func (s *Sink) insertOnce(ctx context.Context, rb *rowBuffer, query, token string, lo, hi int) error {
	if err := rb.check(lo, hi); err != nil {
		return err
	}
	var c *nativeConn
	s.connMu.Lock()
	if n := len(s.idle); n > 0 {
		c = s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
	}
	s.connMu.Unlock()
	reused := c != nil
	for {
		if c == nil {
			var err error
			if c, err = s.dialNative(ctx); err != nil {
				return err
			}
		}
		err := c.insert(ctx, query, token, rb, lo, hi)
		if err == nil {
			break
		}
		c.close() // in an unknown state
		c = nil
		// An idle connection the server closed fails at once: try a
		// new one before counting a failure.
		var ex *exception
		if !reused || ctx.Err() != nil || errors.As(err, &ex) || isDataError(err) {
			return err
		}
		reused = false
	}
	s.connMu.Lock()
	s.idle = append(s.idle, c)
	s.connMu.Unlock()
	return nil
}

// describeRow names a buffered row in logs, by the exporter and time.
func (rb *rowBuffer) describeRow(i int) string {
	var parts []string
	for _, cb := range rb.cols {
		switch cb.col.Name {
		case "TimeReceived", "ExporterAddress", "SrcAddr", "DstAddr":
			parts = append(parts, fmt.Sprintf("%s=%v", cb.col.Name, cb.value(i)))
		}
	}
	return strings.Join(parts, " ")
}

type metrics struct {
	rows        prometheus.Counter
	rollupRows  prometheus.Counter
	aggregation prometheus.Histogram
	latency     prometheus.Histogram
	retries     prometheus.Counter
	errors      *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	partitions  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_clickhouse_rows_inserted_total",
			Help: "Flows inserted into ClickHouse."}),
		rollupRows: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_clickhouse_rollup_rows_inserted_total",
			Help: "Pre-aggregated rows inserted into the consolidated tables (consolidate_in = \"engine\")."}),
		aggregation: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowengine_clickhouse_rollup_duration_seconds",
			Help: "Time spent aggregating the flows of one INSERT into rollup rows.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowengine_clickhouse_insert_duration_seconds",
			Help: "Duration of successful INSERTs.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_clickhouse_insert_retries_total",
			Help: "INSERTs (or connections) retried after a transient failure."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_clickhouse_insert_errors_total",
			Help: "Failed INSERTs, by kind: transient (retried) or data (split to isolate bad flows)."}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_clickhouse_rows_dropped_total",
			Help: "Flows dropped, by reason: rejected (ClickHouse refused the flow alone), shutdown (not written when the shutdown deadline passed)."}, []string{"reason"}),
		partitions: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_clickhouse_partitions_dropped_total",
			Help: "Partitions dropped by retention on servers without TTL."}),
	}
	m.errors.WithLabelValues("transient")
	m.errors.WithLabelValues("data")
	m.dropped.WithLabelValues("rejected")
	m.dropped.WithLabelValues("shutdown")
	m.rows = engine.Register(reg, m.rows)
	m.rollupRows = engine.Register(reg, m.rollupRows)
	m.aggregation = engine.Register(reg, m.aggregation)
	m.latency = engine.Register(reg, m.latency)
	m.retries = engine.Register(reg, m.retries)
	m.errors = engine.Register(reg, m.errors)
	m.dropped = engine.Register(reg, m.dropped)
	m.partitions = engine.Register(reg, m.partitions)
	return m
}

// schema is what the sink wants on a server with f.
func (s *Sink) schema(f features) schema {
	return wantSchema(s.cfg.database, f, s.columns, s.cfg.retention, s.cfg.consolidations, s.cfg.consolidateIn)
}
