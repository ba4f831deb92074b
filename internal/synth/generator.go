// Package synth is the synthetic traffic model `flowengine exporter` sends
// and source "generate" emits: flows between the network's own prefixes and
// remote ones (with their AS numbers), services with their popularity,
// exporters' interfaces (names, descriptions, speeds, external or core), a
// zipf skew giving a few heavy hitters. The default mix is an internet
// edge (popular remote prefixes, mostly inbound traffic); options replace
// its prefixes, services and skew.
package synth

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// Flow is one synthetic flow, as a generator made it and an encoder sends it.
// For ICMP, DstPort holds type<<8 | code and SrcPort is 0, as NetFlow v5
// encodes them; ICMPType and ICMPCode return them.
type Flow struct {
	SrcAddr, DstAddr netip.Addr // both IPv4 or both IPv6
	NextHop          netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	TCPFlags         uint8
	IPTos            uint8
	SrcMask, DstMask uint8
	SrcAS, DstAS     uint32
	InIfIndex        uint32
	OutIfIndex       uint32
	SrcVlan, DstVlan uint16
	SrcMAC, DstMAC   uint64
	Bytes, Packets   uint64 // layer-3 bytes; for per-packet flows (sFlow) Packets is 1
	Start, End       time.Time
	// The route towards DstAddr, as a BMP routing enricher would find it
	// (no exporter protocol carries it): the AS path ends with DstAS;
	// flows towards the network's own prefixes have empty lists. The
	// lists are shared between flows (built once per route).
	DstASPath           flow.Uint32s
	DstCommunities      flow.Uint32s
	DstLargeCommunities flow.LargeCommunities
}

// IsIPv6 reports whether the flow is IPv6.
func (f *Flow) IsIPv6() bool { return f.SrcAddr.Is6() }

// ICMPType returns the ICMP type of an ICMP flow.
func (f *Flow) ICMPType() uint8 { return uint8(f.DstPort >> 8) }

// ICMPCode returns the ICMP code of an ICMP flow.
func (f *Flow) ICMPCode() uint8 { return uint8(f.DstPort) }

// LocalAS is the AS number of the synthetic network.
const LocalAS = 64496

// Prefix is a prefix flows are drawn from, with the AS number announcing it.
type Prefix struct {
	Prefix netip.Prefix
	AS     uint32
}

type prefix struct {
	p  netip.Prefix
	as uint32
}

// remote prefixes, most popular first: the zipf draw favours the head.
var remote4 = []prefix{
	{netip.MustParsePrefix("142.250.0.0/15"), 15169},
	{netip.MustParsePrefix("45.57.0.0/17"), 2906},
	{netip.MustParsePrefix("157.240.0.0/16"), 32934},
	{netip.MustParsePrefix("104.16.0.0/13"), 13335},
	{netip.MustParsePrefix("23.0.0.0/12"), 20940},
	{netip.MustParsePrefix("52.0.0.0/11"), 16509},
	{netip.MustParsePrefix("20.0.0.0/11"), 8075},
	{netip.MustParsePrefix("17.0.0.0/8"), 714},
	{netip.MustParsePrefix("151.101.0.0/16"), 54113},
	{netip.MustParsePrefix("51.68.0.0/16"), 16276},
	{netip.MustParsePrefix("185.42.0.0/16"), 46489},
	{netip.MustParsePrefix("90.0.0.0/9"), 3215},
	{netip.MustParsePrefix("78.192.0.0/10"), 12322},
	{netip.MustParsePrefix("73.0.0.0/8"), 7922},
	{netip.MustParsePrefix("80.128.0.0/11"), 3320},
	{netip.MustParsePrefix("216.66.0.0/18"), 6939},
	{netip.MustParsePrefix("38.0.0.0/8"), 174},
	{netip.MustParsePrefix("4.0.0.0/9"), 3356},
}

var remote6 = []prefix{
	{netip.MustParsePrefix("2a00:1450::/32"), 15169},
	{netip.MustParsePrefix("2a00:86c0::/32"), 2906},
	{netip.MustParsePrefix("2a03:2880::/32"), 32934},
	{netip.MustParsePrefix("2606:4700::/32"), 13335},
	{netip.MustParsePrefix("2a02:26f0::/29"), 20940},
	{netip.MustParsePrefix("2600:1f00::/24"), 16509},
	{netip.MustParsePrefix("2603:1000::/25"), 8075},
	{netip.MustParsePrefix("2a01:e00::/26"), 12322},
	{netip.MustParsePrefix("2001:470::/32"), 6939},
}

var local4 = []netip.Prefix{
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
}

var local6 = []netip.Prefix{
	netip.MustParsePrefix("2001:db8:1::/48"),
	netip.MustParsePrefix("2001:db8:2::/48"),
}

// Service is a protocol and server port with its weight in the mix.
type Service struct {
	Proto  uint8 // 1 is ICMP (ICMPv6 for IPv6 flows)
	Port   uint16
	Weight int
}

type service struct {
	proto uint8
	port  uint16
	w     int
}

// services and their weights.
var services = []service{
	{6, 443, 45}, {17, 443, 12}, {6, 80, 10}, {17, 53, 8}, {6, 22, 2}, {17, 123, 2},
	{6, 25, 1}, {6, 993, 1}, {17, 3478, 3}, {6, 8080, 2}, {17, 4500, 1}, {6, 3306, 1},
	{1, 0, 3}, // ICMP; ICMPv6 for IPv6 flows
}

// GeneratorOptions configures a Generator. The zero values of the mix
// fields (Local to Hosts) give the internet edge mix.
type GeneratorOptions struct {
	Seed       uint64
	Interfaces int     // ifIndexes 1..Interfaces (see Interfaces); default 8
	IPv6Share  float64 // fraction of IPv6 flows, 0 to 1
	PerPacket  bool    // each flow is one sampled packet (sFlow): Packets 1, Bytes one packet's length

	// Local replaces the network's own prefixes, with LocalAS as their AS
	// number (0 allowed); Remote the remote ones, most popular first.
	// When a list holds no prefix of a flow's family, the other family is
	// used.
	Local    []netip.Prefix
	LocalAS  uint32
	Remote   []Prefix
	Services []Service // replaces the services mix
	// InboundPercent is the share of flows from a remote service to a
	// local host, in percent (the others go the other way); default 70.
	InboundPercent int
	Skew           float64 // zipf exponent of remote prefixes (and hosts); default 1.3
	// Hosts, when not 0, limits each prefix list to that many hosts, drawn
	// with the skew (heavy hitters); 0 draws any address of a prefix.
	Hosts int
}

// Generator produces a deterministic stream of synthetic flows for a seed: a
// few heavy hitters (a zipf draw over remote prefixes and services), mostly
// inbound traffic from external interfaces (transit, PNI, IX) to core ones.
type Generator struct {
	opts             GeneratorOptions
	rng              *rand.Rand
	zipf4            *rand.Zipf
	zipf6            *rand.Zipf
	zipfHost         *rand.Zipf // nil unless Hosts
	remote4, remote6 []prefix
	local4, local6   []netip.Prefix
	localAS          uint32
	has4, has6       bool // both lists have prefixes of the family
	services         []service
	svc              []int // service index per weight unit
	external         []Interface
	internal         []Interface
	routes4, routes6 [][]route // [remote prefix][external interface]
}

// NewGenerator returns a generator; the same options give the same flows.
func NewGenerator(opts GeneratorOptions) *Generator {
	if opts.Interfaces <= 0 {
		opts.Interfaces = 8
	}
	if opts.InboundPercent == 0 {
		opts.InboundPercent = 70
	}
	if opts.Skew <= 1 {
		opts.Skew = 1.3
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	g := &Generator{opts: opts, rng: rng, remote4: remote4, remote6: remote6, local4: local4, local6: local6,
		localAS: LocalAS, services: services}
	if len(opts.Remote) > 0 {
		g.remote4, g.remote6 = nil, nil
		for _, p := range opts.Remote {
			if p.Prefix.Addr().Is4() {
				g.remote4 = append(g.remote4, prefix{p.Prefix.Masked(), p.AS})
			} else {
				g.remote6 = append(g.remote6, prefix{p.Prefix.Masked(), p.AS})
			}
		}
		g.remote4, g.remote6 = orOther(g.remote4, g.remote6), orOther(g.remote6, g.remote4)
	}
	if len(opts.Local) > 0 {
		g.local4, g.local6, g.localAS = nil, nil, opts.LocalAS
		for _, p := range opts.Local {
			if p.Addr().Is4() {
				g.local4 = append(g.local4, p.Masked())
			} else {
				g.local6 = append(g.local6, p.Masked())
			}
		}
		g.local4, g.local6 = orOther(g.local4, g.local6), orOther(g.local6, g.local4)
	}
	if len(opts.Services) > 0 {
		g.services = nil
		for _, s := range opts.Services {
			g.services = append(g.services, service{s.Proto, s.Port, max(s.Weight, 1)})
		}
	}
	g.has4 = g.remote4[0].p.Addr().Is4() && g.local4[0].Addr().Is4()
	g.has6 = g.remote6[0].p.Addr().Is6() && g.local6[0].Addr().Is6()
	g.zipf4 = rand.NewZipf(rng, opts.Skew, 1, uint64(len(g.remote4)-1))
	g.zipf6 = rand.NewZipf(rng, opts.Skew, 1, uint64(len(g.remote6)-1))
	if opts.Hosts > 0 {
		g.zipfHost = rand.NewZipf(rng, opts.Skew, 1, uint64(opts.Hosts-1))
	}
	for i, s := range g.services {
		for range s.w {
			g.svc = append(g.svc, i)
		}
	}
	for _, itf := range Interfaces(opts.Interfaces) {
		if itf.External {
			g.external = append(g.external, itf)
		} else {
			g.internal = append(g.internal, itf)
		}
	}
	if len(g.internal) == 0 {
		g.internal = g.external
	}
	if len(g.external) == 0 {
		g.external = g.internal
	}
	g.routes4 = makeRoutes(g.remote4, g.external, g.localAS)
	g.routes6 = makeRoutes(g.remote6, g.external, g.localAS)
	return g
}

// orOther returns l, or other when l is empty.
func orOther[T any](l, other []T) []T {
	if len(l) == 0 {
		return other
	}
	return l
}

// hostN returns host n of prefix p, spread over its host bits; never the
// prefix's own address.
func hostN(p netip.Prefix, n uint64) netip.Addr {
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
	return a
}

func (g *Generator) host(p netip.Prefix) netip.Addr {
	var a []byte
	if p.Addr().Is4() {
		b := p.Addr().As4()
		a = b[:]
	} else {
		b := p.Addr().As16()
		a = b[:]
	}
	for i := range a {
		keep := min(max(p.Bits()-8*i, 0), 8)
		mask := byte(uint16(0xff00) >> keep)
		a[i] = a[i]&mask | byte(g.rng.Uint32())&^mask
	}
	if len(a) == 4 {
		if a[3] == 0 || a[3] == 255 {
			a[3] = 1 + byte(g.rng.IntN(250))
		}
		return netip.AddrFrom4([4]byte(a))
	}
	return netip.AddrFrom16([16]byte(a))
}

// Next fills f with the next flow, ending shortly before now.
func (g *Generator) Next(now time.Time, f *Flow) {
	rng := g.rng
	*f = Flow{}
	v6 := g.opts.IPv6Share > 0 && rng.Float64() < g.opts.IPv6Share
	var rp prefix
	var lp netip.Prefix
	if v6 && !g.has6 || !v6 && !g.has4 {
		v6 = !v6 // the mix has one family only
	}
	remote4, remote6, local4, local6 := g.remote4, g.remote6, g.local4, g.local6
	var ri int // index of rp
	if v6 {
		ri = int(g.zipf6.Uint64())
		rp = remote6[ri]
		lp = local6[rng.IntN(len(local6))]
	} else {
		ri = int(g.zipf4.Uint64())
		rp = remote4[ri]
		lp = local4[rng.IntN(len(local4))]
	}
	s := g.services[g.svc[rng.IntN(len(g.svc))]]
	ei := g.zipfIndex(len(g.external))
	ext := g.external[ei]
	in := g.internal[rng.IntN(len(g.internal))]
	var remote, local netip.Addr
	if g.zipfHost != nil {
		// One of Hosts hosts per list, the popular ones more often.
		rps, lps := remote4, local4
		if v6 {
			rps, lps = remote6, local6
		}
		n := g.zipfHost.Uint64()
		ri = int(n % uint64(len(rps)))
		rp = rps[ri]
		remote = hostN(rp.p, n/uint64(len(rps)))
		n = g.zipfHost.Uint64()
		lp = lps[n%uint64(len(lps))]
		local = hostN(lp, n/uint64(len(lps)))
	} else {
		remote, local = g.host(rp.p), g.host(lp)
	}
	ephemeral := uint16(32768 + rng.IntN(28000))
	inbound := rng.IntN(100) < g.opts.InboundPercent
	if inbound { // the service answers: remote:service -> local:ephemeral
		f.SrcAddr, f.DstAddr = remote, local
		f.SrcPort, f.DstPort = s.port, ephemeral
		f.SrcMask, f.DstMask = uint8(rp.p.Bits()), uint8(lp.Bits())
		f.SrcAS, f.DstAS = rp.as, g.localAS
		f.InIfIndex, f.OutIfIndex = ext.Index, in.Index
	} else {
		f.SrcAddr, f.DstAddr = local, remote
		f.SrcPort, f.DstPort = ephemeral, s.port
		f.SrcMask, f.DstMask = uint8(lp.Bits()), uint8(rp.p.Bits())
		f.SrcAS, f.DstAS = g.localAS, rp.as
		f.InIfIndex, f.OutIfIndex = in.Index, ext.Index
		rt := g.routes4
		if v6 {
			rt = g.routes6
		}
		r := &rt[ri][ei]
		f.DstASPath, f.DstCommunities, f.DstLargeCommunities = r.path, r.communities, r.large
	}
	f.Proto = s.proto
	if s.proto == 1 {
		var types [][2]uint8
		if v6 {
			f.Proto = 58
			types = [][2]uint8{{128, 0}, {129, 0}, {1, 4}, {135, 0}}
		} else {
			types = [][2]uint8{{8, 0}, {0, 0}, {3, 3}, {11, 0}}
		}
		t := types[rng.IntN(len(types))]
		f.SrcPort, f.DstPort = 0, uint16(t[0])<<8|uint16(t[1])
	}
	if f.Proto == 6 {
		flags := []uint8{0x10, 0x18, 0x18, 0x02, 0x12, 0x11, 0x1b}
		f.TCPFlags = flags[rng.IntN(len(flags))]
	}
	switch rng.IntN(20) {
	case 0:
		f.IPTos = 0xb8 // EF
	case 1, 2:
		f.IPTos = 0x28 // AF11
	}
	f.NextHop = nextHop(v6, f.OutIfIndex)
	f.SrcVlan, f.DstVlan = uint16(100+f.InIfIndex%3900), uint16(100+f.OutIfIndex%3900)
	f.SrcMAC = 0x0200_0000_0000 | uint64(f.InIfIndex)
	f.DstMAC = 0x0200_0001_0000 | uint64(f.OutIfIndex)
	minLen := uint64(20)
	if v6 {
		minLen = 40
	}
	switch f.Proto {
	case 6:
		minLen += 20
	default:
		minLen += 8
	}
	size := func() uint64 {
		switch rng.IntN(10) {
		case 0, 1, 2:
			return minLen + uint64(rng.IntN(40))
		case 3:
			return 576
		default:
			return 1500 - uint64(rng.IntN(100))
		}
	}
	if g.opts.PerPacket {
		f.Packets, f.Bytes = 1, size()
		f.End = now
		f.Start = now
		return
	}
	// Heavy-tailed packet counts.
	f.Packets = 1 + uint64(rng.ExpFloat64()*20)
	if rng.IntN(50) == 0 {
		f.Packets *= 100
	}
	f.Bytes = f.Packets * size()
	f.End = now.Add(-time.Duration(rng.IntN(1000)) * time.Millisecond)
	f.Start = f.End.Add(-time.Duration(rng.IntN(60000)) * time.Millisecond)
}

// zipfIndex draws an index in [0, n) favouring the first ones.
func (g *Generator) zipfIndex(n int) int {
	if n <= 1 {
		return 0
	}
	// Half the time the first interface, then a uniform draw.
	if g.rng.IntN(2) == 0 {
		return 0
	}
	return g.rng.IntN(n)
}

// Record fills r with the columns of a flow record the flow has:
// addresses, masks, ports, AS numbers, interfaces, VLANs, MACs, TCP flags,
// TOS, ICMP type and code, counters, start and end. The exporter address,
// sampling rate, TimeReceived and what enrichers fill (Routing fills the
// route's columns) are left to the caller.
func (f *Flow) Record(r *flow.Record) {
	*r = flow.Record{
		TimeFlowStart: f.Start.UTC(),
		TimeFlowEnd:   f.End.UTC(),
		SrcAddr:       f.SrcAddr,
		DstAddr:       f.DstAddr,
		SrcNetMask:    f.SrcMask,
		DstNetMask:    f.DstMask,
		NextHop:       f.NextHop,
		SrcMAC:        f.SrcMAC,
		DstMAC:        f.DstMAC,
		SrcVlan:       f.SrcVlan,
		DstVlan:       f.DstVlan,
		SrcAS:         f.SrcAS,
		DstAS:         f.DstAS,
		InIfIndex:     f.InIfIndex,
		OutIfIndex:    f.OutIfIndex,
		EType:         flow.ETypeIPv4,
		Proto:         f.Proto,
		SrcPort:       f.SrcPort,
		DstPort:       f.DstPort,
		TCPFlags:      f.TCPFlags,
		IPTos:         f.IPTos,
		Bytes:         f.Bytes,
		Packets:       f.Packets,
	}
	if f.IsIPv6() {
		r.EType = flow.ETypeIPv6
	}
	if f.Proto == 1 || f.Proto == 58 {
		r.ICMPType, r.ICMPCode = f.ICMPType(), f.ICMPCode()
	}
}
