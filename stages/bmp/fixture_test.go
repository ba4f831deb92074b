package bmp

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// fixture is a BMP session of Debian's gobgpd (3.10), recorded by
// TestRecordGoBGPSession: Loc-RIB routes for IPv4 (communities, large
// communities), IPv6 and VPNv4, a withdrawal, then the daemon's stop.
var fixture = filepath.Join("testdata", "gobgpd-locrib.bmp")

// TestRecordGoBGPSession records the fixture again (BMP_RECORD=1).
func TestRecordGoBGPSession(t *testing.T) {
	if os.Getenv("BMP_RECORD") == "" {
		t.Skip("set BMP_RECORD=1 to record " + fixture + " from gobgpd")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		data, _ := io.ReadAll(c)
		got <- data
	}()
	g := startGoBGP(t, 64500, "192.0.2.1", "127.0.0.1:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	g.rib("add", "203.0.113.0/24", "aspath", "64501,3356,65001", "community", "65000:100,65000:200",
		"large-community", "65000:1:2", "nexthop", "198.51.100.1")
	g.rib("add", "198.18.0.0/15", "aspath", "64501,65002", "nexthop", "198.51.100.1")
	g.rib("-a", "ipv6", "add", "2001:db8:100::/48", "aspath", "64501,65006", "community", "65000:6", "nexthop", "2001:db8::1")
	g.rib("-a", "vpnv4", "add", "10.10.0.0/16", "label", "100", "rd", "65000:100", "aspath", "64501,65100", "nexthop", "198.51.100.9")
	g.rib("add", "192.0.2.0/24", "aspath", "64501,65003", "nexthop", "198.51.100.1")
	g.rib("del", "192.0.2.0/24")
	time.Sleep(time.Second)
	g.stop()
	data := <-got
	if len(data) == 0 {
		t.Fatal("nothing recorded")
	}
	if err := os.WriteFile(fixture, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d bytes", len(data))
}

// splitMessages cuts a recorded session into its messages.
func splitMessages(t testing.TB, data []byte) [][]byte {
	var out [][]byte
	for len(data) >= 6 {
		n := int(binary.BigEndian.Uint32(data[1:5]))
		if n < 6 || n > len(data) {
			t.Fatalf("bad length %d in the fixture", n)
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// TestReplayGoBGPSession sends the recorded session to the station.
func TestReplayGoBGPSession(t *testing.T) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if len(splitMessages(t, data)) < 5 {
		t.Fatal("fixture too short")
	}
	e, reg := newTestEnricher(t, `keep = "1h"`)
	c := dialStation(t, e.Addr(), "127.0.0.1")
	c.raw(data)
	c.flush()
	waitFor(t, 5*time.Second, "4 routes", func() bool { return e.RIB().Stats().Paths == 4 })
	for _, tc := range []struct {
		addr   string
		origin uint32
		bits   int
	}{
		{"203.0.113.1", 65001, 24}, {"198.19.1.1", 65002, 15}, {"2001:db8:100::1", 65006, 48}, {"10.10.5.5", 65100, 16},
	} {
		rt, ok := e.RIB().Lookup(ma(tc.addr), ma("127.0.0.1"), ma("0.0.0.0"))
		if !ok || rt.OriginAS != tc.origin || rt.Prefix.Bits() != tc.bits {
			t.Errorf("%s: %+v %v, want origin %d /%d", tc.addr, rt, ok, tc.origin, tc.bits)
		}
	}
	if rt, ok := e.RIB().Lookup(ma("203.0.113.1"), netipAddr(nil), ma("0.0.0.0")); !ok ||
		!slices.Equal(rt.Communities, []uint32{65000<<16 | 100, 65000<<16 | 200}) || !slices.Equal(rt.LargeCommunities, []LargeCommunity{{ASN: 65000, Local1: 1, Local2: 2}}) {
		t.Errorf("communities: %+v", rt)
	}
	if _, ok := e.RIB().Lookup(ma("192.0.2.1"), ma("127.0.0.1"), ma("0.0.0.0")); ok {
		t.Error("withdrawn route found")
	}
	if n := counter(t, reg, "flowengine_bmp_messages_total", "type", "route-monitoring"); n < 6 {
		t.Errorf("%v route monitoring messages counted", n)
	}
}
