package bmp

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/flowengine/flowengine/flow"
)

func mp(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ma(s string) netip.Addr   { return netip.MustParseAddr(s) }

func enrich(t testing.TB, e *Enricher, recs ...flow.Record) []flow.Record {
	t.Helper()
	b := &flow.Batch{Records: slices.Clone(recs)}
	if err := e.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b.Records
}

func counter(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				total += c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				total += g.GetValue()
			}
		}
	}
	return total
}

func TestStationRoutes(t *testing.T) {
	e, reg := newTestEnricher(t, `keep = "300ms"`)
	c := dialStation(t, e.Addr(), "127.0.0.1")
	c.initiation()
	p1 := newTestPeer("198.51.100.1", 64501, false)
	p2 := newTestPeer("2001:db8::2", 64502, true)
	c.peerUp(p1)
	c.peerUp(p2)
	c.announce(p1, "198.51.100.1", []uint32{64501, 3356, 65001}, []uint32{64501<<16 | 100}, []LargeCommunity{{ASN: 64501, Local1: 1, Local2: 2}},
		mp("203.0.113.0/24"), mp("203.0.0.0/16"))
	c.announce(p1, "198.51.100.1", []uint32{64501, 65010}, nil, nil, mp("192.0.2.0/24"))
	c.announce(p2, "2001:db8::2", []uint32{64502, 65006}, []uint32{1, 2}, nil, mp("2001:db8:6::/48"))
	c.endOfRIB(p1)
	c.flush()
	waitFor(t, 5*time.Second, "4 routes", func() bool { return e.RIB().Stats().Paths == 4 })

	rt, ok := e.RIB().Lookup(ma("203.0.113.9"), ma("127.0.0.1"), netip.Addr{})
	want := Route{Prefix: mp("203.0.113.0/24"), NextHop: ma("198.51.100.1"), OriginAS: 65001, ASPath: []uint32{64501, 3356, 65001},
		Communities: []uint32{64501<<16 | 100}, LargeCommunities: []LargeCommunity{{ASN: 64501, Local1: 1, Local2: 2}}}
	if !ok || fmt.Sprint(rt) != fmt.Sprint(want) {
		t.Errorf("Lookup = %+v %v, want %+v", rt, ok, want)
	}

	got := enrich(t, e,
		flow.Record{ExporterAddress: ma("127.0.0.1"), SrcAddr: ma("192.0.2.7"), DstAddr: ma("203.0.9.1")},
		flow.Record{ExporterAddress: ma("10.0.0.1"), SrcAddr: ma("2001:db8:6::1"), DstAddr: ma("2001:db8:7::1"), SrcAS: 7},
	)
	if r := got[0]; r.DstNetMask != 16 || r.SrcNetMask != 24 || r.NextHop != ma("198.51.100.1") || r.DstAS != 65001 || r.SrcAS != 65010 ||
		r.DstASPath.String() != "64501 3356 65001" || r.DstCommunities.CommunityString() != "64501:100" || r.DstLargeCommunities.String() != "64501:1:2" {
		t.Errorf("flow 0 = mask %d/%d nh %s as %d/%d path %s comms %s large %s", r.SrcNetMask, r.DstNetMask, r.NextHop, r.SrcAS, r.DstAS,
			r.DstASPath, r.DstCommunities.CommunityString(), r.DstLargeCommunities)
	}
	if r := got[1]; r.SrcNetMask != 48 || r.DstNetMask != 0 || r.SrcAS != 7 || r.NextHop.IsValid() {
		t.Errorf("flow 1 = mask %d/%d nh %s as %d/%d", r.SrcNetMask, r.DstNetMask, r.NextHop, r.SrcAS, r.DstAS)
	}

	// Withdrawal: the /16 remains.
	c.withdraw(p1, mp("203.0.113.0/24"))
	c.withdraw(p2, mp("2001:db8:6::/48"))
	c.flush()
	waitFor(t, 5*time.Second, "withdrawals", func() bool { return e.RIB().Stats().Paths == 2 })
	if rt, ok := e.RIB().Lookup(ma("203.0.113.9"), netip.Addr{}, netip.Addr{}); !ok || rt.Prefix != mp("203.0.0.0/16") {
		t.Errorf("after withdrawal: %+v %v", rt, ok)
	}

	// Peer down: its routes stay for keep, then go.
	c.peerDown(p1)
	c.flush()
	waitFor(t, 5*time.Second, "peer down", func() bool {
		return counter(t, reg, "flowengine_bmp_messages_total", "type", "peer-down") == 1
	})
	if _, ok := e.RIB().Lookup(ma("192.0.2.1"), netip.Addr{}, netip.Addr{}); !ok {
		t.Error("routes gone at peer down, before keep")
	}
	waitFor(t, 5*time.Second, "routes expired after keep", func() bool { return e.RIB().Stats().Paths == 0 })
	if n := counter(t, reg, "flowengine_bmp_messages_total", "type", "end-of-rib"); n != 1 {
		t.Errorf("end-of-rib counted %v", n)
	}
}

func TestStationSessionRestartAndRouters(t *testing.T) {
	e, reg := newTestEnricher(t, `
keep      = "1h"
exporters = { "192.0.2.100" = "127.0.0.2" }
`)
	peer := newTestPeer("198.51.100.1", 64501, false)
	pfx := mp("203.0.113.0/24")

	r1 := dialStation(t, e.Addr(), "127.0.0.1")
	r1.peerUp(peer)
	r1.announce(peer, "198.51.100.1", []uint32{64501, 65001}, nil, nil, pfx)
	r1.flush()
	r2 := dialStation(t, e.Addr(), "127.0.0.2")
	r2.peerUp(peer)
	r2.announce(peer, "198.51.100.2", []uint32{64502, 65002}, nil, nil, pfx)
	r2.flush()
	waitFor(t, 5*time.Second, "2 routers", func() bool { return e.RIB().Stats().Paths == 2 })

	flows := func() []flow.Record {
		return enrich(t, e,
			flow.Record{ExporterAddress: ma("127.0.0.1"), DstAddr: ma("203.0.113.1")},
			flow.Record{ExporterAddress: ma("127.0.0.2"), DstAddr: ma("203.0.113.1")},
			flow.Record{ExporterAddress: ma("192.0.2.100"), DstAddr: ma("203.0.113.1")},
		)
	}
	got := flows()
	if got[0].DstAS != 65001 || got[1].DstAS != 65002 || got[2].DstAS != 65002 || got[0].NextHop != ma("198.51.100.1") || got[1].NextHop != ma("198.51.100.2") {
		t.Errorf("per-router lookup: %d %s, %d %s, %d", got[0].DstAS, got[0].NextHop, got[1].DstAS, got[1].NextHop, got[2].DstAS)
	}

	// Router 1's session ends: its routes stay (keep = 1h) and still serve
	// its flows; a new session's routes replace them.
	_ = r1.conn.Close()
	waitFor(t, 5*time.Second, "session down", func() bool {
		return sessionsOpen(e) == 1
	})
	if got := flows(); got[0].DstAS != 65001 {
		t.Errorf("after session end, router 1's flow AS = %d, want 65001 (kept)", got[0].DstAS)
	}
	r1 = dialStation(t, e.Addr(), "127.0.0.1")
	r1.peerUp(peer)
	r1.announce(peer, "198.51.100.1", []uint32{64501, 65011}, nil, nil, pfx)
	r1.flush()
	waitFor(t, 5*time.Second, "the new session's route", func() bool { return flows()[0].DstAS == 65011 })
	// It replaced the one the first session left.
	if n := e.RIB().Stats().Paths; n != 2 {
		t.Errorf("%d paths after restart, want 2", n)
	}
	if n := counter(t, reg, "flowengine_bmp_sessions_total", "router", "127.0.0.1"); n != 2 {
		t.Errorf("sessions of router 1 = %v, want 2", n)
	}
}

func sessionsOpen(e *Enricher) int {
	e.station.mu.Lock()
	defer e.station.mu.Unlock()
	return len(e.station.sessions)
}

func TestStationRefusedAndMaxRoutes(t *testing.T) {
	e, reg := newTestEnricher(t, `
allow      = ["127.0.0.1/32"]
max_routes = 10
keep       = "1h"
`)
	refused := dialStation(t, e.Addr(), "127.0.0.3")
	waitFor(t, 5*time.Second, "refused", func() bool { return counter(t, reg, "flowengine_bmp_refused_total") == 1 })
	_ = refused

	c := dialStation(t, e.Addr(), "127.0.0.1")
	p := newTestPeer("198.51.100.1", 64501, false)
	c.peerUp(p)
	var pfx []netip.Prefix
	for i := range 20 {
		pfx = append(pfx, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24))
	}
	c.announce(p, "198.51.100.1", []uint32{64501}, nil, nil, pfx...)
	c.flush()
	waitFor(t, 5*time.Second, "cut off", func() bool {
		return counter(t, reg, "flowengine_bmp_max_routes_exceeded_total") == 1 && sessionsOpen(e) == 0
	})
	if n := e.RIB().Stats().Paths; n != 10 {
		t.Errorf("routes kept after cut-off = %d, want 10", n)
	}
}

func TestStationMalformed(t *testing.T) {
	e, reg := newTestEnricher(t, `keep = "1h"`)
	good := dialStation(t, e.Addr(), "127.0.0.1")
	p := newTestPeer("198.51.100.1", 64501, false)
	good.peerUp(p)
	good.announce(p, "198.51.100.1", []uint32{64501, 65001}, nil, nil, mp("203.0.113.0/24"))
	good.flush()
	waitFor(t, 5*time.Second, "good route", func() bool { return e.RIB().Stats().Paths == 1 })

	for _, c := range []struct {
		name, reason string
		data         []byte
	}{
		{"garbage", "version", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"huge length", "length", []byte{3, 0xff, 0xff, 0xff, 0xff, 0}},
		{"truncated", "truncated", []byte{3, 0, 0, 0, 100, 0, 1, 2}},
		{"bad body", "decode", []byte{3, 0, 0, 0, 10, 0, 1, 2, 3, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := dialStation(t, e.Addr(), "127.0.0.4")
			h.raw(c.data)
			h.flush()
			if c.reason == "truncated" {
				_ = h.conn.(*net.TCPConn).CloseWrite()
			}
			waitFor(t, 5*time.Second, "error counted", func() bool {
				return counter(t, reg, "flowengine_bmp_errors_total", "router", "127.0.0.4", "reason", c.reason) == 1
			})
		})
	}
	// The good session is unaffected.
	good.announce(p, "198.51.100.1", []uint32{64501, 65002}, nil, nil, mp("203.0.114.0/24"))
	good.flush()
	waitFor(t, 5*time.Second, "good session goes on", func() bool { return e.RIB().Stats().Paths == 2 })
}

// TestStationAttributeFlood: a router sending a unique attribute set with
// every route is bounded by max_routes, and what it leaves is freed when its
// routes expire.
func TestStationAttributeFlood(t *testing.T) {
	e, reg := newTestEnricher(t, `
max_routes = 5000
keep       = "200ms"
`)
	c := dialStation(t, e.Addr(), "127.0.0.1")
	p := newTestPeer("198.51.100.1", 64501, false)
	c.peerUp(p)
	c.tolerant = true
	for i := range 20000 {
		c.announce(p, "198.51.100.1", []uint32{64501, uint32(100000 + i)}, []uint32{uint32(i)}, []LargeCommunity{{ASN: 1, Local1: 2, Local2: uint32(i)}},
			netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	_ = c.w.Flush() // the station may have cut the session already
	waitFor(t, 10*time.Second, "cut off", func() bool { return counter(t, reg, "flowengine_bmp_max_routes_exceeded_total") == 1 })
	if st := e.RIB().Stats(); st.Paths != 5000 || st.AttrSets != 5000 {
		t.Errorf("after flood: %+v", st)
	}
	waitFor(t, 5*time.Second, "expired", func() bool {
		st := e.RIB().Stats()
		return st.Paths == 0 && st.AttrSets == 0 && st.ASPaths == 0 && st.CommunitySets == 0 && st.LargeCommunitySets == 0
	})
}

func TestParseRD(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"0", 0}, {"65000:100", 65000<<32 | 100}, {"192.0.2.1:10", 1<<48 | 0xc0000201<<16 | 10}, {"4200000000:7", 2<<48 | 4200000000<<16 | 7},
	} {
		got, err := ParseRD(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRD(%q) = %x, %v; want %x", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"x", "65000:x", "192.0.2.1:70000", ":"} {
		if _, err := ParseRD(bad); err == nil || !strings.Contains(err.Error(), "route distinguisher") {
			t.Errorf("ParseRD(%q) error = %v", bad, err)
		}
	}
}

// FuzzDecode feeds the decoder arbitrary messages: it returns an error or a
// message, never panics, and the station's handling of what it returns
// never panics either.
func FuzzDecode(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(m)
	}
	if data, err := os.ReadFile(fixture); err == nil {
		for _, m := range splitMessages(f, data) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 5 {
			binary.BigEndian.PutUint32(data[1:5], uint32(len(data)))
		}
		// Decoded as is, and as if every peer had ADD-PATH in every
		// family kept.
		addPath := &session{router: ma("127.0.0.1"), label: "127.0.0.1", addPath: map[addPathPeer][]*bgp.MarshallingOption{}}
		if len(data) >= 6+42 {
			var h bmp.BMPPeerHeader
			if h.DecodeFromBytes(data[6:]) == nil {
				addPath.addPath[addPathPeerOf(&h)] = []*bgp.MarshallingOption{{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{
					bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_RECEIVE, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_RECEIVE,
					bgp.RF_IPv4_VPN: bgp.BGP_ADD_PATH_RECEIVE, bgp.RF_IPv6_VPN: bgp.BGP_ADD_PATH_RECEIVE}}}
			}
		}
		for _, ss := range []*session{{router: ma("127.0.0.1"), label: "127.0.0.1"}, addPath} {
			if _, _, err := decode(data, ss); err != nil {
				continue
			}
			st := &station{rib: NewRIB(), opts: options{collectASPaths: true, collectComms: true, maxRoutes: 1000},
				logger: discardLogger(), now: time.Now, m: testStationMetrics(), sessions: map[*session]struct{}{}}
			_ = st.handle(ss, data)
		}
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testStationMetrics() *stationMetrics {
	return &stationMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "m"}, []string{"router", "type"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "e"}, []string{"router", "reason"}),
		refused:  prometheus.NewCounter(prometheus.CounterOpts{Name: "r"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s"}, []string{"router"}),
		cutoff:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"router"}),
		swept:    prometheus.NewCounter(prometheus.CounterOpts{Name: "w"}),
	}
}

// seedMessages are valid messages of every kind the station handles.
func seedMessages() [][]byte {
	p := newTestPeer("198.51.100.1", 64501, false)
	p6 := newTestPeer("2001:db8::1", 64502, true)
	open := bgp.NewBGPOpenMessage(64501, 90, "192.0.2.254", nil)
	vpn := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{64501, 65001})}),
		bgp.NewPathAttributeMpReachNLRI("198.51.100.1", []bgp.AddrPrefixInterface{
			bgp.NewLabeledVPNIPAddrPrefix(24, "203.0.113.0", *bgp.NewMPLSLabelStack(100), bgp.NewRouteDistinguisherTwoOctetAS(65000, 100))}),
	}, nil)
	msgs := []*bmp.BMPMessage{
		bmp.NewBMPInitiation([]bmp.BMPInfoTLVInterface{bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_NAME, "r1")}),
		bmp.NewBMPPeerUpNotification(p.hdr, "192.0.2.254", 179, 40000, open, open),
		bmp.NewBMPRouteMonitoring(p.hdr, updateMessage("198.51.100.1", []uint32{64501, 65001}, []uint32{1}, []LargeCommunity{{ASN: 1, Local1: 2, Local2: 3}}, mp("203.0.113.0/24"))),
		bmp.NewBMPRouteMonitoring(p6.hdr, updateMessage("2001:db8::1", []uint32{64502}, nil, nil, mp("2001:db8:1::/48"))),
		bmp.NewBMPRouteMonitoring(p.hdr, vpn),
		bmp.NewBMPRouteMonitoring(p.hdr, bgp.NewEndOfRib(bgp.RF_IPv6_UC)),
		bmp.NewBMPPeerDownNotification(p.hdr, bmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION, nil, nil),
		bmp.NewBMPTermination([]bmp.BMPTermTLVInterface{bmp.NewBMPTermTLV16(bmp.BMP_TERM_TLV_TYPE_REASON, bmp.BMP_TERM_REASON_ADMIN)}),
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := m.Serialize()
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}

// TestVPNRoutes: L3VPN routes carry their RD; rds keeps only some.
func TestVPNRoutes(t *testing.T) {
	e, _ := newTestEnricher(t, `rds = ["65000:100"]`)
	c := dialStation(t, e.Addr(), "127.0.0.1")
	p := newTestPeer("198.51.100.1", 64501, false)
	c.peerUp(p)
	for _, rd := range []uint16{100, 200} {
		c.send(bmp.NewBMPRouteMonitoring(p.hdr, bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(0),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{64501, 65000 + uint32(rd)})}),
			bgp.NewPathAttributeMpReachNLRI("198.51.100.1", []bgp.AddrPrefixInterface{
				bgp.NewLabeledVPNIPAddrPrefix(24, "203.0.113.0", *bgp.NewMPLSLabelStack(100), bgp.NewRouteDistinguisherTwoOctetAS(65000, uint32(rd)))}),
		}, nil)))
	}
	c.flush()
	waitFor(t, 5*time.Second, "vpn route", func() bool { return e.RIB().Stats().Paths == 1 })
	if rt, ok := e.RIB().Lookup(ma("203.0.113.1"), netip.Addr{}, netip.Addr{}); !ok || rt.OriginAS != 65100 || rt.Prefix.Bits() != 24 {
		t.Errorf("vpn lookup = %+v %v", rt, ok)
	}
}

// TestStationPeerFlood: a router announcing ever new peers is cut off at
// maxPeers.
func TestStationPeerFlood(t *testing.T) {
	e, reg := newTestEnricher(t, `keep = "1h"`)
	c := dialStation(t, e.Addr(), "127.0.0.1")
	c.tolerant = true
	for i := range maxPeers/2 + 10 { // two tables (pre and post) a peer
		c.peerUp(newTestPeer(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String(), 64501, false))
	}
	_ = c.w.Flush()
	waitFor(t, 10*time.Second, "cut off", func() bool {
		return counter(t, reg, "flowengine_bmp_errors_total", "reason", "peers") == 1 && sessionsOpen(e) == 0
	})
	if n := e.RIB().Stats().Peers; n > maxPeers {
		t.Errorf("%d peers kept, over %d", n, maxPeers)
	}
}

// TestConcurrentLookups enriches flows while routes come and go (run with
// -race).
func TestConcurrentLookups(t *testing.T) {
	e, _ := newTestEnricher(t, "")
	c := dialStation(t, e.Addr(), "127.0.0.1")
	p := newTestPeer("198.51.100.1", 64501, false)
	c.peerUp(p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i % 50), 0, 0}), 16)
			if i%3 == 2 {
				c.withdraw(p, pfx)
			} else {
				c.announce(p, "198.51.100.1", []uint32{64501, uint32(65000 + i)}, []uint32{uint32(i)}, nil, pfx)
			}
			if i%100 == 0 {
				c.flush()
			}
		}
		c.flush()
	}()
	recs := make([]flow.Record, 64)
	for i := range recs {
		recs[i] = flow.Record{ExporterAddress: ma("127.0.0.1"), SrcAddr: netip.AddrFrom4([4]byte{10, byte(i), 1, 1}), DstAddr: netip.AddrFrom4([4]byte{10, byte(i + 1), 1, 1})}
	}
	for {
		select {
		case <-done:
			return
		default:
			got := enrich(t, e, recs...)
			for _, r := range got {
				if r.DstAS != 0 && r.DstNetMask != 16 {
					t.Fatalf("flow to %s: AS %d with mask %d", r.DstAddr, r.DstAS, r.DstNetMask)
				}
			}
		}
	}
}

// TestTreatAsWithdraw: an update with a malformed attribute withdraws its
// routes (RFC 7606), counted, and the session goes on.
func TestTreatAsWithdraw(t *testing.T) {
	e, reg := newTestEnricher(t, "")
	c := dialStation(t, e.Addr(), "127.0.0.1")
	p := newTestPeer("198.51.100.1", 64501, false)
	c.peerUp(p)
	c.announce(p, "198.51.100.1", []uint32{64501, 65001}, nil, nil, mp("203.0.113.0/24"), mp("203.0.114.0/24"))
	c.flush()
	waitFor(t, 5*time.Second, "routes", func() bool { return e.RIB().Stats().Paths == 2 })
	b, err := bmp.NewBMPRouteMonitoring(p.hdr, updateMessage("198.51.100.1", []uint32{64501, 65002}, nil, nil, mp("203.0.113.0/24"))).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	const origin = 6 + 42 + 19 + 2 + 2 // flags of the first attribute, ORIGIN
	if bgp.BGPAttrType(b[origin+1]) != bgp.BGP_ATTR_TYPE_ORIGIN {
		t.Fatalf("attribute at %d is %d, not ORIGIN", origin, b[origin+1])
	}
	b[origin] = 0xc0 // optional: wrong flags for ORIGIN
	c.raw(b)
	c.announce(p, "198.51.100.1", []uint32{64501, 65003}, nil, nil, mp("198.18.0.0/15"))
	c.flush()
	waitFor(t, 5*time.Second, "withdrawal and the next route", func() bool {
		_, ok := e.RIB().Lookup(ma("198.18.0.1"), netip.Addr{}, netip.Addr{})
		return ok && e.RIB().Stats().Paths == 2
	})
	if _, ok := e.RIB().Lookup(ma("203.0.113.1"), netip.Addr{}, netip.Addr{}); ok {
		t.Error("route of the malformed update not withdrawn")
	}
	if n := counter(t, reg, "flowengine_bmp_errors_total", "reason", "treat-as-withdraw"); n != 1 {
		t.Errorf("treat-as-withdraw counted %v", n)
	}
}

// peerStates returns the state of a router's peers as the pipeline API
// shows them, "address table" to up.
func peerStates(e *Enricher, router string) map[string]PeerState {
	got := map[string]PeerState{}
	for _, r := range e.Details().(map[string]any)["routers"].([]RouterState) {
		if r.Address == router {
			for _, p := range r.Peers {
				got[p.Address+" "+p.Table] = p
			}
		}
	}
	return got
}

// TestStationTwoSessionsOneRouter: when one of two BMP sessions from one
// router ends, only the peers it fed go down; a session that replaces
// another before the old one is seen dead takes its peers over, and the
// old one's end leaves them up.
func TestStationTwoSessionsOneRouter(t *testing.T) {
	e, _ := newTestEnricher(t, `keep = "1h"`)
	p1 := newTestPeer("198.51.100.1", 64501, false)
	p2 := newTestPeer("198.51.100.2", 64502, false)
	pfx1, pfx2 := mp("203.0.113.0/24"), mp("198.18.0.0/15")

	a := dialStation(t, e.Addr(), "127.0.0.1")
	a.peerUp(p1)
	a.announce(p1, "198.51.100.1", []uint32{64501, 65001}, nil, nil, pfx1)
	a.flush()
	b := dialStation(t, e.Addr(), "127.0.0.1")
	b.peerUp(p2)
	b.announce(p2, "198.51.100.2", []uint32{64502, 65002}, nil, nil, pfx2)
	b.flush()
	waitFor(t, 5*time.Second, "2 routes", func() bool { return e.RIB().Stats().Paths == 2 })
	up := func(peer string) bool { return peerStates(e, "127.0.0.1")[peer+" pre-policy"].Up }

	// Session a ends: its peer goes down, b's stays up.
	_ = a.conn.Close()
	waitFor(t, 5*time.Second, "session a down", func() bool { return sessionsOpen(e) == 1 })
	if up("198.51.100.1") || !up("198.51.100.2") {
		t.Errorf("after session a ended: peers %+v, want .1 down and .2 up", peerStates(e, "127.0.0.1"))
	}

	// Session c replaces b (the router reconnected; b is not seen dead
	// yet): c's peer up and routes take over b's.
	c := dialStation(t, e.Addr(), "127.0.0.1")
	c.peerUp(p2)
	c.announce(p2, "198.51.100.2", []uint32{64502, 65012}, nil, nil, pfx2)
	c.flush()
	dst := func() uint32 {
		return enrich(t, e, flow.Record{ExporterAddress: ma("127.0.0.1"), DstAddr: ma("198.19.1.1")})[0].DstAS
	}
	waitFor(t, 5*time.Second, "c's route", func() bool { return dst() == 65012 })
	_ = b.conn.Close()
	waitFor(t, 5*time.Second, "session b down", func() bool { return sessionsOpen(e) == 1 })
	if !up("198.51.100.2") {
		t.Errorf("after session b ended: peers %+v, want .2 up (fed by c)", peerStates(e, "127.0.0.1"))
	}
	if got := dst(); got != 65012 {
		t.Errorf("DstAS = %d after session b ended, want c's 65012", got)
	}
	// Peer .1's route (kept) and c's; b's was replaced.
	if st := e.RIB().Stats(); st.Paths != 2 {
		t.Errorf("paths = %d, want 2", st.Paths)
	}
	if n := len(peerStates(e, "127.0.0.1")); n != 4 { // two peers, pre- and post-policy tables
		t.Errorf("peers shown: %+v, want 4", peerStates(e, "127.0.0.1"))
	}

	// c ends: now .2 goes down too, its route kept.
	_ = c.conn.Close()
	waitFor(t, 5*time.Second, "session c down", func() bool { return sessionsOpen(e) == 0 })
	if up("198.51.100.2") {
		t.Errorf("after session c ended: .2 still up")
	}
	if got := dst(); got != 65012 {
		t.Errorf("DstAS = %d after every session ended, want 65012 (kept)", got)
	}
}

// TestStationCollect: without collect_as_paths and collect_communities, the
// flows get the origin AS but no path nor communities.
func TestStationCollect(t *testing.T) {
	e, _ := newTestEnricher(t, "collect_as_paths = false\ncollect_communities = false\n")
	c := dialStation(t, e.Addr(), "127.0.0.1")
	p := newTestPeer("198.51.100.1", 64501, false)
	c.peerUp(p)
	c.announce(p, "198.51.100.1", []uint32{64501, 3356, 65001}, []uint32{64501<<16 | 100}, []LargeCommunity{{ASN: 64501, Local1: 1, Local2: 2}},
		mp("203.0.113.0/24"))
	c.flush()
	waitFor(t, 5*time.Second, "route", func() bool { return e.RIB().Stats().Paths == 1 })
	r := enrich(t, e, flow.Record{ExporterAddress: ma("127.0.0.1"), DstAddr: ma("203.0.113.1")})[0]
	if r.DstAS != 65001 || r.DstASPath.Len() != 0 || r.DstCommunities.Len() != 0 || r.DstLargeCommunities.Len() != 0 {
		t.Errorf("flow: as %d path %q comms %q large %q", r.DstAS, r.DstASPath, r.DstCommunities, r.DstLargeCommunities)
	}
	if st := e.RIB().Stats(); st.ASPaths != 0 || st.CommunitySets != 0 || st.LargeCommunitySets != 0 {
		t.Errorf("stats %+v: lists kept", st)
	}
}

// TestStationAddPath: a peer with ADD-PATH negotiated (its OPEN can send
// several paths, the router's can receive them) sends two paths for one
// prefix in each family; both are kept, told apart by their path
// identifiers, flows pick theirs by next hop, and the withdrawal of one
// path leaves the other.
func TestStationAddPath(t *testing.T) {
	e, _ := newTestEnricher(t, `keep = "1h"`)
	c := dialStation(t, e.Addr(), "127.0.0.1")
	p := newTestPeer("198.51.100.1", 64501, false)
	open := func(mode bgp.BGPAddPathMode) *bgp.BGPMessage {
		return bgp.NewBGPOpenMessage(64501, 90, "192.0.2.254", []bgp.OptionParameterInterface{
			bgp.NewOptionParameterCapability([]bgp.ParameterCapabilityInterface{
				bgp.NewCapAddPath([]*bgp.CapAddPathTuple{bgp.NewCapAddPathTuple(bgp.RF_IPv4_UC, mode), bgp.NewCapAddPathTuple(bgp.RF_IPv6_UC, mode)}),
			}),
		})
	}
	// Sent: the router's OPEN (it receives); received: the peer's (it sends).
	c.send(bmp.NewBMPPeerUpNotification(p.hdr, "192.0.2.254", 179, 40000, open(bgp.BGP_ADD_PATH_RECEIVE), open(bgp.BGP_ADD_PATH_SEND)))
	opt := &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_SEND, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_SEND}}
	send := func(m *bgp.BGPMessage) {
		b, err := bmp.NewBMPRouteMonitoring(p.hdr, m).Serialize(opt)
		if err != nil {
			t.Fatal(err)
		}
		c.raw(b)
	}
	withID := func(m *bgp.BGPMessage, id uint32) *bgp.BGPMessage {
		u := m.Body.(*bgp.BGPUpdate)
		for _, n := range u.NLRI {
			n.SetPathLocalIdentifier(id)
		}
		for _, n := range u.WithdrawnRoutes {
			n.SetPathLocalIdentifier(id)
		}
		for _, a := range u.PathAttributes {
			if mp, ok := a.(*bgp.PathAttributeMpReachNLRI); ok {
				for _, n := range mp.Value {
					n.SetPathLocalIdentifier(id)
				}
			}
		}
		return m
	}
	for id := uint32(1); id <= 2; id++ {
		send(withID(updateMessage(fmt.Sprintf("198.51.100.1%d", id), []uint32{64501, 65010 + id}, nil, nil, mp("203.0.113.0/24")), id))
		send(withID(updateMessage(fmt.Sprintf("2001:db8::1%d", id), []uint32{64501, 65020 + id}, nil, nil, mp("2001:db8:1::/48")), id))
	}
	c.flush()
	waitFor(t, 5*time.Second, "4 paths", func() bool { return e.RIB().Stats().Paths == 4 })
	dst := func(addr, nh string) uint32 {
		return enrich(t, e, flow.Record{ExporterAddress: ma("127.0.0.1"), DstAddr: ma(addr), NextHop: ma(nh)})[0].DstAS
	}
	for _, c := range []struct {
		addr, nh string
		want     uint32
	}{
		{"203.0.113.1", "198.51.100.11", 65011},
		{"203.0.113.1", "198.51.100.12", 65012},
		{"2001:db8:1::1", "2001:db8::11", 65021},
		{"2001:db8:1::1", "2001:db8::12", 65022},
	} {
		if got := dst(c.addr, c.nh); got != c.want {
			t.Errorf("flow to %s via %s: AS %d, want %d", c.addr, c.nh, got, c.want)
		}
	}
	// Withdraw path 1 of the IPv4 prefix: path 2 stays.
	w := bgp.NewIPAddrPrefix(24, "203.0.113.0")
	w.SetPathLocalIdentifier(1)
	send(bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{w}, nil, nil))
	c.flush()
	waitFor(t, 5*time.Second, "3 paths", func() bool { return e.RIB().Stats().Paths == 3 })
	if got := dst("203.0.113.1", "198.51.100.11"); got != 65012 {
		t.Errorf("after withdrawing path 1: AS %d, want path 2's 65012", got)
	}
}
