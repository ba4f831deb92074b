// Package snmp implements enricher "snmp": it polls exporters over SNMP v2c or
// v3 (gosnmp) for their sysName and the names, descriptions and speeds of
// their interfaces, caches the answers (with background refresh, a negative
// cache and a state file), and fills the exporter and interface fields of
// flows from the cache without ever blocking on the network for longer than
// the configured `wait`.
package snmp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

func init() {
	engine.RegisterEnricher("snmp", Spec, New)
}

var (
	_ engine.Processor = (*Enricher)(nil)
	_ engine.Starter   = (*Enricher)(nil)
)

// Enricher is enricher "snmp".
type Enricher struct {
	log       *slog.Logger
	creds     credentials
	agents    map[netip.Addr]netip.AddrPort
	port      uint16
	timeout   time.Duration
	retries   int
	workers   int
	maxRep    uint32
	cacheTTL  time.Duration
	refresh   time.Duration
	negTTL    time.Duration
	wait      time.Duration
	statePath string

	// exporters is copied on write: Process reads it without a lock.
	exporters atomic.Pointer[map[netip.Addr]*exporterState]
	mu        sync.Mutex // serializes writers of exporters
	queue     chan *exporterState
	dirty     atomic.Bool // the cache changed since the state file was written

	cancel context.CancelFunc
	wg     sync.WaitGroup

	m metrics
}

type metrics struct {
	polls, pollErrors, hits, misses, unenriched prometheus.Counter
}

// New builds the enricher from its configuration. It does no I/O.
func New(cfg *dsl.Config, env engine.Env) (*Enricher, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(attr, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for \"" + attr + "\"",
			Detail: detail, Subject: cfg.Range(attr)})
	}
	e := &Enricher{
		log:      env.Logger,
		timeout:  cfg.Duration("timeout"),
		retries:  int(cfg.Int("retries")),
		workers:  int(cfg.Int("max_concurrent_polls")),
		maxRep:   uint32(max(cfg.Int("max_repetitions"), 0)),
		cacheTTL: cfg.Duration("cache_ttl"),
		refresh:  cfg.Duration("refresh"),
		negTTL:   cfg.Duration("negative_ttl"),
		wait:     cfg.Duration("wait"),
		queue:    make(chan *exporterState, 4096),
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p := cfg.Int("port"); p < 1 || p > 65535 {
		bad("port", "A UDP port between 1 and 65535 is required.")
	} else {
		e.port = uint16(p)
	}
	if e.timeout <= 0 {
		bad("timeout", "The timeout must be positive.")
	}
	if e.retries < 0 || e.retries > 10 {
		bad("retries", "Retries must be between 0 and 10.")
	}
	if e.workers < 1 || e.workers > 1024 {
		bad("max_concurrent_polls", "Between 1 and 1024 concurrent polls are allowed.")
	}
	if e.maxRep < 1 || e.maxRep > 200 {
		bad("max_repetitions", "GETBULK max-repetitions must be between 1 and 200.")
	}
	if e.cacheTTL <= 0 {
		bad("cache_ttl", "The cache TTL must be positive.")
	}
	if e.refresh <= 0 {
		bad("refresh", "The refresh period must be positive.")
	}
	if e.wait > 10*time.Second {
		bad("wait", "A flow must not wait for SNMP longer than 10s; the default is 50ms.")
	}
	creds, d := parseCredentials(cfg.Value("credentials"), cfg.Range("credentials"))
	diags = append(diags, d...)
	e.creds = creds
	agents, d := parseAgents(cfg.StringMap("agents"), e.port, cfg.Range("agents"))
	diags = append(diags, d...)
	e.agents = agents
	switch {
	case cfg.IsSet("state_file"):
		e.statePath = cfg.String("state_file")
	case env.StateDir != "":
		name := env.ID.Name
		if name == "" {
			name = "default"
		}
		e.statePath = filepath.Join(env.StateDir, "snmp-"+name+".json")
	}
	empty := map[netip.Addr]*exporterState{}
	e.exporters.Store(&empty)
	e.registerMetrics(env.Metrics)
	return e, diags
}

func (e *Enricher) registerMetrics(reg prometheus.Registerer) {
	f := engine.NewMetrics(reg)
	counter := func(name, help string) prometheus.Counter {
		return f.Counter(prometheus.CounterOpts{Name: name, Help: help})
	}
	e.m = metrics{
		polls:      counter("flowengine_snmp_polls_total", "SNMP polls of an exporter (sysName and interface table)."),
		pollErrors: counter("flowengine_snmp_poll_errors_total", "SNMP polls that failed (timeout, bad answer, agent error)."),
		hits:       counter("flowengine_snmp_cache_hits_total", "Flows whose exporter and interfaces were in the cache."),
		misses:     counter("flowengine_snmp_cache_misses_total", "Flows whose exporter or an interface was not in the cache."),
		unenriched: counter("flowengine_snmp_flows_unenriched_total", "Flows passed on without SNMP data (after waiting, or agent unreachable)."),
	}
	f.GaugeFunc(prometheus.GaugeOpts{Name: "flowengine_snmp_exporters",
		Help: "Exporters in the SNMP cache."}, func() float64 { return float64(len(*e.exporters.Load())) })
}

// Process fills the SNMP fields of b's records from the cache. Records of an
// exporter or interface not in the cache start a background poll; the batch
// waits at most `wait` for polls in flight, then passes them as they are.
func (e *Enricher) Process(ctx context.Context, b *flow.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	hits, missed := e.apply(b.Records, false)
	if missed == 0 {
		e.m.hits.Add(float64(hits))
		return nil
	}
	e.m.misses.Add(float64(missed))
	if hits > 0 {
		e.m.hits.Add(float64(hits))
	}
	e.slowPath(ctx, b.Records)
	return nil
}

// apply enriches records from the cache; it returns how many records were
// fully enriched and how many were not.
//
// The first pass (final false) touches the exporters' last-seen time and
// leaves records with an unknown interface alone; the last pass (final true)
// fills whatever is known.
func (e *Enricher) apply(recs []flow.Record, final bool) (hits, missed int) {
	touch := !final
	m := *e.exporters.Load()
	var (
		last netip.Addr
		st   *exporterState
		snap *snapshot
		now  int64
	)
	first := true
	for i := range recs {
		r := &recs[i]
		if first || r.ExporterAddress != last {
			first, last = false, r.ExporterAddress
			st = m[last]
			snap = nil
			if st != nil {
				snap = st.snap.Load()
				if touch {
					if now == 0 {
						now = time.Now().Unix()
					}
					if now-st.lastSeen.Load() > 10 {
						st.lastSeen.Store(now)
					}
				}
			}
		}
		if snap == nil || !fill(r, snap, final) {
			missed++
		} else {
			hits++
		}
	}
	return hits, missed
}

// fill sets the fields of r that are still empty. When partial is false it
// changes r only if every interface of r is known (so that a record is never
// filled half from an old snapshot and half from a newer one); it reports
// whether every interface of r was known.
func fill(r *flow.Record, s *snapshot, partial bool) bool {
	var in, out *iface
	ok := true
	if r.InIfIndex != 0 {
		if in = s.lookup(r.InIfIndex); in == nil {
			ok = false
		}
	}
	if r.OutIfIndex != 0 {
		if out = s.lookup(r.OutIfIndex); out == nil {
			ok = false
		}
	}
	if !ok && !partial {
		return false
	}
	if r.ExporterName == "" {
		r.ExporterName = s.SysName
	}
	if in != nil {
		if r.InIfName == "" {
			r.InIfName = in.Name
		}
		if r.InIfDescription == "" {
			r.InIfDescription = in.Description
		}
		if r.InIfSpeed == 0 {
			r.InIfSpeed = in.Speed
		}
	}
	if out != nil {
		if r.OutIfName == "" {
			r.OutIfName = out.Name
		}
		if r.OutIfDescription == "" {
			r.OutIfDescription = out.Description
		}
		if r.OutIfSpeed == 0 {
			r.OutIfSpeed = out.Speed
		}
	}
	return ok
}

// slowPath requests polls for the exporters with missing data, waits for
// those in flight at most e.wait, and enriches again.
func (e *Enricher) slowPath(ctx context.Context, recs []flow.Record) {
	m := *e.exporters.Load()
	var waits []chan struct{}
	seen := map[netip.Addr]bool{}
	for i := range recs {
		r := &recs[i]
		a := r.ExporterAddress
		if !a.IsValid() || seen[a] {
			continue
		}
		st := m[a]
		var snap *snapshot
		if st != nil {
			snap = st.snap.Load()
		}
		if snap != nil && (r.InIfIndex == 0 || snap.lookup(r.InIfIndex) != nil) &&
			(r.OutIfIndex == 0 || snap.lookup(r.OutIfIndex) != nil) {
			continue
		}
		seen[a] = true
		if st == nil {
			st = e.state(a)
		}
		if ch := e.requestPoll(st, snap != nil); ch != nil {
			waits = append(waits, ch)
		}
	}
	if len(waits) > 0 && e.wait > 0 {
		timer := time.NewTimer(e.wait)
		defer timer.Stop()
	wait:
		for _, ch := range waits {
			select {
			case <-ch:
			case <-timer.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
	}
	if _, missed := e.apply(recs, true); missed > 0 {
		e.m.unenriched.Add(float64(missed))
	}
}

// state returns the cache entry of exporter a, creating it.
func (e *Enricher) state(a netip.Addr) *exporterState {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.exporters.Load()
	if st, ok := old[a]; ok {
		return st
	}
	st := &exporterState{addr: a}
	st.lastSeen.Store(time.Now().Unix())
	next := make(map[netip.Addr]*exporterState, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[a] = st
	e.exporters.Store(&next)
	return st
}

// requestPoll queues a poll of st unless one is in flight (then it returns
// its channel), the agent failed within negative_ttl, or (for an unknown
// interface of a known exporter) the last poll is more recent than
// negative_ttl. It returns the channel closed when the poll ends, or nil.
func (e *Enricher) requestPoll(st *exporterState, known bool) chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.inflight != nil {
		return st.inflight
	}
	now := time.Now()
	if !st.failedAt.IsZero() && now.Sub(st.failedAt) < e.negTTL {
		return nil
	}
	if known && now.Sub(st.lastAttempt) < e.negTTL {
		return nil
	}
	ch := make(chan struct{})
	select {
	case e.queue <- st:
		st.inflight = ch
		st.lastAttempt = now
		return ch
	default:
		return nil // queue full: a later batch asks again
	}
}

// Start loads the state file and starts the pollers and the refresher.
func (e *Enricher) Start(ctx context.Context) error {
	e.loadState()
	ctx, e.cancel = context.WithCancel(context.Background())
	for i := 0; i < e.workers; i++ {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.pollLoop(ctx)
		}()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.maintain(ctx)
	}()
	return nil
}

// Stop stops the background goroutines and writes the state file.
func (e *Enricher) Stop(ctx context.Context) error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.saveState()
}

func (e *Enricher) pollLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case st := <-e.queue:
			e.pollOne(ctx, st)
		}
	}
}

func (e *Enricher) target(a netip.Addr) (pollTarget, bool) {
	a = a.Unmap()
	cred, ok := e.creds.lookup(a)
	if !ok {
		return pollTarget{}, false
	}
	agent, ok := e.agents[a]
	if !ok {
		agent = netip.AddrPortFrom(a, e.port)
	}
	return pollTarget{exporter: a, agent: agent, cred: cred, timeout: e.timeout, retries: e.retries, maxRep: e.maxRep}, true
}

func (e *Enricher) pollOne(ctx context.Context, st *exporterState) {
	t, ok := e.target(st.addr)
	var (
		snap *snapshot
		err  error
	)
	start := time.Now()
	if !ok {
		err = errors.New("no credentials match this exporter")
	} else {
		e.m.polls.Inc()
		snap, err = poll(ctx, t)
	}
	// Count and log before waking the batches waiting for this poll.
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		e.m.pollErrors.Inc()
		e.log.Warn("snmp poll failed", "exporter", st.addr, "agent", t.agent, "error", err)
	default:
		e.log.Debug("snmp poll", "exporter", st.addr, "agent", t.agent, "sys_name", snap.SysName,
			"interfaces", snap.count, "duration", time.Since(start))
	}
	st.mu.Lock()
	if err != nil {
		st.failedAt = time.Now()
	} else {
		st.failedAt = time.Time{}
		st.snap.Store(snap)
		e.dirty.Store(true)
	}
	if st.inflight != nil {
		close(st.inflight)
		st.inflight = nil
	}
	st.mu.Unlock()
}

// maintain refreshes known exporters, forgets those not seen for cache_ttl,
// and writes the state file when the cache changed.
func (e *Enricher) maintain(ctx context.Context) {
	tick := min(max(e.refresh/10, time.Second), time.Minute)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.sweep(time.Now())
		if e.dirty.Load() {
			if err := e.saveState(); err != nil {
				e.log.Warn("snmp state file", "error", err)
			}
		}
	}
}

func (e *Enricher) sweep(now time.Time) {
	m := *e.exporters.Load()
	var stale []netip.Addr
	for a, st := range m {
		if now.Unix()-st.lastSeen.Load() > int64(e.cacheTTL/time.Second) {
			stale = append(stale, a)
			continue
		}
		if s := st.snap.Load(); s == nil || now.Sub(s.Polled) >= e.refresh {
			e.requestRefresh(st, now)
		}
	}
	if len(stale) > 0 {
		e.mu.Lock()
		old := *e.exporters.Load()
		next := make(map[netip.Addr]*exporterState, len(old))
		for k, v := range old {
			next[k] = v
		}
		for _, a := range stale {
			delete(next, a)
		}
		e.exporters.Store(&next)
		e.mu.Unlock()
		e.dirty.Store(true)
	}
}

func (e *Enricher) requestRefresh(st *exporterState, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.inflight != nil || (!st.failedAt.IsZero() && now.Sub(st.failedAt) < e.negTTL) {
		return
	}
	select {
	case e.queue <- st:
		st.inflight = make(chan struct{})
		st.lastAttempt = now
	default:
	}
}

func (e *Enricher) loadState() {
	if e.statePath == "" {
		return
	}
	sf, err := readState(e.statePath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			e.log.Warn("snmp state file ignored", "error", err)
		}
		return
	}
	now := time.Now()
	for _, x := range sf.Exporters {
		if !x.Address.IsValid() || now.Sub(x.Polled) > e.cacheTTL {
			continue
		}
		st := e.state(x.Address)
		if st.snap.Load() == nil {
			st.snap.Store(snapshotFromState(x))
		}
	}
}

func (e *Enricher) saveState() error {
	if e.statePath == "" {
		return nil
	}
	e.dirty.Store(false)
	sf := &stateFile{Version: 1, Exporters: []stateExporter{}}
	for a, st := range *e.exporters.Load() {
		s := st.snap.Load()
		if s == nil {
			continue
		}
		sf.Exporters = append(sf.Exporters, stateExporter{Address: a, Polled: s.Polled, SysName: s.SysName, Interfaces: s.interfaces()})
	}
	if err := writeState(e.statePath, sf); err != nil {
		e.dirty.Store(true)
		return err
	}
	return nil
}
