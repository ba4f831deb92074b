// Package generate provides source "generate": synthetic flows at a set rate,
// with a realistic skew (a few heavy hitters), for demos and benchmarks.
package generate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// Spec documents source "generate".
var Spec = &dsl.Spec{
	Description: "Synthetic flows for demos, tests and benchmarks.",
	Attrs: []dsl.Attr{
		{Name: "rate", Type: dsl.TypeInt, Default: int64(1000), Description: "flows per second; 0 is as fast as possible"},
		{Name: "count", Type: dsl.TypeInt, Default: int64(0), Description: "stop after this many flows (0: never)"},
		{Name: "exporters", Type: dsl.TypeStringList, Default: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, Description: "exporter addresses"},
		{Name: "interfaces", Type: dsl.TypeInt, Default: int64(8), Description: "interfaces per exporter (ifIndex 1..N)"},
		{Name: "src_prefixes", Type: dsl.TypeStringList, Default: []string{"198.51.100.0/24", "2001:db8:100::/48"}, Description: "prefixes source addresses are drawn from"},
		{Name: "dst_prefixes", Type: dsl.TypeStringList, Default: []string{"203.0.113.0/24", "2001:db8:200::/48"}, Description: "prefixes destination addresses are drawn from"},
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

// templateCount is the number of distinct flows prepared; flows cycle through
// them, with fresh timestamps and counters.
const templateCount = 1 << 14

func (s *Source) prepare() {
	rng := rand.New(rand.NewPCG(s.seed, s.seed^0x9e3779b97f4a7c15))
	zipf := func(n int) *rand.Zipf { return rand.NewZipf(rng, s.skew, 1, uint64(max(n-1, 0))) }
	zExp, zHost, zPort, zProto := zipf(len(s.exporters)), zipf(s.hosts), zipf(len(s.ports)), zipf(len(s.protos))
	zIf := zipf(int(s.interfaces))
	host := func(prefixes []netip.Prefix, n uint64, v6 bool) (netip.Addr, uint8) {
		var cands []netip.Prefix
		for _, p := range prefixes {
			if p.Addr().Is6() == v6 {
				cands = append(cands, p)
			}
		}
		if len(cands) == 0 {
			cands = prefixes
		}
		p := cands[int(n)%len(cands)]
		b := p.Addr().AsSlice()
		hostBits := p.Addr().BitLen() - p.Bits()
		off := n*2654435761 + 1
		for i := len(b) - 1; i >= 0 && hostBits > 0; i-- {
			mask := byte(0xff)
			if hostBits < 8 {
				mask = byte(1<<hostBits - 1)
			}
			b[i] |= byte(off) & mask
			off >>= 8
			hostBits -= 8
		}
		a, _ := netip.AddrFromSlice(b)
		return a, uint8(p.Bits())
	}
	s.templates = make([]flow.Record, templateCount)
	for i := range s.templates {
		r := &s.templates[i]
		r.ExporterAddress = s.exporters[zExp.Uint64()]
		v6 := rng.IntN(5) == 0
		r.SrcAddr, r.SrcNetMask = host(s.src, zHost.Uint64(), v6)
		r.DstAddr, r.DstNetMask = host(s.dst, zHost.Uint64(), v6)
		r.EType = flow.ETypeIPv4
		if r.SrcAddr.Is6() {
			r.EType = flow.ETypeIPv6
		}
		r.Proto = s.protos[zProto.Uint64()]
		switch r.Proto {
		case 6, 17:
			r.DstPort = s.ports[zPort.Uint64()]
			r.SrcPort = uint16(32768 + rng.IntN(28000))
			if rng.IntN(2) == 0 { // half the flows are replies
				r.SrcAddr, r.DstAddr = r.DstAddr, r.SrcAddr
				r.SrcNetMask, r.DstNetMask = r.DstNetMask, r.SrcNetMask
				r.SrcPort, r.DstPort = r.DstPort, r.SrcPort
			}
			if r.Proto == 6 {
				r.TCPFlags = 0x18 | uint8(rng.IntN(2))*0x02 | uint8(rng.IntN(2))*0x01
			}
		case 1, 58:
			r.ICMPType, r.ICMPCode = 8, 0
		}
		r.InIfIndex = uint32(zIf.Uint64()) + 1
		r.OutIfIndex = uint32(zIf.Uint64()) + 1
		if r.OutIfIndex == r.InIfIndex {
			r.OutIfIndex = r.InIfIndex%s.interfaces + 1
		}
		r.IPTTL = uint8(32 + rng.IntN(32))
		r.ForwardingStatus = 64
		r.SamplingRate = s.samplingRate
		r.Packets = uint64(1 + rng.ExpFloat64()*20)
		size := uint64(64 + rng.IntN(1400))
		r.Bytes = r.Packets * size
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
