package exporter

import (
	"math/rand/v2"
	"net/netip"
	"time"
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
}

// IsIPv6 reports whether the flow is IPv6.
func (f *Flow) IsIPv6() bool { return f.SrcAddr.Is6() }

// ICMPType returns the ICMP type of an ICMP flow.
func (f *Flow) ICMPType() uint8 { return uint8(f.DstPort >> 8) }

// ICMPCode returns the ICMP code of an ICMP flow.
func (f *Flow) ICMPCode() uint8 { return uint8(f.DstPort) }

// LocalAS is the AS number of the synthetic network.
const LocalAS = 64496

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

// GeneratorOptions configures a Generator.
type GeneratorOptions struct {
	Seed       uint64
	Interfaces int     // ifIndexes 1..Interfaces (see Interfaces); default 8
	IPv6Share  float64 // fraction of IPv6 flows, 0 to 1
	PerPacket  bool    // each flow is one sampled packet (sFlow): Packets 1, Bytes one packet's length
}

// Generator produces a deterministic stream of synthetic flows for a seed: a
// few heavy hitters (a zipf draw over remote prefixes and services), mostly
// inbound traffic from external interfaces (transit, PNI, IX) to core ones.
type Generator struct {
	opts     GeneratorOptions
	rng      *rand.Rand
	zipf4    *rand.Zipf
	zipf6    *rand.Zipf
	svc      []int // service index per weight unit
	external []Interface
	internal []Interface
}

// NewGenerator returns a generator; the same options give the same flows.
func NewGenerator(opts GeneratorOptions) *Generator {
	if opts.Interfaces <= 0 {
		opts.Interfaces = 8
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	g := &Generator{
		opts:  opts,
		rng:   rng,
		zipf4: rand.NewZipf(rng, 1.3, 1, uint64(len(remote4)-1)),
		zipf6: rand.NewZipf(rng, 1.3, 1, uint64(len(remote6)-1)),
	}
	for i, s := range services {
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
	return g
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
	if v6 {
		rp = remote6[g.zipf6.Uint64()]
		lp = local6[rng.IntN(len(local6))]
	} else {
		rp = remote4[g.zipf4.Uint64()]
		lp = local4[rng.IntN(len(local4))]
	}
	s := services[g.svc[rng.IntN(len(g.svc))]]
	ext := g.external[int(g.zipfIndex(len(g.external)))]
	in := g.internal[rng.IntN(len(g.internal))]
	remote, local := g.host(rp.p), g.host(lp)
	ephemeral := uint16(32768 + rng.IntN(28000))
	inbound := rng.IntN(10) < 7
	if inbound { // the service answers: remote:service -> local:ephemeral
		f.SrcAddr, f.DstAddr = remote, local
		f.SrcPort, f.DstPort = s.port, ephemeral
		f.SrcMask, f.DstMask = uint8(rp.p.Bits()), uint8(lp.Bits())
		f.SrcAS, f.DstAS = rp.as, LocalAS
		f.InIfIndex, f.OutIfIndex = ext.Index, in.Index
	} else {
		f.SrcAddr, f.DstAddr = local, remote
		f.SrcPort, f.DstPort = ephemeral, s.port
		f.SrcMask, f.DstMask = uint8(lp.Bits()), uint8(rp.p.Bits())
		f.SrcAS, f.DstAS = LocalAS, rp.as
		f.InIfIndex, f.OutIfIndex = in.Index, ext.Index
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
	if v6 {
		f.NextHop = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: byte(f.OutIfIndex)})
	} else {
		f.NextHop = netip.AddrFrom4([4]byte{10, 255, byte(f.OutIfIndex >> 8), byte(f.OutIfIndex)})
	}
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
	return
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
