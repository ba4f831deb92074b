// Package bmp provides the `enricher "bmp"` stage: a BMP station (RFC 7854,
// with RFC 9069's Loc-RIB) that keeps the routes routers send over BMP, and
// enriches each flow with the route of its addresses: prefix lengths, next
// hop and origin AS, taken from the router that exported the flow when it
// speaks BMP, and the destination's AS path and communities.
//
// DstASPath holds the AS_SEQUENCE segments of the route's AS_PATH, in
// order (neighbour first): AS_SET segments (left by aggregation, with no
// order to show) and confederation segments (member ASes inside one AS)
// are left out, and the origin AS is the last AS so kept, so that
// DstLastAS and DstAS agree. Each interned attribute set holds its lists
// ready (flow.Uint32s, flow.LargeCommunities), so that filling a flow
// copies string headers and allocates nothing.
//
// The routes live in one compact RIB: a multibit trie per address family
// (8-bit strides stored sparsely, so memory follows the prefixes held)
// mapping each prefix to the paths of every router and peer, each path
// pointing to an interned attribute set (next hop, AS path, communities),
// themselves interned sequences. A lookup walks the trie once, without
// allocation, under a read lock taken once per batch of flows.
//
// Messages are decoded with GoBGP's packet libraries (bgp and bmp). A
// peer whose peer up shows ADD-PATH (RFC 7911) negotiated (its OPEN can
// send several paths, the router's can receive them) has its updates
// decoded with path identifiers in those families: its paths for one
// prefix are kept side by side, and a lookup picks among them by next hop
// as among peers. A
// malformed message closes its session (logged and counted); the routes of
// a router whose session ends, or of a peer that goes down, stay for `keep`
// and are then removed.
package bmp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// AS sources.
const (
	SourceFlow            = "flow"
	SourceRouting         = "routing"
	SourceFlowElseRouting = "flow-else-routing"
)

// The AS sources, as numbers.
const (
	asFlow = iota
	asRouting
	asFlowElseRouting
)

// Spec is the spec of `enricher "bmp"`.
var Spec = &dsl.Spec{
	Description: "A BMP station (RFC 7854, Loc-RIB per RFC 9069): routers send their BGP routes over BMP, and each flow " +
		"gets the route of its addresses (DstNetMask, SrcNetMask, NextHop, origin AS in SrcAS/DstAS, and the destination's " +
		"DstASPath, DstCommunities and DstLargeCommunities) from the router that exported it, or from any router when " +
		"that one does not speak BMP. The AS path keeps the AS_SEQUENCE segments: AS_SET and confederation segments are left out.",
	Attrs: []dsl.Attr{
		{Name: "listen", Type: dsl.TypeString, Default: ":10179", Listen: "tcp",
			Description: "TCP address the station listens on for BMP sessions."},
		{Name: "allow", Type: dsl.TypeStringList,
			Description: "CIDRs routers may connect from (default: any); other connections are refused and counted."},
		{Name: "rds", Type: dsl.TypeStringList,
			Description: `Route distinguishers to keep ("65000:100", "192.0.2.1:10", or a number; "0" for routes without one). Default: all.`},
		{Name: "collect_as_paths", Type: dsl.TypeBool, Default: true,
			Description: "Keep AS paths (the origin AS is kept either way)."},
		{Name: "collect_communities", Type: dsl.TypeBool, Default: true,
			Description: "Keep standard and large communities."},
		{Name: "keep", Type: dsl.TypeDuration, Default: 5 * time.Minute,
			Description: "How long the routes of a peer stay after it goes down or its router's session ends."},
		{Name: "max_routes", Type: dsl.TypeInt, Default: int64(10_000_000),
			Description: "Routes one router may hold over all its peers; a router sending more is disconnected (0: no limit)."},
		{Name: "exporters", Type: dsl.TypeStringMap,
			Description: "Flow exporter address to BMP router address, for routers whose flows and BMP sessions come from different addresses."},
		{Name: "asn_source", Type: dsl.TypeString, Default: SourceFlowElseRouting,
			OneOf:       []string{SourceFlow, SourceRouting, SourceFlowElseRouting},
			Description: "Where SrcAS/DstAS come from: the flow, the route's origin AS, or the flow unless it is 0."},
		{Name: "overwrite", Type: dsl.TypeBool, Default: false,
			Description: "Replace the flow's own prefix lengths, next hop, AS path and communities by the route's; otherwise only fill them when the flow has none."},
	},
}

func init() {
	engine.RegisterEnricher("bmp", Spec, New)
}

// Enricher is the `enricher "bmp"` stage.
type Enricher struct {
	listen      string
	listenRange hcl.Range
	exporters   map[netip.Addr]netip.Addr
	source      string
	asSource    int // source, as a number for the flow path
	overwrite   bool
	logger      *slog.Logger

	rib     *RIB
	station *station

	ln     net.Listener
	cancel context.CancelFunc

	missed prometheus.Counter
}

var (
	_ engine.Processor = (*Enricher)(nil)
	_ engine.Starter   = (*Enricher)(nil)
	_ engine.Listener  = (*Enricher)(nil)
	_ engine.Detailer  = (*Enricher)(nil)
)

// New builds the enricher. It does not listen: Start does.
func New(cfg *dsl.Config, env engine.Env) (*Enricher, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Enricher{
		listen: cfg.String("listen"), source: cfg.String("asn_source"), overwrite: cfg.Bool("overwrite"),
		exporters: map[netip.Addr]netip.Addr{}, logger: logger, rib: NewRIB(),
	}
	if r := cfg.Range("listen"); r != nil {
		e.listenRange = *r
	}
	if e.listen == "" {
		e.listen = ":10179"
	}
	if e.source == "" {
		e.source = SourceFlowElseRouting
	}
	switch e.source {
	case SourceFlow:
		e.asSource = asFlow
	case SourceRouting:
		e.asSource = asRouting
	default:
		e.asSource = asFlowElseRouting
	}
	opts := options{
		collectASPaths: cfg.Bool("collect_as_paths"), collectComms: cfg.Bool("collect_communities"),
		keep: cfg.Duration("keep"), maxRoutes: int(cfg.Int("max_routes")),
	}
	if !cfg.IsSet("collect_as_paths") {
		opts.collectASPaths = true
	}
	if !cfg.IsSet("collect_communities") {
		opts.collectComms = true
	}
	if !cfg.IsSet("keep") {
		opts.keep = 5 * time.Minute
	}
	if !cfg.IsSet("max_routes") {
		opts.maxRoutes = 10_000_000
	}
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: cfg.Range(attr)})
	}
	if _, _, err := net.SplitHostPort(e.listen); err != nil {
		bad("listen", "Invalid listen address", fmt.Sprintf("%q is not host:port: %v.", e.listen, err))
	}
	for _, s := range cfg.Strings("allow") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, err2 := netip.ParseAddr(s); err2 == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				bad("allow", "Invalid CIDR", fmt.Sprintf("%q is not a CIDR: %v.", s, err))
				continue
			}
		}
		opts.allow = append(opts.allow, p.Masked())
	}
	if rds := cfg.Strings("rds"); len(rds) > 0 {
		opts.rds = map[uint64]bool{}
		for _, s := range rds {
			rd, err := ParseRD(s)
			if err != nil {
				bad("rds", "Invalid route distinguisher", err.Error())
				continue
			}
			opts.rds[rd] = true
		}
	}
	for k, v := range cfg.StringMap("exporters") {
		ka, err1 := netip.ParseAddr(k)
		va, err2 := netip.ParseAddr(v)
		if err := errors.Join(err1, err2); err != nil {
			bad("exporters", "Invalid exporter map", fmt.Sprintf("%q = %q: both must be IP addresses: %v.", k, v, err))
			continue
		}
		e.exporters[ka.Unmap()] = va.Unmap()
	}
	if opts.keep < 0 {
		bad("keep", "Invalid keep", "keep must not be negative.")
	}
	if opts.maxRoutes < 0 {
		bad("max_routes", "Invalid max_routes", "max_routes must not be negative.")
	}

	m := engine.NewMetrics(env.Metrics)
	e.station = &station{
		rib: e.rib, opts: opts, logger: logger, now: time.Now, sessions: map[*session]struct{}{},
		m: &stationMetrics{
			messages: m.CounterVec(prometheus.CounterOpts{Name: "flowengine_bmp_messages_total",
				Help: "BMP messages received, by router and type (end-of-rib counts the route monitoring messages that mark one)."}, []string{"router", "type"}),
			errors: m.CounterVec(prometheus.CounterOpts{Name: "flowengine_bmp_errors_total",
				Help: "BMP sessions closed on a malformed message, by router and reason."}, []string{"router", "reason"}),
			refused: m.Counter(prometheus.CounterOpts{Name: "flowengine_bmp_refused_total",
				Help: "BMP connections refused: address not in allow, or too many sessions open."}),
			sessions: m.CounterVec(prometheus.CounterOpts{Name: "flowengine_bmp_sessions_total",
				Help: "BMP sessions opened, by router."}, []string{"router"}),
			cutoff: m.CounterVec(prometheus.CounterOpts{Name: "flowengine_bmp_max_routes_exceeded_total",
				Help: "BMP sessions closed because the router sent more than max_routes routes."}, []string{"router"}),
			swept: m.Counter(prometheus.CounterOpts{Name: "flowengine_bmp_routes_expired_total",
				Help: "Routes removed once their peer had been down for keep."}),
		},
	}
	e.missed = m.Counter(prometheus.CounterOpts{Name: "flowengine_bmp_lookup_misses_total",
		Help: "Flow addresses no route covers."})
	m.Collector(&ribCollector{e: e})
	return e, diags
}

// ParseRD parses a route distinguisher: "ASN:n" (type 0 for a 2-byte ASN,
// type 2 for a 4-byte one), "IPv4:n" (type 1), or its 64-bit value.
func ParseRD(s string) (uint64, error) {
	bad := func() (uint64, error) {
		return 0, fmt.Errorf("%q is not a route distinguisher (65000:100, 192.0.2.1:10 or a number)", s)
	}
	left, right, ok := strings.Cut(s, ":")
	if !ok {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return bad()
		}
		return v, nil
	}
	if a, err := netip.ParseAddr(left); err == nil && a.Is4() {
		n, err := strconv.ParseUint(right, 10, 16)
		if err != nil {
			return bad()
		}
		b := a.As4()
		return 1<<48 | uint64(binary.BigEndian.Uint32(b[:]))<<16 | n, nil
	}
	asn, err := strconv.ParseUint(left, 10, 32)
	if err != nil {
		return bad()
	}
	if asn <= 0xffff {
		n, err := strconv.ParseUint(right, 10, 32)
		if err != nil {
			return bad()
		}
		return asn<<32 | n, nil
	}
	n, err := strconv.ParseUint(right, 10, 16)
	if err != nil {
		return bad()
	}
	return 2<<48 | asn<<16 | n, nil
}

// Listens returns the TCP address the station binds.
func (e *Enricher) Listens() []engine.Listen {
	return []engine.Listen{{Network: "tcp", Address: e.listen, Range: e.listenRange}}
}

// RIB returns the routes the station holds.
func (e *Enricher) RIB() *RIB { return e.rib }

// Addr returns the address the station listens on, once started.
func (e *Enricher) Addr() net.Addr {
	if e.ln == nil {
		return nil
	}
	return e.ln.Addr()
}

// Start listens for BMP sessions.
func (e *Enricher) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", e.listen)
	if err != nil {
		return fmt.Errorf("bmp listen: %w", err)
	}
	e.ln = ln
	ctx, e.cancel = context.WithCancel(context.Background())
	e.station.wg.Add(2)
	go e.station.serve(ln)
	every := min(max(e.station.opts.keep/4, 100*time.Millisecond), 10*time.Second)
	go e.station.sweeper(ctx, every)
	e.logger.Info("bmp station listening", "address", ln.Addr().String())
	return nil
}

// Stop closes the listener and every session.
func (e *Enricher) Stop(context.Context) error {
	if e.ln == nil {
		return nil
	}
	_ = e.ln.Close()
	e.cancel()
	e.station.closeAll()
	e.station.wg.Wait()
	e.ln = nil
	return nil
}

// routerOf returns the RIB index of the router whose routes a flow from
// exporter uses. Caller holds the read lock.
func (e *Enricher) routerOf(exporter netip.Addr) uint32 {
	exporter = exporter.Unmap()
	if a, ok := e.exporters[exporter]; ok {
		exporter = a
	}
	if id, ok := e.rib.routerIDs[exporter]; ok {
		return id
	}
	return noRouter
}

// lookupGroup is how many flows a batch lookup takes at once: enough for
// their memory accesses to overlap, few enough for the queries to stay in
// the L1 cache (measured with a full table: 8 to 16 flows do best, 32 are
// 10% slower).
const lookupGroup = 16

// Process fills the routing columns of every flow of b.
func (e *Enricher) Process(_ context.Context, b *flow.Batch) error {
	rib := e.rib
	rib.mu.RLock()
	defer rib.mu.RUnlock()
	var (
		lastExporter netip.Addr
		router       = noRouter
		missed       int
		qs           [2 * lookupGroup]query // destination and source of each flow
	)
	for start := 0; start < len(b.Records); start += lookupGroup {
		recs := b.Records[start:min(start+lookupGroup, len(b.Records))]
		for i := range recs {
			r := &recs[i]
			if (start == 0 && i == 0) || r.ExporterAddress != lastExporter {
				lastExporter, router = r.ExporterAddress, e.routerOf(r.ExporterAddress)
			}
			qs[2*i].addr, qs[2*i].nextHop, qs[2*i].router = r.DstAddr, r.NextHop, router
			qs[2*i+1].addr, qs[2*i+1].nextHop, qs[2*i+1].router = r.SrcAddr, netip.Addr{}, router
		}
		rib.lookupBatch(qs[:2*len(recs)])
		for i := range recs {
			r := &recs[i]
			if q := &qs[2*i]; q.ok {
				s := &rib.attrs[q.path.attrs]
				if e.overwrite || r.DstNetMask == 0 {
					r.DstNetMask = uint8(q.bits)
				}
				if e.overwrite || !r.NextHop.IsValid() || r.NextHop.IsUnspecified() {
					if s.nh4 {
						r.NextHop = netip.AddrFrom4([4]byte(s.nextHop[:4]))
					} else if s.nextHop != ([16]byte{}) {
						r.NextHop = netip.AddrFrom16(s.nextHop)
					}
				}
				r.DstAS = e.as(r.DstAS, q.path.origin)
				if e.overwrite || r.DstASPath.Len() == 0 && r.DstCommunities.Len() == 0 && r.DstLargeCommunities.Len() == 0 {
					r.DstASPath, r.DstCommunities, r.DstLargeCommunities = s.pathList, s.commList, s.lcommList
				}
			} else {
				missed++
			}
			if q := &qs[2*i+1]; q.ok {
				if e.overwrite || r.SrcNetMask == 0 {
					r.SrcNetMask = uint8(q.bits)
				}
				r.SrcAS = e.as(r.SrcAS, q.path.origin)
			} else {
				missed++
			}
		}
	}
	if missed > 0 {
		e.missed.Add(float64(missed))
	}
	return nil
}

func (e *Enricher) as(flowAS, routeAS uint32) uint32 {
	switch e.asSource {
	case asRouting:
		return routeAS
	case asFlowElseRouting:
		if flowAS == 0 {
			return routeAS
		}
	}
	return flowAS
}

// RLockRoutes takes the read lock on the routes, for the geoip enricher's
// routing step: one per batch of flows.
func (e *Enricher) RLockRoutes() { e.rib.mu.RLock() }

// RUnlockRoutes releases the read lock RLockRoutes took.
func (e *Enricher) RUnlockRoutes() { e.rib.mu.RUnlock() }

// RouterOf returns the router whose routes a flow from exporter takes (the
// exporter itself, through exporters, or every router). Caller holds the
// read lock.
func (e *Enricher) RouterOf(exporter netip.Addr) uint32 { return e.routerOf(exporter) }

// RouteOriginAS returns the origin AS of the route of addr, as router
// (from RouterOf) sees it: the routing step of the geoip enricher's
// asn_source. Caller holds the read lock.
func (e *Enricher) RouteOriginAS(router uint32, addr netip.Addr) (uint32, bool) {
	p, _, ok := e.rib.lookupFast(addr, router, netip.Addr{})
	if !ok {
		return 0, false
	}
	return p.origin, true
}

// ribCollector reports the RIB's routes per router and peer at scrape time.
type ribCollector struct{ e *Enricher }

var (
	descRoutes = prometheus.NewDesc("flowengine_bmp_routes", "Routes held, by router, peer and table (pre-policy, post-policy, loc-rib), and whether the peer is up.",
		[]string{"router", "peer", "table", "up"}, nil)
	descRouters = prometheus.NewDesc("flowengine_bmp_sessions", "BMP sessions open.", nil, nil)
	descRIB     = prometheus.NewDesc("flowengine_bmp_rib_entries", "Distinct items in the RIB, by kind (prefixes, attribute sets, AS paths, community sets, large community sets).",
		[]string{"kind"}, nil)
)

func (c *ribCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRoutes
	ch <- descRouters
	ch <- descRIB
}

func (c *ribCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.station
	st.mu.Lock()
	n := len(st.sessions)
	st.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descRouters, prometheus.GaugeValue, float64(n))
	r := c.e.rib
	type labels struct{ router, peer, table, up string }
	routes := map[labels]int{}
	r.mu.RLock()
	for i := range r.peers {
		p := &r.peers[i]
		if !p.gone {
			routes[labels{p.key.router.String(), p.key.addr.String(), tableNames[p.key.table], strconv.FormatBool(p.up)}] += p.routes
		}
	}
	kinds := []struct {
		k string
		n int
	}{{"prefixes", r.v4.count + r.v6.count}, {"attribute-sets", len(r.attrIDs)}, {"as-paths", r.asPaths.len()},
		{"community-sets", r.comms.len()}, {"large-community-sets", r.lcomms.len()}}
	r.mu.RUnlock()
	for l, n := range routes {
		ch <- prometheus.MustNewConstMetric(descRoutes, prometheus.GaugeValue, float64(n), l.router, l.peer, l.table, l.up)
	}
	for _, k := range kinds {
		ch <- prometheus.MustNewConstMetric(descRIB, prometheus.GaugeValue, float64(k.n), k.k)
	}
}

// PeerState is one peer's table as the pipeline API shows it.
type PeerState struct {
	Address string `json:"address"`
	AS      uint32 `json:"as"`
	Table   string `json:"table"`
	RD      string `json:"distinguisher,omitempty"`
	Up      bool   `json:"up"`
	DownFor string `json:"down_for,omitempty"`
	Routes  int    `json:"routes"`
}

// RouterState is one BMP router as the pipeline API shows it.
type RouterState struct {
	Address   string      `json:"address"`
	Connected bool        `json:"connected"`
	Routes    int         `json:"routes"`
	Peers     []PeerState `json:"peers"`
}

// Details returns the routers and their peers, for /api/v0/pipeline.
func (e *Enricher) Details() any {
	connected := map[netip.Addr]bool{}
	e.station.mu.Lock()
	for ss := range e.station.sessions {
		connected[ss.router] = true
	}
	e.station.mu.Unlock()
	now := time.Now()
	r := e.rib
	r.mu.RLock()
	defer r.mu.RUnlock()
	routers := make([]RouterState, len(r.routers))
	for i, a := range r.routers {
		routers[i] = RouterState{Address: a.String(), Connected: connected[a], Routes: r.routes[i], Peers: []PeerState{}}
	}
	for i := range r.peers {
		p := &r.peers[i]
		if id, ok := r.peerIDs[p.key]; p.gone || (!p.up && p.routes == 0 && (!ok || id != uint32(i))) {
			continue // free, or replaced by a later session with nothing left
		}
		ps := PeerState{Address: p.key.addr.String(), AS: p.as, Table: tableNames[p.key.table], Up: p.up, Routes: p.routes}
		if p.key.dist != 0 {
			ps.RD = strconv.FormatUint(p.key.dist, 10)
		}
		if !p.up {
			ps.DownFor = now.Sub(p.downAt).Round(time.Second).String()
		}
		routers[p.router].Peers = append(routers[p.router].Peers, ps)
	}
	return map[string]any{"routers": routers}
}
