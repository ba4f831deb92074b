package synth

import (
	"net/netip"
	"testing"
	"time"
)

// TestCustomMix draws flows from a mix given in options: addresses from
// the prefixes, services from the list, at most Hosts hosts per list,
// the inbound share, one address family when the lists have one.
func TestCustomMix(t *testing.T) {
	local := netip.MustParsePrefix("198.51.100.0/24")
	remote := netip.MustParsePrefix("203.0.113.0/24")
	g := NewGenerator(GeneratorOptions{
		Seed: 3, Interfaces: 4, IPv6Share: 0.5,
		Local: []netip.Prefix{local}, LocalAS: 0, Remote: []Prefix{{remote, 64500}},
		Services: []Service{{6, 443, 3}, {17, 53, 1}}, InboundPercent: 50, Hosts: 10, Skew: 1.5,
	})
	hosts := map[netip.Addr]bool{}
	inbound := 0
	const n = 4000
	var f Flow
	for range n {
		g.Next(time.Now(), &f)
		if !f.SrcAddr.Is4() || !f.DstAddr.Is4() {
			t.Fatalf("IPv6 flow %v -> %v from IPv4 lists", f.SrcAddr, f.DstAddr)
		}
		l, r := f.SrcAddr, f.DstAddr
		if remote.Contains(f.SrcAddr) {
			l, r = r, l
			inbound++
			if f.SrcAS != 64500 || f.DstAS != 0 || f.SrcPort != 443 && f.SrcPort != 53 {
				t.Fatalf("inbound flow %+v", f)
			}
		} else if f.DstAS != 64500 || f.SrcAS != 0 || f.DstPort != 443 && f.DstPort != 53 {
			t.Fatalf("outbound flow %+v", f)
		}
		if !local.Contains(l) || !remote.Contains(r) {
			t.Fatalf("flow %v -> %v outside %v and %v", f.SrcAddr, f.DstAddr, local, remote)
		}
		if f.Proto != 6 && f.Proto != 17 {
			t.Fatalf("protocol %d not in the services", f.Proto)
		}
		if f.InIfIndex < 1 || f.InIfIndex > 4 || f.OutIfIndex < 1 || f.OutIfIndex > 4 {
			t.Fatalf("ifIndex %d -> %d out of 1..4", f.InIfIndex, f.OutIfIndex)
		}
		hosts[l], hosts[r] = true, true
	}
	if len(hosts) > 20 {
		t.Errorf("%d distinct hosts, want at most 10 per list", len(hosts))
	}
	if inbound < n*45/100 || inbound > n*55/100 {
		t.Errorf("%d of %d flows inbound, want about half", inbound, n)
	}
}

// TestDefaultMix: without mix options, the internet edge mix (its AS
// numbers, both families).
func TestDefaultMix(t *testing.T) {
	g := NewGenerator(GeneratorOptions{Seed: 1, IPv6Share: 0.3})
	var f Flow
	v6 := 0
	for range 1000 {
		g.Next(time.Now(), &f)
		if f.SrcAS != LocalAS && f.DstAS != LocalAS {
			t.Fatalf("flow without the local AS: %+v", f)
		}
		if f.IsIPv6() {
			v6++
		}
	}
	if v6 < 200 || v6 > 400 {
		t.Errorf("%d IPv6 flows of 1000, want about 300", v6)
	}
}

// TestRoutes: flows towards remote prefixes carry the route's AS path,
// ending with DstAS, and communities; flows towards the network's own
// prefixes none. Lists are shared: drawing a flow allocates nothing.
func TestRoutes(t *testing.T) {
	g := NewGenerator(GeneratorOptions{Seed: 7, IPv6Share: 0.2, Interfaces: 14})
	var f Flow
	var outbound, noComms, large, prepended, threeHops int
	firsts := map[uint32]bool{}
	for range 5000 {
		g.Next(time.Now(), &f)
		if f.DstAS == LocalAS {
			if f.DstASPath.Len() != 0 || f.DstCommunities.Len() != 0 || f.DstLargeCommunities.Len() != 0 {
				t.Fatalf("inbound flow with a route: %v %v %v", f.DstASPath, f.DstCommunities, f.DstLargeCommunities)
			}
			continue
		}
		outbound++
		p := f.DstASPath
		if p.Len() == 0 || p.At(p.Len()-1) != f.DstAS {
			t.Fatalf("path %v towards AS%d", p, f.DstAS)
		}
		firsts[p.At(0)] = true
		if p.Len() == 3 && p.At(0) == p.At(2) {
			prepended++
		} else if p.Len() == 3 {
			threeHops++
		}
		if f.DstCommunities.Len() == 0 {
			noComms++
		}
		for c := range f.DstCommunities.All() {
			if c>>16 != LocalAS && p.At(0) != c>>16 {
				t.Fatalf("community %s from neither the network nor the neighbour (path %v)", f.DstCommunities.CommunityString(), p)
			}
		}
		if f.DstLargeCommunities.Len() > 0 {
			large++
			if c := f.DstLargeCommunities.At(0); c.ASN != LocalAS || c.Local2 != f.OutIfIndex {
				t.Fatalf("large community %v on a flow out of ifIndex %d", c, f.OutIfIndex)
			}
		}
	}
	if outbound < 1000 || noComms == 0 || noComms == outbound || large == 0 || large == outbound || prepended == 0 || threeHops == 0 || len(firsts) < 4 {
		t.Errorf("%d outbound flows: %d without communities, %d with a large one, %d prepended, %d through a middle AS, %d first ASes",
			outbound, noComms, large, prepended, threeHops, len(firsts))
	}
	if n := testing.AllocsPerRun(1000, func() { g.Next(time.Now(), &f) }); n != 0 {
		t.Errorf("Next allocates %v times", n)
	}

	// A network whose AS does not fit in 16 bits tags with large communities.
	g = NewGenerator(GeneratorOptions{Seed: 7, LocalAS: 4200000000, Local: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, InboundPercent: 1})
	for range 100 {
		g.Next(time.Now(), &f)
		if f.DstAS != 4200000000 && (f.DstCommunities.Len() != 0 || f.DstLargeCommunities.Len() != 1) {
			t.Fatalf("communities %v %v with a 32-bit local AS", f.DstCommunities, f.DstLargeCommunities)
		}
	}
}

// TestRouteTable: every outbound flow's path and communities are those of
// the route listed for (its destination's prefix, its next hop), which
// leaves through its OutIfIndex; each route has its own (prefix, next hop),
// and a peer per external interface.
func TestRouteTable(t *testing.T) {
	for _, opts := range []GeneratorOptions{
		{Seed: 5, IPv6Share: 0.3, Interfaces: 12},
		{Seed: 6, IPv6Share: 0.5, Interfaces: 14, Hosts: 50},
		{Seed: 7, Interfaces: 4, Remote: []Prefix{{netip.MustParsePrefix("2001:db8:100::/48"), 64500}}},
	} {
		g := NewGenerator(opts)
		routes := g.Routes()
		type key struct {
			p  netip.Prefix
			nh netip.Addr
		}
		byKey := map[key]Route{}
		peers := map[netip.Addr]uint32{}
		for _, r := range routes {
			k := key{r.Prefix, r.NextHop}
			if _, dup := byKey[k]; dup {
				t.Fatalf("two routes for %v via %v", r.Prefix, r.NextHop)
			}
			byKey[k] = r
			if r.Prefix.Addr().Is4() != r.NextHop.Is4() || !r.PeerAddress.Is4() || r.PeerAS == 0 {
				t.Fatalf("route %+v", r)
			}
			if as, ok := peers[r.PeerAddress]; ok && as != r.PeerAS {
				t.Fatalf("peer %v with AS %d and %d", r.PeerAddress, as, r.PeerAS)
			}
			peers[r.PeerAddress] = r.PeerAS
		}
		external := 0
		for _, itf := range Interfaces(opts.Interfaces) {
			if itf.External {
				external++
			}
		}
		if len(peers) != external || len(routes)%external != 0 {
			t.Fatalf("%+v: %d routes over %d peers, want a multiple of %d external interfaces", opts, len(routes), len(peers), external)
		}
		var f Flow
		outbound := 0
		for range 5000 {
			g.Next(time.Now(), &f)
			var match []Route
			for _, r := range routes {
				if r.Prefix.Contains(f.DstAddr) && r.NextHop == f.NextHop {
					match = append(match, r)
				}
			}
			if f.DstAS == g.localAS {
				if len(match) != 0 {
					t.Fatalf("route %+v for inbound flow to %v", match[0], f.DstAddr)
				}
				continue
			}
			outbound++
			if len(match) != 1 {
				t.Fatalf("%d routes for %v via %v", len(match), f.DstAddr, f.NextHop)
			}
			r := match[0]
			if r.IfIndex != f.OutIfIndex || r.ASPath != f.DstASPath || r.Communities != f.DstCommunities || r.LargeCommunities != f.DstLargeCommunities {
				t.Fatalf("flow to %v via %v (out %d): path %v, communities %v %v; route %+v: path %v, communities %v %v",
					f.DstAddr, f.NextHop, f.OutIfIndex, f.DstASPath, f.DstCommunities, f.DstLargeCommunities,
					r, r.ASPath, r.Communities, r.LargeCommunities)
			}
		}
		if outbound < 1000 {
			t.Errorf("%+v: %d outbound flows", opts, outbound)
		}
	}
}
