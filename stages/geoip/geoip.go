// Package geoip provides the `enricher "geoip"` stage: it fills the AS number
// and country of the source and destination addresses of each flow from
// MaxMind DB files (MaxMind GeoLite2/GeoIP2, DB-IP and IPinfo layouts), and
// reloads a database when its file changes, without dropping flows.
package geoip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/iptable"
)

// AS sources.
const (
	SourceFlow                    = "flow"
	SourceGeoIP                   = "geoip"
	SourceFlowElseGeoIP           = "flow-else-geoip"
	SourceFlowElseGeoIPIgnorePriv = "flow-else-geoip-ignore-private"
	// With routing: the origin AS of the route the `routing` enricher
	// (enricher "bmp") holds for the address.
	SourceRoutingElseGeoIP         = "routing-else-geoip"
	SourceFlowElseRoutingElseGeoIP = "flow-else-routing-else-geoip"
)

// Routing gives the origin AS of the route for an address, as the router
// that exported a flow sees it: enricher "bmp" implements it. The routes
// are read under one read lock per batch.
type Routing interface {
	// RLockRoutes takes the read lock on the routes; RUnlockRoutes
	// releases it.
	RLockRoutes()
	RUnlockRoutes()
	// RouterOf returns the router whose routes a flow from exporter
	// takes. Caller holds the read lock.
	RouterOf(exporter netip.Addr) uint32
	// RouteOriginAS returns the origin AS of the route for addr, as
	// router (from RouterOf) sees it. Caller holds the read lock.
	RouteOriginAS(router uint32, addr netip.Addr) (uint32, bool)
}

// Spec is the spec of `enricher "geoip"`.
var Spec = &dsl.Spec{
	Description: "Fills SrcAS/DstAS and SrcCountry/DstCountry from MaxMind DB files (GeoLite2/GeoIP2, DB-IP or IPinfo " +
		"layouts). A database is reloaded when its file changes; a failed reload keeps the last good database.",
	Attrs: []dsl.Attr{
		{Name: "asn_database", Type: dsl.TypeString,
			Description: "Path of an ASN database (autonomous_system_number, or IPinfo's asn)."},
		{Name: "country_database", Type: dsl.TypeString,
			Description: "Path of a country or city database (country.iso_code, or country_code)."},
		{Name: "asn_source", Type: dsl.TypeString, Default: SourceFlowElseGeoIP,
			OneOf: []string{SourceFlow, SourceGeoIP, SourceFlowElseGeoIP, SourceFlowElseGeoIPIgnorePriv,
				SourceRoutingElseGeoIP, SourceFlowElseRoutingElseGeoIP},
			Description: "Where SrcAS/DstAS come from: the flow, GeoIP, the flow unless it is 0, or the flow unless it is 0 or a private AS number; " +
				"with routing, the origin AS of the route that the routing enricher holds comes before GeoIP."},
		{Name: "routing", Type: dsl.TypeRef,
			Description: "The enricher holding routes (enricher.bmp.NAME) that asn_source's routing step asks."},
		{Name: "reload_interval", Type: dsl.TypeDuration, Default: 5 * time.Second,
			Description: "How often the database files are checked for changes (0 disables reloading)."},
	},
}

func init() {
	engine.RegisterEnricher("geoip", Spec, New)
}

// record is what the enricher needs from one database record.
type record struct {
	asn     uint32
	country string
}

// database is one loaded file: an immutable reader and the decoded records,
// keyed by their offset in the data section (decoded once, at load).
type database struct {
	path     string
	info     os.FileInfo
	metadata maxminddb.Metadata
	table    *iptable.Table[record]
	records  []record // the distinct records, in database order
}

// lookup returns the record of a, or false when the database has none.
func (d *database) lookup(a netip.Addr) (record, bool) {
	return d.table.Lookup(a)
}

// load reads and checks a database file. Every data record is decoded now,
// so that lookups do not allocate.
func load(path string) (*database, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open geoip database: %w", err)
	}
	// Read the file instead of mapping it: a file rewritten in place must
	// not pull pages from under the running reader.
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("open geoip database: %w", err)
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("open geoip database %s: %w", path, err)
	}
	d := &database{path: path, info: info, metadata: r.Metadata}
	intern := map[string]string{}
	byOffset := map[uintptr]int32{}
	var tb iptable.Builder[record]
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("read geoip database %s: %w", path, err)
		}
		off := res.Offset()
		idx, ok := byOffset[off]
		if !ok {
			rec, err := decodeRecord(res)
			if err != nil {
				return nil, fmt.Errorf("read geoip database %s: %w", path, err)
			}
			if s, ok := intern[rec.country]; ok {
				rec.country = s
			} else {
				intern[rec.country] = rec.country
			}
			idx = int32(len(d.records))
			d.records = append(d.records, rec)
			byOffset[off] = idx
		}
		p := res.Prefix()
		tb.Add(p, d.records[idx])
		if a := p.Addr(); a.Is6() && p.Bits() <= 96 && p.Contains(netip.IPv6Unspecified()) {
			// A network above the IPv4 subtree (::/96) covers every IPv4
			// address.
			tb.Add(netip.PrefixFrom(netip.IPv4Unspecified(), 0), d.records[idx])
		}
	}
	if len(d.records) == 0 {
		return nil, fmt.Errorf("geoip database %s holds no network", path)
	}
	d.table = tb.Build()
	return d, nil
}

// decodeRecord reads the AS number and country of any supported layout:
// MaxMind and DB-IP (autonomous_system_number, country.iso_code,
// registered_country.iso_code) and IPinfo (asn "AS15169", country_code).
func decodeRecord(res maxminddb.Result) (record, error) {
	// Decode only the paths used: city databases carry large records.
	path := func(p ...any) any {
		var v any
		if err := res.DecodePath(&v, p...); err != nil {
			return nil // absent, or another layout (IPinfo's country is a string)
		}
		return v
	}
	var rec record
	rec.asn = asnOf(path("autonomous_system_number"))
	if rec.asn == 0 {
		rec.asn = asnOf(path("asn"))
	}
	for _, p := range [][]any{{"country", "iso_code"}, {"registered_country", "iso_code"}, {"country_code"}} {
		if s, ok := path(p...).(string); ok && s != "" {
			rec.country = strings.ToUpper(s)
			break
		}
	}
	return rec, res.Err()
}

func asnOf(v any) uint32 {
	switch v := v.(type) {
	case uint64:
		return uint32(v)
	case string:
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(v), "AS"), 10, 32)
		if err == nil {
			return uint32(n)
		}
	}
	return 0
}

// privateAS reports AS numbers that say nothing about the network: 0,
// private (RFC 6996) and reserved ones.
func privateAS(as uint32) bool {
	return as == 0 || (as >= 64512 && as <= 65534) || (as >= 4200000000 && as <= 4294967294) || as == 23456 || as == 65535 || as == 4294967295
}

// state is the pair of databases in use, swapped atomically on reload.
type state struct {
	asn, country *database
}

// Enricher is the `enricher "geoip"` stage.
type Enricher struct {
	asnPath, countryPath string
	source               string
	interval             time.Duration
	logger               *slog.Logger

	state atomic.Pointer[state]

	reloads *prometheus.CounterVec
	misses  *prometheus.CounterVec
	missASN prometheus.Counter
	missCC  prometheus.Counter

	routing        Routing
	resolveRouting func() (Routing, error) // at Start: the stage may be built after this one

	mu   sync.Mutex // serializes reloads
	stop chan struct{}
	wg   sync.WaitGroup
}

var (
	_ engine.Processor = (*Enricher)(nil)
	_ engine.Starter   = (*Enricher)(nil)
)

// New builds the enricher. It does not open the databases: Start does.
func New(cfg *dsl.Config, env engine.Env) (*Enricher, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	e := &Enricher{
		asnPath: cfg.String("asn_database"), countryPath: cfg.String("country_database"),
		source: cfg.String("asn_source"), interval: cfg.Duration("reload_interval"), logger: env.Logger,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_geoip_reloads_total",
			Help: "Database reloads, by database and result (ok or error: the last good database is kept)."}, []string{"database", "result"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_geoip_lookup_misses_total",
			Help: "Flow addresses a database has no data for (or that could not be enriched: no database loaded)."}, []string{"database"}),
	}
	if e.source == "" {
		e.source = SourceFlowElseGeoIP
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	e.reloads = engine.Register(env.Metrics, e.reloads)
	e.misses = engine.Register(env.Metrics, e.misses)
	e.missASN, e.missCC = e.misses.WithLabelValues("asn"), e.misses.WithLabelValues("country")
	usesRouting := e.source == SourceRoutingElseGeoIP || e.source == SourceFlowElseRoutingElseGeoIP
	if expr := cfg.Expr("routing"); expr != nil && env.Stages != nil {
		id, impl, d := env.Stages(expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			check := func(impl any) (Routing, error) {
				r, ok := impl.(Routing)
				if !ok {
					return nil, fmt.Errorf("%s holds no routes: routing names an enricher \"bmp\"", id)
				}
				return r, nil
			}
			if impl != nil {
				if _, err := check(impl); err != nil {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Not a routing enricher",
						Detail: err.Error() + ".", Subject: cfg.Range("routing")})
				}
			}
			e.resolveRouting = func() (Routing, error) {
				_, impl, d := env.Stages(expr)
				if d.HasErrors() {
					return nil, d
				}
				return check(impl)
			}
		}
		if !usesRouting {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Routing unused",
				Detail: fmt.Sprintf("asn_source = %q does not ask the routing enricher; use %q or %q.", e.source,
					SourceFlowElseRoutingElseGeoIP, SourceRoutingElseGeoIP), Subject: cfg.Range("routing")})
		}
	} else if usesRouting && cfg.Expr("routing") == nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No routing enricher",
			Detail: fmt.Sprintf("asn_source = %q needs routing = enricher.bmp.NAME.", e.source), Subject: cfg.Range("asn_source")})
	}
	if e.asnPath == "" && e.countryPath == "" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No GeoIP database",
			Detail: "Set asn_database, country_database, or both.", Subject: cfg.DefRange.Ptr()})
	}
	if e.asnPath == "" && cfg.IsSet("asn_source") && e.source != SourceFlow {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "asn_source without asn_database",
			Detail: "Without asn_database, AS numbers always come from the flow.", Subject: cfg.Range("asn_source")})
	}
	if e.asnPath != "" && e.source == SourceFlow {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "ASN database unused",
			Detail: `With asn_source = "flow", asn_database is not read.`, Subject: cfg.Range("asn_database")})
		e.asnPath = ""
	}
	return e, diags
}

// Start loads the databases (an error names the file) and starts watching them.
func (e *Enricher) Start(context.Context) error {
	if e.resolveRouting != nil && e.routing == nil {
		r, err := e.resolveRouting()
		if err != nil {
			return fmt.Errorf("geoip routing: %w", err)
		}
		e.routing = r
	}
	st := &state{}
	var errs []error
	loaded := map[string]*database{}
	for _, p := range []struct {
		path string
		dst  **database
	}{{e.asnPath, &st.asn}, {e.countryPath, &st.country}} {
		if p.path == "" {
			continue
		}
		if d, ok := loaded[p.path]; ok {
			*p.dst = d
			continue
		}
		d, err := load(p.path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		loaded[p.path] = d
		*p.dst = d
		e.logger.Info("geoip database loaded", "path", p.path, "type", d.metadata.DatabaseType, "records", len(d.records))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.state.Store(st)
	if e.interval > 0 {
		e.stop = make(chan struct{})
		e.wg.Add(1)
		go e.watch()
	}
	return nil
}

// Stop ends the watcher.
func (e *Enricher) Stop(context.Context) error {
	if e.stop != nil {
		close(e.stop)
		e.wg.Wait()
		e.stop = nil
	}
	return nil
}

func (e *Enricher) watch() {
	defer e.wg.Done()
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.Reload()
		}
	}
}

// Reload checks the database files once, loads those that changed, and swaps
// them in. A file that fails to load is logged and counted; the last good
// database stays in use. It returns whether anything was swapped.
func (e *Enricher) Reload() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.state.Load()
	if old == nil {
		return false
	}
	next := *old
	changed := false
	loaded := map[string]*database{}
	for _, p := range []struct {
		name string
		dst  **database
	}{{"asn", &next.asn}, {"country", &next.country}} {
		cur := *p.dst
		if cur == nil {
			continue
		}
		if d, ok := loaded[cur.path]; ok {
			*p.dst = d
			continue
		}
		info, err := os.Stat(cur.path)
		if err != nil {
			if cur.info == nil {
				continue // already reported
			}
			e.reloads.WithLabelValues(p.name, "error").Inc()
			e.logger.Error("geoip database unreadable, keeping the loaded one", "path", cur.path, "error", err)
			// Remember the absence, to report it once.
			cp := *cur
			cp.info = nil
			*p.dst = &cp
			changed = true
			continue
		}
		if cur.info != nil && os.SameFile(cur.info, info) && cur.info.ModTime().Equal(info.ModTime()) && cur.info.Size() == info.Size() {
			continue
		}
		d, err := load(cur.path)
		if err != nil {
			e.reloads.WithLabelValues(p.name, "error").Inc()
			e.logger.Error("geoip database reload failed, keeping the loaded one", "path", cur.path, "error", err)
			cp := *cur
			cp.info = info // do not retry until the file changes again
			*p.dst = &cp
			changed = true
			continue
		}
		e.reloads.WithLabelValues(p.name, "ok").Inc()
		e.logger.Info("geoip database reloaded", "path", cur.path, "records", len(d.records))
		loaded[cur.path] = d
		*p.dst = d
		changed = true
	}
	if changed {
		e.state.Store(&next)
	}
	return changed
}

// Process fills the AS numbers and countries of every flow of b.
func (e *Enricher) Process(_ context.Context, b *flow.Batch) error {
	st := e.state.Load()
	if st == nil {
		// Not started: nothing to enrich with.
		n := float64(2 * len(b.Records))
		if e.asnPath != "" {
			e.missASN.Add(n)
		}
		if e.countryPath != "" {
			e.missCC.Add(n)
		}
		return nil
	}
	var missASN, missCC int
	asnDB, ccDB := st.asn, st.country
	var (
		lastExporter netip.Addr
		router       uint32
	)
	if e.routing != nil {
		e.routing.RLockRoutes()
		defer e.routing.RUnlockRoutes()
	}
	for i := range b.Records {
		r := &b.Records[i]
		if ccDB != nil {
			if rec, ok := ccDB.lookup(r.SrcAddr); ok && rec.country != "" {
				r.SrcCountry = rec.country
			} else {
				missCC++
			}
			if rec, ok := ccDB.lookup(r.DstAddr); ok && rec.country != "" {
				r.DstCountry = rec.country
			} else {
				missCC++
			}
		}
		srcRouted, dstRouted := false, false
		if e.routing != nil {
			if i == 0 || r.ExporterAddress != lastExporter {
				lastExporter, router = r.ExporterAddress, e.routing.RouterOf(r.ExporterAddress)
			}
			if e.wantRouting(r.SrcAS) {
				if as, ok := e.routing.RouteOriginAS(router, r.SrcAddr); ok && as != 0 {
					r.SrcAS, srcRouted = as, true
				}
			}
			if e.wantRouting(r.DstAS) {
				if as, ok := e.routing.RouteOriginAS(router, r.DstAddr); ok && as != 0 {
					r.DstAS, dstRouted = as, true
				}
			}
		}
		if asnDB != nil {
			if !srcRouted && e.wantGeoIP(r.SrcAS) {
				if rec, ok := asnDB.lookup(r.SrcAddr); ok && rec.asn != 0 {
					r.SrcAS = rec.asn
				} else {
					missASN++
					if e.source == SourceGeoIP || e.source == SourceRoutingElseGeoIP {
						r.SrcAS = 0
					}
				}
			}
			if !dstRouted && e.wantGeoIP(r.DstAS) {
				if rec, ok := asnDB.lookup(r.DstAddr); ok && rec.asn != 0 {
					r.DstAS = rec.asn
				} else {
					missASN++
					if e.source == SourceGeoIP || e.source == SourceRoutingElseGeoIP {
						r.DstAS = 0
					}
				}
			}
		}
	}
	if missCC > 0 {
		e.missCC.Add(float64(missCC))
	}
	if missASN > 0 {
		e.missASN.Add(float64(missASN))
	}
	return nil
}

// wantGeoIP says whether the AS number from the flow is to be replaced.
func (e *Enricher) wantGeoIP(flowAS uint32) bool {
	switch e.source {
	case SourceGeoIP, SourceRoutingElseGeoIP:
		return true
	case SourceFlowElseGeoIP, SourceFlowElseRoutingElseGeoIP:
		return flowAS == 0
	case SourceFlowElseGeoIPIgnorePriv:
		return privateAS(flowAS)
	}
	return false
}

// wantRouting says whether the routing enricher is asked for an AS number.
func (e *Enricher) wantRouting(flowAS uint32) bool {
	switch e.source {
	case SourceRoutingElseGeoIP:
		return true
	case SourceFlowElseRoutingElseGeoIP:
		return flowAS == 0
	}
	return false
}
