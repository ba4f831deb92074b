package bmp

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/mrt"

	"github.com/flowengine/flowengine/flow"
)

// mrtRoute is one route of a generated MRT dump, as the station should
// hold it once gobgpd has chosen it.
type mrtRoute struct {
	prefix  netip.Prefix
	peer    uint16 // index in the PEER_INDEX_TABLE
	nextHop netip.Addr
	asPath  []uint32 // the AS_SEQUENCE, neighbour first
	asSet   []uint32 // a trailing AS_SET (an aggregate), left out by the station
	comms   []uint32
	lcomms  []flow.LargeCommunity
	// longer is a second path (a longer AS path from the other peer)
	// written for the prefix, as dumps of several peers have them:
	// `gobgp mrt inject --only-best` injects the first only.
	longer []uint32
}

// mrtPeers are the peers of the dump: each route comes from one, with its
// next hop.
var mrtPeers = []struct {
	id, addr, nh4, nh6 string
	as                 uint32
}{
	{"192.0.2.11", "198.51.100.1", "198.51.100.1", "2001:db8::1", 64501},
	{"192.0.2.12", "198.51.100.2", "198.51.100.2", "2001:db8::2", 4200000001},
}

// genMRTRoutes builds the routes of a dump over genTable's prefixes (no
// prefix's first /24 or /48 lies in a more specific one, so an address
// there looks up its own prefix): AS paths of 1 to 6 ASes, 2- and 4-byte,
// some ending in an AS_SET; 0 to 4 communities and 0 to 2 large
// communities; every 50th prefix also has a worse path.
func genMRTRoutes(v4, v6 int) []mrtRoute {
	tab := genTable(v4, v6)
	rng := rand.New(rand.NewPCG(11, 12))
	routes := make([]mrtRoute, 0, v4+v6)
	for i, p := range append(tab.v4, tab.v6...) {
		peer := uint16(rng.IntN(len(mrtPeers)))
		r := mrtRoute{prefix: p, peer: peer}
		if p.Addr().Is4() {
			r.nextHop = netip.MustParseAddr(mrtPeers[peer].nh4)
		} else {
			r.nextHop = netip.MustParseAddr(mrtPeers[peer].nh6)
		}
		r.asPath = []uint32{mrtPeers[peer].as}
		for range rng.IntN(6) {
			if rng.IntN(4) == 0 {
				r.asPath = append(r.asPath, 4200000000+rng.Uint32N(1000000))
			} else {
				r.asPath = append(r.asPath, 1+rng.Uint32N(64000))
			}
		}
		if i%97 == 0 {
			r.asSet = []uint32{65100 + rng.Uint32N(100), 65200 + rng.Uint32N(100)}
		}
		commAS := r.asPath[0]
		if commAS > 0xffff {
			commAS = 65000
		}
		for range rng.IntN(5) {
			r.comms = append(r.comms, commAS<<16|rng.Uint32N(1000))
		}
		for range rng.IntN(3) {
			r.lcomms = append(r.lcomms, flow.LargeCommunity{ASN: r.asPath[0], Local1: rng.Uint32N(10), Local2: rng.Uint32N(100000)})
		}
		if i%50 == 0 {
			r.longer = append([]uint32{mrtPeers[1-peer].as, 3356, 174}, r.asPath[1:]...)
		}
		routes = append(routes, r)
	}
	return routes
}

// writeMRT writes routes as an MRT TABLE_DUMPv2 dump: a PEER_INDEX_TABLE,
// then one RIB_IPV4_UNICAST or RIB_IPV6_UNICAST record per prefix. It
// returns the records one by one.
func writeMRT(t *testing.T, routes []mrtRoute) [][]byte {
	t.Helper()
	var records [][]byte
	const ts = 1764460800
	put := func(subtype mrt.MRTSubTypeTableDumpv2, body mrt.Body) {
		m, err := mrt.NewMRTMessage(ts, mrt.TABLE_DUMPv2, subtype, body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4096 {
			t.Fatalf("MRT record of %d bytes, over PIPE_BUF", len(b))
		}
		records = append(records, b)
	}
	peers := make([]*mrt.Peer, len(mrtPeers))
	for i, p := range mrtPeers {
		peers[i] = mrt.NewPeer(p.id, p.addr, p.as, true)
	}
	put(mrt.PEER_INDEX_TABLE, mrt.NewPeerIndexTable("192.0.2.1", "flowengine", peers))
	for seq, r := range routes {
		var nlri bgp.AddrPrefixInterface
		subtype := mrt.RIB_IPV4_UNICAST
		if r.prefix.Addr().Is4() {
			nlri = bgp.NewIPAddrPrefix(uint8(r.prefix.Bits()), r.prefix.Addr().String())
		} else {
			nlri = bgp.NewIPv6AddrPrefix(uint8(r.prefix.Bits()), r.prefix.Addr().String())
			subtype = mrt.RIB_IPV6_UNICAST
		}
		attrs := func(peer uint16, nextHop netip.Addr, asPath []uint32) []bgp.PathAttributeInterface {
			segs := []bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, asPath)}
			if r.asSet != nil {
				segs = append(segs, bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SET, r.asSet))
			}
			a := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP), bgp.NewPathAttributeAsPath(segs)}
			if nextHop.Is4() {
				a = append(a, bgp.NewPathAttributeNextHop(nextHop.String()))
			}
			if len(r.comms) > 0 {
				a = append(a, bgp.NewPathAttributeCommunities(r.comms))
			}
			if nextHop.Is6() {
				a = append(a, bgp.NewPathAttributeMpReachNLRI(nextHop.String(), []bgp.AddrPrefixInterface{nlri}))
			}
			if len(r.lcomms) > 0 {
				l := make([]*bgp.LargeCommunity, len(r.lcomms))
				for i, c := range r.lcomms {
					l[i] = bgp.NewLargeCommunity(c.ASN, c.Local1, c.Local2)
				}
				a = append(a, bgp.NewPathAttributeLargeCommunities(l))
			}
			return a
		}
		entries := []*mrt.RibEntry{mrt.NewRibEntry(r.peer, ts, 0, attrs(r.peer, r.nextHop, r.asPath), false)}
		if r.longer != nil {
			other := 1 - r.peer
			nh := netip.MustParseAddr(mrtPeers[other].nh4)
			if r.prefix.Addr().Is6() {
				nh = netip.MustParseAddr(mrtPeers[other].nh6)
			}
			entries = append(entries, mrt.NewRibEntry(other, ts, 0, attrs(other, nh, r.longer), false))
		}
		if subtype == mrt.RIB_IPV6_UNICAST {
			put(subtype, fullMPRib{mrt.NewRib(uint32(seq), nlri, entries)})
			continue
		}
		put(subtype, mrt.NewRib(uint32(seq), nlri, entries))
	}
	return records
}

// fullMPRib is a RIB_IPV6_UNICAST record whose entries carry MP_REACH_NLRI
// in full (AFI, SAFI, next hop, NLRI), as Debian's gobgp (3.10) reads it:
// it fails on the abbreviated form of RFC 6396 (next hop only) that
// mrt.Rib writes.
type fullMPRib struct{ *mrt.Rib }

func (r fullMPRib) Serialize() ([]byte, error) {
	b := binary.BigEndian.AppendUint32(nil, r.SequenceNumber)
	p, err := r.Prefix.Serialize()
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(append(b, p...), uint16(len(r.Entries)))
	for _, e := range r.Entries {
		eb, err := e.Serialize()
		if err != nil {
			return nil, err
		}
		b = append(b, eb...)
	}
	return b, nil
}

// inside returns an address of r's prefix that no more specific prefix of
// the dump covers: in its first /24 or /48.
func (r mrtRoute) inside(host byte) netip.Addr {
	if r.prefix.Addr().Is4() {
		b := r.prefix.Addr().As4()
		b[3] = host
		return netip.AddrFrom4(b)
	}
	b := r.prefix.Addr().As16()
	b[15] = host
	return netip.AddrFrom16(b)
}

// processCPU is the CPU time the test's process (the station) has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time process pid has used (from /proc, 0 if unknown).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command's closing parenthesis: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// routeCols are the columns the enricher fills from a route.
type routeCols struct {
	DstMask, SrcMask      uint8
	NextHop               netip.Addr
	DstAS, SrcAS          uint32
	ASPath, Comms, LComms string
}

// TestGoBGPMRT: a table dumped as MRT (TABLE_DUMPv2, IPv4 and IPv6) and
// injected into gobgpd's global RIB with `gobgp mrt inject global` reaches
// the station over BMP (Loc-RIB); flows towards a sample of its prefixes
// get each route's columns as written; the withdrawal of the whole IPv6
// table follows. It logs the load rate through gobgpd, BMP and the
// station. BMP_MRT_V4 and BMP_MRT_V6 change the sizes (50,000 and 10,000
// prefixes).
func TestGoBGPMRT(t *testing.T) {
	v4, v6 := envInt("BMP_MRT_V4", 50_000), envInt("BMP_MRT_V6", 10_000)
	routes := genMRTRoutes(v4, v6)
	dump := writeMRT(t, routes)

	e, reg := newTestEnricher(t, `
keep      = "1h"
exporters = { "192.0.2.1" = "127.0.0.1" }
`)
	g := startGoBGP(t, 64500, "192.0.2.1", "127.0.0.1:"+strconv.Itoa(e.Addr().(*net.TCPAddr).Port))
	waitFor(t, 10*time.Second, "the BMP session", func() bool { return sessionsOpen(e) == 1 })

	// `gobgp mrt inject` exits as soon as it has handed its last paths to
	// its gRPC stream, without closing it: the paths still in flight are
	// lost (the last few hundred of a file). It reads the dump from a FIFO
	// here, kept open until the station holds every route, so that it
	// stays until all its paths have arrived. Debian's gobgp reads a
	// record's header and body with one read(2) each, never completing a
	// short one: each record goes into the FIFO with one write(2), whole
	// (under PIPE_BUF bytes, so atomic), and every read finds it there.
	// --only-best keeps the first path of each prefix: gobgpd itself,
	// finding several paths of its own origin, prefers whichever it
	// compares first.
	fifo := filepath.Join(t.TempDir(), "rib.mrt")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cpu := processCPU()
	start := time.Now()
	inject := exec.Command(g.cli, "-p", strconv.Itoa(g.apiPort), "mrt", "inject", "global", "--only-best", fifo)
	var out bytes.Buffer
	inject.Stdout, inject.Stderr = &out, &out
	if err := inject.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = inject.Process.Kill()
		_ = inject.Wait()
	})
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	size := 0
	for _, rec := range dump {
		if _, err := w.Write(rec); err != nil {
			werr := inject.Wait()
			t.Fatalf("writing the dump to gobgp mrt inject: %v; gobgp: %v\n%s", err, werr, out.String())
		}
		size += len(rec)
	}
	written := time.Since(start)
	for e.RIB().Stats().Paths < len(routes) {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("after %s, the station holds %+v of %d routes (dump written after %s); gobgp mrt inject: %s",
				time.Since(start), e.RIB().Stats(), len(routes), written, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	took, stationCPU := time.Since(start), processCPU()-cpu
	_ = w.Close()
	if err := inject.Wait(); err != nil || out.Len() > 0 {
		t.Errorf("gobgp mrt inject: %v\n%s", err, out.String())
	}
	st := e.RIB().Stats()
	perRoute := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(len(routes)) }
	t.Logf("%d IPv4 + %d IPv6 prefixes (%d with a second path), %.1f MB of MRT: gobgp mrt inject read it in %s, the station held every route after %s (%.0f routes/s through gobgpd, BMP and the station)",
		v4, v6, (len(routes)+49)/50, float64(size)/1e6, written.Round(time.Millisecond), took.Round(time.Millisecond), float64(len(routes))/took.Seconds())
	t.Logf("CPU per route: gobgp mrt inject %.1f µs, gobgpd %.1f µs, the test process (station and FIFO writer) %.1f µs; %d attribute sets, %d AS paths",
		perRoute(inject.ProcessState.UserTime()+inject.ProcessState.SystemTime()), perRoute(procCPU(g.cmd.Process.Pid)),
		perRoute(stationCPU), st.AttrSets, st.ASPaths)
	if st.Paths != len(routes) || st.Prefixes != len(routes) {
		t.Errorf("station holds %d paths for %d prefixes, want %d of each (Loc-RIB: the best path only)", st.Paths, st.Prefixes, len(routes))
	}
	if n := counter(t, reg, "flowengine_bmp_routes", "router", "127.0.0.1", "table", "loc-rib"); n != float64(len(routes)) {
		t.Errorf("flowengine_bmp_routes = %v, want %d", n, len(routes))
	}

	// A sample: the first and last prefix of each family and 1,000 drawn
	// at random, checked against the longest match among the prefixes
	// held. Each flow comes from the next sampled prefix.
	held := make(map[netip.Prefix]int, len(routes))
	for i, r := range routes {
		held[r.prefix] = i
	}
	lookup := func(a netip.Addr) (mrtRoute, bool) {
		for bits := a.BitLen(); bits >= 0; bits-- {
			if i, ok := held[netip.PrefixFrom(a, bits).Masked()]; ok {
				return routes[i], true
			}
		}
		return mrtRoute{}, false
	}
	rng := rand.New(rand.NewPCG(13, 14))
	sample := []int{0, v4 - 1, v4, len(routes) - 1}
	for range 1000 {
		sample = append(sample, rng.IntN(len(routes)))
	}
	check := func(what string) {
		t.Helper()
		recs := make([]flow.Record, len(sample))
		wants := make([]routeCols, len(sample))
		for i, dst := range sample {
			src := sample[(i+1)%len(sample)]
			r := flow.Record{ExporterAddress: ma("192.0.2.1"), DstAddr: routes[dst].inside(byte(1 + i%250)), SrcAddr: routes[src].inside(7)}
			if r.DstAddr.Is4() != r.SrcAddr.Is4() {
				r.SrcAddr = netip.IPv6Unspecified()
				if r.DstAddr.Is4() {
					r.SrcAddr = netip.IPv4Unspecified()
				}
			}
			recs[i] = r
			w := &wants[i]
			if d, ok := lookup(r.DstAddr); ok {
				w.DstMask, w.NextHop, w.DstAS = uint8(d.prefix.Bits()), d.nextHop, d.asPath[len(d.asPath)-1]
				w.ASPath = flow.MakeUint32s(d.asPath).String()
				w.Comms = flow.MakeUint32s(d.comms).CommunityString()
				w.LComms = flow.MakeLargeCommunities(d.lcomms).String()
			}
			if s, ok := lookup(r.SrcAddr); ok {
				w.SrcMask, w.SrcAS = uint8(s.prefix.Bits()), s.asPath[len(s.asPath)-1]
			}
		}
		bad := 0
		for i, r := range enrich(t, e, recs...) {
			got := routeCols{r.DstNetMask, r.SrcNetMask, r.NextHop, r.DstAS, r.SrcAS,
				r.DstASPath.String(), r.DstCommunities.CommunityString(), r.DstLargeCommunities.String()}
			if got != wants[i] {
				if bad++; bad <= 5 {
					t.Errorf("%s: flow %s -> %s = %+v, want %+v", what, r.SrcAddr, r.DstAddr, got, wants[i])
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s: %d of %d flows wrong", what, bad, len(recs))
		}
	}
	check("after the injection")

	// Withdrawal of the whole IPv6 table (`gobgp global rib del PREFIX`
	// finds no path to withdraw: it withdraws the daemon's own, and these
	// carry the source of their peer in the dump).
	start = time.Now()
	g.rib("-a", "ipv6", "del", "all")
	for _, r := range routes[v4:] {
		delete(held, r.prefix)
	}
	waitFor(t, 30*time.Second, "the withdrawals", func() bool { return e.RIB().Stats().Paths <= len(held) })
	t.Logf("%d IPv6 withdrawals over BMP in %s", v6, time.Since(start).Round(time.Millisecond))
	if st := e.RIB().Stats(); st.Paths != len(held) {
		t.Errorf("after the withdrawals, %d paths, want %d", st.Paths, len(held))
	}
	check("after the withdrawals")
}
