package bmp

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
)

// testClient is a router speaking BMP to the station, its messages
// serialized by GoBGP.
type testClient struct {
	t    testing.TB
	conn net.Conn
	w    *bufio.Writer
	// tolerant ignores write errors: the station may close a hostile client.
	tolerant bool
}

func dialStation(t testing.TB, addr net.Addr, local string) *testClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &testClient{t: t, conn: c, w: bufio.NewWriterSize(c, 1<<20)}
}

func (c *testClient) send(m *bmp.BMPMessage) {
	b, err := m.Serialize()
	if err != nil {
		c.t.Fatal(err)
	}
	c.raw(b)
}

func (c *testClient) raw(b []byte) {
	if _, err := c.w.Write(b); err != nil && !c.tolerant {
		c.t.Fatal(err)
	}
}

func (c *testClient) flush() {
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// testPeer is a BGP peer of a test router.
type testPeer struct {
	hdr bmp.BMPPeerHeader
}

func newTestPeer(addr string, as uint32, post bool) testPeer {
	h := bmp.NewBMPPeerHeader(bmp.BMP_PEER_TYPE_GLOBAL, 0, 0, addr, as, addr, 0)
	if post {
		h.Flags |= bmp.BMP_PEER_FLAG_POST_POLICY
	}
	return testPeer{hdr: *h}
}

func (c *testClient) initiation() {
	c.send(bmp.NewBMPInitiation([]bmp.BMPInfoTLVInterface{bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_NAME, "test")}))
}

func (c *testClient) peerUp(p testPeer) {
	open := bgp.NewBGPOpenMessage(uint16(min(p.hdr.PeerAS, 23456)), 90, "192.0.2.254", nil)
	c.send(bmp.NewBMPPeerUpNotification(p.hdr, "192.0.2.254", 179, 40000, open, open))
}

func (c *testClient) peerDown(p testPeer) {
	c.send(bmp.NewBMPPeerDownNotification(p.hdr, bmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION, nil, nil))
}

// announce sends one update for prefixes (all of one family) with one
// attribute set.
func (c *testClient) announce(p testPeer, nextHop string, asPath []uint32, comms []uint32, lcomms []LargeCommunity, prefixes ...netip.Prefix) {
	c.send(bmp.NewBMPRouteMonitoring(p.hdr, updateMessage(nextHop, asPath, comms, lcomms, prefixes...)))
}

func updateMessage(nextHop string, asPath []uint32, comms []uint32, lcomms []LargeCommunity, prefixes ...netip.Prefix) *bgp.BGPMessage {
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, asPath)}),
	}
	if len(comms) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(comms))
	}
	if len(lcomms) > 0 {
		var l []*bgp.LargeCommunity
		for _, c := range lcomms {
			l = append(l, bgp.NewLargeCommunity(c.ASN, c.Local1, c.Local2))
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(l))
	}
	var nlri []*bgp.IPAddrPrefix
	var v6 []bgp.AddrPrefixInterface
	for _, p := range prefixes {
		if p.Addr().Is4() {
			nlri = append(nlri, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
		} else {
			v6 = append(v6, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
		}
	}
	if len(v6) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(nextHop, v6))
	} else {
		attrs = append(attrs, bgp.NewPathAttributeNextHop(nextHop))
	}
	return bgp.NewBGPUpdateMessage(nil, attrs, nlri)
}

func (c *testClient) withdraw(p testPeer, prefixes ...netip.Prefix) {
	var w []*bgp.IPAddrPrefix
	var v6 []bgp.AddrPrefixInterface
	for _, p := range prefixes {
		if p.Addr().Is4() {
			w = append(w, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
		} else {
			v6 = append(v6, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
		}
	}
	var attrs []bgp.PathAttributeInterface
	if len(v6) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpUnreachNLRI(v6))
	}
	c.send(bmp.NewBMPRouteMonitoring(p.hdr, bgp.NewBGPUpdateMessage(w, attrs, nil)))
}

func (c *testClient) endOfRIB(p testPeer) {
	c.send(bmp.NewBMPRouteMonitoring(p.hdr, bgp.NewEndOfRib(bgp.RF_IPv4_UC)))
}

// newTestEnricher builds and starts an enricher from an HCL body; listen
// defaults to a free loopback port.
func newTestEnricher(t testing.TB, body string) (*Enricher, *prometheus.Registry) {
	t.Helper()
	if !strings.Contains(body, "listen") {
		body += "\nlisten = \"127.0.0.1:0\"\n"
	}
	reg := prometheus.NewRegistry()
	cfg, diags := dsl.DecodeString(body, Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e, diags := New(cfg, engine.Env{Metrics: reg})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e, reg
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func endOfRIB() *bgp.BGPMessage { return bgp.NewEndOfRib(bgp.RF_IPv4_UC) }
