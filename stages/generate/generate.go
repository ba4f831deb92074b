// Package generate provides source "generate": synthetic flows at a set rate,
// with a realistic skew (a few heavy hitters), for demos and benchmarks. The
// flows come from the traffic model `flowengine exporter` sends
// (internal/synth), with the source's prefixes, ports and protocols.
package generate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/synth"
)

// Spec documents source "generate".
var Spec = &dsl.Spec{
	Description: "Synthetic flows for demos, tests and benchmarks.",
	Attrs: []dsl.Attr{
		{Name: "rate", Type: dsl.TypeInt, Default: int64(1000), Description: "flows per second; 0 is as fast as possible"},
		{Name: "count", Type: dsl.TypeInt, Default: int64(0), Description: "stop after this many flows (0: never)"},
		{Name: "exporters", Type: dsl.TypeStringList, Default: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, Description: "exporter addresses"},
		{Name: "interfaces", Type: dsl.TypeInt, Default: int64(8), Description: "interfaces per exporter (ifIndex 1..N)"},
		{Name: "src_prefixes", Type: dsl.TypeStringList, Default: []string{"198.51.100.0/24", "2001:db8:100::/48"}, Description: "prefixes of the clients (the sources of requests; half the flows are answers, from the servers)"},
		{Name: "dst_prefixes", Type: dsl.TypeStringList, Default: []string{"203.0.113.0/24", "2001:db8:200::/48"}, Description: "prefixes of the servers (the destinations of requests)"},
		{Name: "ports", Type: dsl.TypeStringList, Default: []string{"443", "80", "53", "22", "123", "8080", "3478", "993"}, Description: "server ports, most popular first"},
		{Name: "protocols", Type: dsl.TypeStringList, Default: []string{"tcp", "udp", "icmp"}, Description: "protocols, most common first (tcp, udp, icmp, or a number)"},
		{Name: "sampling_rate", Type: dsl.TypeInt, Default: int64(1), Description: "sampling rate set on every flow"},
		{Name: "skew", Type: dsl.TypeFloat, Default: 1.3, Description: "Zipf exponent of the popularity of hosts, ports and exporters (> 1)"},
		{Name: "hosts", Type: dsl.TypeInt, Default: int64(1000), Description: "distinct hosts drawn from each prefix list"},
		{Name: "seed", Type: dsl.TypeInt, Default: int64(1), Description: "random seed: the same seed gives the same flows"},
		{Name: "backfill", Type: dsl.TypeDuration, Default: time.Duration(0), Description: "with count: spread the flows' timestamps evenly over this much past time, oldest first, ending when the source starts (e.g. \"24h\" to fill a day); 0 stamps each flow with the time it is sent"},
	},
}

func init() {
	engine.RegisterSource("generate", Spec, New)
}

// Source generates flows.
type Source struct {
	rate, count  int64
	exporters    []netip.Addr
	interfaces   uint32
	src, dst     []netip.Prefix
	ports        []uint16
	protos       []uint8
	samplingRate uint64
	skew         float64
	hosts        int
	seed         uint64
	backfill     time.Duration

	templates []flow.Record
}

var _ engine.Source = (*Source)(nil)

// New builds the source.
func New(cfg *dsl.Config, _ engine.Env) (*Source, hcl.Diagnostics) {
	s := &Source{rate: cfg.Int("rate"), count: cfg.Int("count"), interfaces: uint32(cfg.Int("interfaces")),
		samplingRate: uint64(cfg.Int("sampling_rate")), skew: cfg.Float("skew"), hosts: int(cfg.Int("hosts")),
		seed: uint64(cfg.Int("seed")), backfill: cfg.Duration("backfill")}
	var diags hcl.Diagnostics
	bad := func(attr, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for " + fmt.Sprintf("%q", attr),
			Detail: detail, Subject: cfg.Range(attr)})
	}
	if s.rate < 0 {
		bad("rate", "rate is a number of flows per second, 0 or more.")
	}
	if s.count < 0 {
		bad("count", "count is a number of flows, 0 or more.")
	}
	for _, e := range cfg.Strings("exporters") {
		a, err := netip.ParseAddr(e)
		if err != nil {
			bad("exporters", fmt.Sprintf("%q is not an IP address.", e))
			continue
		}
		s.exporters = append(s.exporters, a.Unmap())
	}
	if len(s.exporters) == 0 {
		bad("exporters", "At least one exporter address is required.")
	}
	parse := func(attr string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range cfg.Strings(attr) {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				bad(attr, fmt.Sprintf("%q is not a CIDR prefix.", p))
				continue
			}
			out = append(out, pfx.Masked())
		}
		if len(out) == 0 {
			bad(attr, "At least one prefix is required.")
		}
		return out
	}
	s.src, s.dst = parse("src_prefixes"), parse("dst_prefixes")
	if len(s.src) > 0 && len(s.dst) > 0 && !sameFamily(s.src, s.dst) {
		bad("dst_prefixes", "src_prefixes and dst_prefixes have no address family in common: a flow joins two IPv4 or two IPv6 addresses.")
	}
	for _, p := range cfg.Strings("ports") {
		var n uint16
		if _, err := fmt.Sscan(p, &n); err != nil {
			bad("ports", fmt.Sprintf("%q is not a port number.", p))
			continue
		}
		s.ports = append(s.ports, n)
	}
	if len(s.ports) == 0 {
		bad("ports", "At least one port is required.")
	}
	for _, p := range cfg.Strings("protocols") {
		switch p {
		case "tcp":
			s.protos = append(s.protos, 6)
		case "udp":
			s.protos = append(s.protos, 17)
		case "icmp":
			s.protos = append(s.protos, 1)
		default:
			var n uint8
			if _, err := fmt.Sscan(p, &n); err != nil {
				bad("protocols", fmt.Sprintf("%q is not tcp, udp, icmp or a protocol number.", p))
				continue
			}
			s.protos = append(s.protos, n)
		}
	}
	if len(s.protos) == 0 {
		bad("protocols", "At least one protocol is required.")
	}
	if s.interfaces < 1 {
		bad("interfaces", "At least one interface is required.")
	}
	if s.skew <= 1 {
		bad("skew", "The Zipf exponent must be greater than 1.")
	}
	if s.hosts < 1 {
		bad("hosts", "At least one host is required.")
	}
	if s.backfill < 0 {
		bad("backfill", "backfill is a duration, 0 or more.")
	} else if s.backfill > 0 && s.count == 0 {
		bad("backfill", "backfill spreads count flows over past time: set count too.")
	}
	if s.samplingRate < 1 {
		s.samplingRate = 1
	}
	return s, diags
}

// sameFamily reports whether both lists hold a prefix of one family.
func sameFamily(a, b []netip.Prefix) bool {
	for _, p := range a {
		for _, q := range b {
			if p.Addr().Is4() == q.Addr().Is4() {
				return true
			}
		}
	}
	return false
}

// templateCount is the number of distinct flows prepared; flows cycle through
// them, with fresh timestamps.
const templateCount = 1 << 14

// mix returns the traffic model's options for the source's attributes:
// clients in src_prefixes, servers in dst_prefixes (half the flows are
// the servers' answers), services the protocols and ports ranked by the
// skew, hosts heavy hitters among hosts per side.
func (s *Source) mix() synth.GeneratorOptions {
	opts := synth.GeneratorOptions{
		Seed: s.seed, Interfaces: int(s.interfaces), IPv6Share: 0.2,
		Local: s.src, InboundPercent: 50, Skew: s.skew, Hosts: s.hosts,
	}
	for _, p := range s.dst {
		opts.Remote = append(opts.Remote, synth.Prefix{Prefix: p})
	}
	weight := func(ranks ...int) int {
		w := 1000.0
		for _, r := range ranks {
			w /= math.Pow(float64(r+1), s.skew)
		}
		return max(1, int(math.Round(w)))
	}
	for i, proto := range s.protos {
		if proto != 6 && proto != 17 {
			opts.Services = append(opts.Services, synth.Service{Proto: proto, Weight: weight(i)})
			continue
		}
		for j, port := range s.ports {
			opts.Services = append(opts.Services, synth.Service{Proto: proto, Port: port, Weight: weight(i, j)})
		}
	}
	return opts
}

// prepare draws the flows from the synthetic traffic model (internal/synth,
// the one `flowengine exporter` sends), each from an exporter drawn with
// the skew.
func (s *Source) prepare() {
	gen := synth.NewGenerator(s.mix())
	rng := rand.New(rand.NewPCG(s.seed, s.seed^0x9e3779b97f4a7c15))
	zExp := rand.NewZipf(rng, s.skew, 1, uint64(len(s.exporters)-1))
	now := time.Now()
	var f synth.Flow
	s.templates = make([]flow.Record, templateCount)
	for i := range s.templates {
		r := &s.templates[i]
		gen.Next(now, &f)
		f.Record(r)
		f.Routing(r) // as a BMP routing enricher would
		if r.Proto == 1 || r.Proto == 58 {
			r.SrcPort, r.DstPort = 0, 0 // ICMP has no ports
		}
		r.ExporterAddress = s.exporters[zExp.Uint64()]
		r.IPTTL = uint8(32 + rng.IntN(32))
		r.ForwardingStatus = 64 // forwarded
		r.SamplingRate = s.samplingRate
	}
}

// Run emits flows until count is reached or ctx is done.
func (s *Source) Run(ctx context.Context, out engine.Output) error {
	if s.templates == nil {
		s.prepare()
	}
	batchSize := int64(flow.BatchSize)
	if s.rate > 0 && s.rate/20 < batchSize {
		batchSize = max(1, s.rate/20) // at least 20 batches per second at low rates
	}
	start := time.Now()
	// With backfill, flow i is stamped origin + i×backfill/count: the first
	// one backfill before the start, the last one just before it.
	origin := start.UTC().Add(-s.backfill)
	var sent int64
	next := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		n := batchSize
		if s.count > 0 && s.count-sent < n {
			n = s.count - sent
		}
		if n <= 0 {
			return nil
		}
		if s.rate > 0 {
			due := start.Add(time.Duration(float64(sent) / float64(s.rate) * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		}
		now := time.Now().UTC()
		b := flow.NewBatch()
		b.Records = b.Records[:n]
		for i := range b.Records {
			r := &b.Records[i]
			*r = s.templates[next]
			next = (next + 1) & (templateCount - 1)
			if s.backfill > 0 {
				now = origin.Add(time.Duration(float64(s.backfill) * float64(sent+int64(i)) / float64(s.count)))
			}
			r.TimeReceived = now
			r.TimeFlowEnd = now
			r.TimeFlowStart = now.Add(-time.Duration(r.Packets) * 50 * time.Millisecond)
		}
		sent += n
		if !out.Send(ctx, b) {
			return nil
		}
	}
}
