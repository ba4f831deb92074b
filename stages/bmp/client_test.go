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
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/bmpmsg"
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
	peer bmpmsg.Peer
	hdr  bmp.BMPPeerHeader
}

func newTestPeer(addr string, as uint32, post bool) testPeer {
	p := bmpmsg.Peer{Address: netip.MustParseAddr(addr), AS: as, PostPolicy: post}
	return testPeer{peer: p, hdr: p.Header()}
}

func (c *testClient) initiation() {
	c.send(bmpmsg.Initiation("test", "flowengine test router"))
}

func (c *testClient) peerUp(p testPeer) {
	c.send(bmpmsg.PeerUp(p.peer, netip.MustParseAddr("192.0.2.254"), 64500, netip.MustParseAddr("192.0.2.254")))
}

func (c *testClient) peerDown(p testPeer) {
	c.send(bmpmsg.PeerDown(p.peer))
}

// announce sends one update for prefixes (all of one family) with one
// attribute set.
func (c *testClient) announce(p testPeer, nextHop string, asPath []uint32, comms []uint32, lcomms []LargeCommunity, prefixes ...netip.Prefix) {
	c.send(bmp.NewBMPRouteMonitoring(p.hdr, updateMessage(nextHop, asPath, comms, lcomms, prefixes...)))
}

// updateMessage is bmpmsg.Update, panicking on a family mismatch (a bug
// of the test).
func updateMessage(nextHop string, asPath []uint32, comms []uint32, lcomms []LargeCommunity, prefixes ...netip.Prefix) *bgp.BGPMessage {
	l := make([]flow.LargeCommunity, len(lcomms))
	for i, c := range lcomms {
		l[i] = flow.LargeCommunity(c)
	}
	m, err := bmpmsg.Update(netip.MustParseAddr(nextHop), asPath, comms, l, prefixes...)
	if err != nil {
		panic(err)
	}
	return m
}

func (c *testClient) withdraw(p testPeer, prefixes ...netip.Prefix) {
	c.send(bmpmsg.RouteMonitoring(p.peer, bmpmsg.Withdraw(prefixes...)))
}

func (c *testClient) endOfRIB(p testPeer) {
	c.send(bmpmsg.RouteMonitoring(p.peer, bmpmsg.EndOfRIB(false)))
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

func endOfRIB() *bgp.BGPMessage { return bmpmsg.EndOfRIB(false) }
