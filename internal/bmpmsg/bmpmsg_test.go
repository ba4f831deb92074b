package bmpmsg

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/flowengine/flowengine/flow"
)

// TestRoundTrip: messages parse back (with GoBGP, as the station does)
// into what they were built from.
func TestRoundTrip(t *testing.T) {
	peer := Peer{Address: netip.MustParseAddr("10.255.0.1"), AS: 174}
	parse := func(m *bmp.BMPMessage) *bmp.BMPMessage {
		t.Helper()
		b, err := m.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		got, err := bmp.ParseBMPMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if m := parse(Initiation("edge1.par", "test")); m.Header.Type != bmp.BMP_MSG_INITIATION {
		t.Errorf("initiation: %+v", m)
	}
	up := parse(PeerUp(peer, netip.MustParseAddr("127.0.0.1"), 4200000000, netip.MustParseAddr("127.0.0.1")))
	if up.Header.Type != bmp.BMP_MSG_PEER_UP_NOTIFICATION || up.PeerHeader.PeerAS != 174 || up.PeerHeader.PeerAddress.String() != "10.255.0.1" {
		t.Errorf("peer up: %+v", up.PeerHeader)
	}
	sent := up.Body.(*bmp.BMPPeerUpNotification).SentOpenMsg.Body.(*bgp.BGPOpen)
	if sent.MyAS != bgp.AS_TRANS {
		t.Errorf("a 4-byte local AS in OPEN's My AS: %d", sent.MyAS)
	}

	for _, tc := range []struct {
		nh     string
		prefix string
	}{{"10.255.0.1", "142.250.0.0/15"}, {"2001:db8:ff00::1", "2a00:1450::/32"}} {
		u, err := Update(netip.MustParseAddr(tc.nh), []uint32{174, 4200000001, 15169}, []uint32{64496<<16 | 1000},
			[]flow.LargeCommunity{{ASN: 4200000000, Local1: 1, Local2: 2}}, netip.MustParsePrefix(tc.prefix))
		if err != nil {
			t.Fatal(err)
		}
		m := parse(RouteMonitoring(peer, u))
		upd := m.Body.(*bmp.BMPRouteMonitoring).BGPUpdate.Body.(*bgp.BGPUpdate)
		var path []uint32
		var comms []uint32
		var large []*bgp.LargeCommunity
		var prefixes []string
		nextHop := ""
		for _, n := range upd.NLRI {
			prefixes = append(prefixes, n.String())
		}
		for _, a := range upd.PathAttributes {
			switch a := a.(type) {
			case *bgp.PathAttributeAsPath:
				for _, seg := range a.Value {
					path = append(path, seg.GetAS()...)
				}
			case *bgp.PathAttributeCommunities:
				comms = a.Value
			case *bgp.PathAttributeLargeCommunities:
				large = a.Values
			case *bgp.PathAttributeNextHop:
				nextHop = a.Value.String()
			case *bgp.PathAttributeMpReachNLRI:
				nextHop = a.Nexthop.String()
				for _, n := range a.Value {
					prefixes = append(prefixes, n.String())
				}
			}
		}
		if !slices.Equal(path, []uint32{174, 4200000001, 15169}) || !slices.Equal(comms, []uint32{64496<<16 | 1000}) ||
			len(large) != 1 || large[0].ASN != 4200000000 || large[0].LocalData1 != 1 || large[0].LocalData2 != 2 ||
			nextHop != tc.nh || !slices.Equal(prefixes, []string{tc.prefix}) {
			t.Errorf("%s via %s: path %v, communities %v, large %v, next hop %s, prefixes %v", tc.prefix, tc.nh, path, comms, large, nextHop, prefixes)
		}
	}
	if _, err := Update(netip.MustParseAddr("10.0.0.1"), nil, nil, nil, netip.MustParsePrefix("2001:db8::/32")); err == nil {
		t.Error("an IPv6 prefix with an IPv4 next hop")
	}
	if m := parse(RouteMonitoring(peer, EndOfRIB(true))); m.Header.Type != bmp.BMP_MSG_ROUTE_MONITORING {
		t.Errorf("end-of-rib: %+v", m)
	}
	if m := parse(Termination("bye")); m.Header.Type != bmp.BMP_MSG_TERMINATION {
		t.Errorf("termination: %+v", m)
	}
}
