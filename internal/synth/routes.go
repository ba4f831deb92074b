package synth

import (
	"net/netip"

	"github.com/flowengine/flowengine/flow"
)

// route is what a router's BGP table says of a remote prefix learned over
// one external interface: the AS path (neighbour first, origin last) and the
// communities. Each one is built once, when the generator is made, and
// shared by every flow taking it, as a routing enricher interns them.
type route struct {
	path, communities flow.Uint32s
	large             flow.LargeCommunities
}

// transitMiddle are the ASes between a transit provider and some origins.
var transitMiddle = []uint32{6939, 2914, 3257}

// makeRoute builds the route towards remote prefix i, announced by origin,
// learned over interface itf of a network whose AS is local:
//   - over a transit (174, 3356, 1299): transit origin, or transit middle
//     origin for one prefix in three;
//   - over a PNI: the partner alone when it is the origin, else partner
//     origin;
//   - at an IX: the origin, prepended three times for one prefix in four;
//   - no path when the origin is unknown (AS 0).
//
// Communities tag where the route was learned: local:1000 (transit),
// local:2000 (PNI) or local:3000 (IX), then local:1000*kind+ifIndex; a
// transit adds its own transit:2000+i%5 for even prefixes; one prefix in
// five carries none. One prefix in three also carries the large community
// local:kind:ifIndex (always, instead of the standard ones, when local does
// not fit in 16 bits).
func makeRoute(i int, origin uint32, itf Interface, local uint32) route {
	k := interfaceKinds[int(itf.Index-1)%len(interfaceKinds)]
	var path []uint32
	switch {
	case origin == 0:
	case k.link == linkTransit && k.asn != origin:
		path = []uint32{k.asn, origin}
		if m := transitMiddle[i%len(transitMiddle)]; i%3 == 1 && m != k.asn && m != origin {
			path = []uint32{k.asn, m, origin}
		}
	case k.link == linkPNI && k.asn != origin:
		path = []uint32{k.asn, origin}
	case k.link == linkIX && i%4 == 3:
		path = []uint32{origin, origin, origin}
	default:
		path = []uint32{origin}
	}
	var comms []uint32
	var large []flow.LargeCommunity
	if local <= 0xffff && i%5 != 4 {
		tag := uint32(1000 * k.link)
		comms = append(comms, local<<16|tag, local<<16|(tag+itf.Index))
		if k.link == linkTransit && k.asn <= 0xffff && i%2 == 0 {
			comms = append(comms, k.asn<<16|uint32(2000+i%5))
		}
	}
	if local > 0xffff || i%3 == 0 {
		large = append(large, flow.LargeCommunity{ASN: local, Local1: uint32(k.link), Local2: itf.Index})
	}
	return route{path: flow.MakeUint32s(path), communities: flow.MakeUint32s(comms), large: flow.MakeLargeCommunities(large)}
}

// makeRoutes builds the routes of every remote prefix over every external
// interface: routes[prefix][external interface].
func makeRoutes(remote []prefix, external []Interface, local uint32) [][]route {
	out := make([][]route, len(remote))
	for i, p := range remote {
		out[i] = make([]route, len(external))
		for j, itf := range external {
			if itf.External {
				out[i][j] = makeRoute(i, p.as, itf, local)
			}
		}
	}
	return out
}

// Routing fills the columns a BGP routing enricher would: the AS path and
// communities of the route towards the destination (empty for flows towards
// the network's own prefixes, whose routes it originates itself).
func (f *Flow) Routing(r *flow.Record) {
	r.DstASPath, r.DstCommunities, r.DstLargeCommunities = f.DstASPath, f.DstCommunities, f.DstLargeCommunities
}

// nextHop is the next hop of flows leaving through interface ifIndex:
// 10.255.x.y for IPv4, 2001:db8:ff00::x for IPv6.
func nextHop(v6 bool, ifIndex uint32) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: byte(ifIndex)})
	}
	return netip.AddrFrom4([4]byte{10, 255, byte(ifIndex >> 8), byte(ifIndex)})
}

// Route is a route of the generator's BGP table, as a router would send it
// over BMP: a remote prefix learned from the BGP peer over one external
// interface. Flows leaving through that interface towards the prefix carry
// its next hop, AS path and communities.
type Route struct {
	Prefix  netip.Prefix
	NextHop netip.Addr // the next hop Next gives flows leaving through IfIndex
	IfIndex uint32     // the external interface the route was learned over
	// The BGP peer over IfIndex: its IPv4 next hop (one session carries
	// both families) and AS (the neighbour's, or the IX route server's).
	PeerAddress      netip.Addr
	PeerAS           uint32
	ASPath           flow.Uint32s // neighbour first, origin last; empty when the origin is unknown
	Communities      flow.Uint32s
	LargeCommunities flow.LargeCommunities
}

// Routes returns the routes the generator's outbound flows take: one per
// remote prefix and external interface, IPv4 then IPv6, in the order of
// the prefixes then the interfaces. The lists are those flows carry.
func (g *Generator) Routes() []Route {
	var out []Route
	add := func(remote []prefix, routes [][]route) {
		for i, p := range remote {
			for j, itf := range g.external {
				if !itf.External {
					continue
				}
				r := &routes[i][j]
				out = append(out, Route{
					Prefix: p.p, NextHop: nextHop(p.p.Addr().Is6(), itf.Index), IfIndex: itf.Index,
					PeerAddress: nextHop(false, itf.Index), PeerAS: interfaceKinds[int(itf.Index-1)%len(interfaceKinds)].peerAS,
					ASPath: r.path, Communities: r.communities, LargeCommunities: r.large,
				})
			}
		}
	}
	// A list holds the other family when the mix has none of its own.
	if g.remote4[0].p.Addr().Is4() {
		add(g.remote4, g.routes4)
	}
	if g.remote6[0].p.Addr().Is6() {
		add(g.remote6, g.routes6)
	}
	return out
}
