// Package bmpmsg builds the BMP messages (RFC 7854) a router sends to a BMP
// station, serialized by GoBGP's packet libraries: Initiation, Peer Up and
// Peer Down, Route Monitoring carrying BGP UPDATEs (IPv4 NLRI, or
// MP_REACH_NLRI for IPv6, with ORIGIN, a 4-byte AS_PATH, NEXT_HOP,
// COMMUNITIES and LARGE_COMMUNITY), End-of-RIB and Termination. The
// synthetic exporter's BMP speaker sends them; the BMP station's tests
// build their sessions with them.
package bmpmsg

import (
	"fmt"
	"net/netip"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/flowengine/flowengine/flow"
)

// Peer is a BGP peer of the router, as BMP's per-peer header names it.
type Peer struct {
	Address    netip.Addr
	AS         uint32
	BGPID      netip.Addr // IPv4; the Address when zero and Address is IPv4
	PostPolicy bool       // Adj-RIB-In post-policy (else pre-policy)
}

// Header returns the per-peer header of the peer's messages (a global
// instance peer, no timestamp).
func (p Peer) Header() bmp.BMPPeerHeader {
	id := p.BGPID
	if !id.IsValid() && p.Address.Is4() {
		id = p.Address
	}
	idText := "0.0.0.0"
	if id.IsValid() {
		idText = id.String()
	}
	h := bmp.NewBMPPeerHeader(bmp.BMP_PEER_TYPE_GLOBAL, 0, 0, p.Address.String(), p.AS, idText, 0)
	if p.PostPolicy {
		h.Flags |= bmp.BMP_PEER_FLAG_POST_POLICY
	}
	return *h
}

// Initiation is the first message of a session, naming the router.
func Initiation(sysName, sysDescr string) *bmp.BMPMessage {
	return bmp.NewBMPInitiation([]bmp.BMPInfoTLVInterface{
		bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_NAME, sysName),
		bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_DESCR, sysDescr),
	})
}

// Open is a BGP OPEN of a speaker with as and id, announcing 4-byte AS
// numbers and IPv4 and IPv6 unicast.
func Open(as uint32, id netip.Addr) *bgp.BGPMessage {
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
		bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapFourOctetASNumber(as),
	}
	myAS := uint16(bgp.AS_TRANS)
	if as <= 0xffff {
		myAS = uint16(as)
	}
	return bgp.NewBGPOpenMessage(myAS, 90, id.String(), []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
}

// PeerUp announces an established session with p, seen from the router's
// local address (port 179) with its AS and BGP identifier.
func PeerUp(p Peer, local netip.Addr, localAS uint32, localID netip.Addr) *bmp.BMPMessage {
	peerID := p.BGPID
	if !peerID.IsValid() {
		peerID = p.Address
		if !peerID.Is4() {
			peerID = netip.IPv4Unspecified()
		}
	}
	return bmp.NewBMPPeerUpNotification(p.Header(), local.String(), 179, 40000+uint16(p.AS%20000),
		Open(localAS, localID), Open(p.AS, peerID))
}

// PeerDown announces the end of the session with p (remote closed, no
// notification).
func PeerDown(p Peer) *bmp.BMPMessage {
	return bmp.NewBMPPeerDownNotification(p.Header(), bmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION, nil, nil)
}

// RouteMonitoring carries a BGP message received from p.
func RouteMonitoring(p Peer, m *bgp.BGPMessage) *bmp.BMPMessage {
	return bmp.NewBMPRouteMonitoring(p.Header(), m)
}

// EndOfRIB is the End-of-RIB marker of IPv4 (or IPv6) unicast.
func EndOfRIB(v6 bool) *bgp.BGPMessage {
	if v6 {
		return bgp.NewEndOfRib(bgp.RF_IPv6_UC)
	}
	return bgp.NewEndOfRib(bgp.RF_IPv4_UC)
}

// Termination ends a session: the router's administrator closed it.
func Termination(reason string) *bmp.BMPMessage {
	return bmp.NewBMPTermination([]bmp.BMPTermTLVInterface{
		bmp.NewBMPTermTLVString(bmp.BMP_TERM_TLV_TYPE_STRING, reason),
		bmp.NewBMPTermTLV16(bmp.BMP_TERM_TLV_TYPE_REASON, bmp.BMP_TERM_REASON_ADMIN),
	})
}

// Update announces prefixes, all of nextHop's family, with one attribute
// set: ORIGIN IGP, AS_PATH (one AS_SEQUENCE of 4-byte numbers, none when
// asPath is empty), NEXT_HOP for IPv4 or MP_REACH_NLRI for IPv6,
// COMMUNITIES and LARGE_COMMUNITY when not empty.
func Update(nextHop netip.Addr, asPath, comms []uint32, lcomms []flow.LargeCommunity, prefixes ...netip.Prefix) (*bgp.BGPMessage, error) {
	var segs []bgp.AsPathParamInterface
	if len(asPath) > 0 {
		segs = []bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, asPath)}
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP), bgp.NewPathAttributeAsPath(segs)}
	var nlri []*bgp.IPAddrPrefix
	var v6 []bgp.AddrPrefixInterface
	for _, p := range prefixes {
		if p.Addr().Is4() != nextHop.Is4() {
			return nil, fmt.Errorf("prefix %v with next hop %v: not one family", p, nextHop)
		}
		if p.Addr().Is4() {
			nlri = append(nlri, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Masked().Addr().String()))
		} else {
			v6 = append(v6, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Masked().Addr().String()))
		}
	}
	if nextHop.Is4() {
		attrs = append(attrs, bgp.NewPathAttributeNextHop(nextHop.String()))
	} else {
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(nextHop.String(), v6))
	}
	if len(comms) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(comms))
	}
	if len(lcomms) > 0 {
		l := make([]*bgp.LargeCommunity, len(lcomms))
		for i, c := range lcomms {
			l[i] = bgp.NewLargeCommunity(c.ASN, c.Local1, c.Local2)
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(l))
	}
	return bgp.NewBGPUpdateMessage(nil, attrs, nlri), nil
}

// Withdraw withdraws prefixes (IPv4 in the UPDATE's withdrawn routes,
// IPv6 in MP_UNREACH_NLRI).
func Withdraw(prefixes ...netip.Prefix) *bgp.BGPMessage {
	var w []*bgp.IPAddrPrefix
	var v6 []bgp.AddrPrefixInterface
	for _, p := range prefixes {
		if p.Addr().Is4() {
			w = append(w, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Masked().Addr().String()))
		} else {
			v6 = append(v6, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Masked().Addr().String()))
		}
	}
	var attrs []bgp.PathAttributeInterface
	if len(v6) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpUnreachNLRI(v6))
	}
	return bgp.NewBGPUpdateMessage(w, attrs, nil)
}
