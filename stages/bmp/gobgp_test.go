package bmp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

// gobgpd is a GoBGP daemon (Debian's gobgpd) sending its Loc-RIB over BMP.
type gobgpd struct {
	t       *testing.T
	cli     string
	apiPort int
	cmd     *exec.Cmd
	log     *bytes.Buffer
	conf    string
}

// startGoBGP starts gobgpd with BMP towards station (host:port), its BGP
// listener off.
func startGoBGP(t *testing.T, as uint32, routerID, station string) *gobgpd {
	t.Helper()
	bin := testenv.LookPath(t, "gobgpd", "gobgpd")
	cli := testenv.LookPath(t, "gobgp", "gobgpd")
	host, port, _ := net.SplitHostPort(station)
	dir := t.TempDir()
	g := &gobgpd{t: t, cli: cli, apiPort: testenv.FreePort(t, "tcp"), log: &bytes.Buffer{}, conf: filepath.Join(dir, "gobgpd.toml")}
	conf := fmt.Sprintf(`[global.config]
  as = %d
  router-id = %q
  port = -1

[[bmp-servers]]
  [bmp-servers.config]
    address = %q
    port = %s
    route-monitoring-policy = "local-rib"
`, as, routerID, host, port)
	if err := os.WriteFile(g.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	g.start(bin)
	return g
}

func (g *gobgpd) start(bin string) {
	g.t.Helper()
	g.cmd = exec.Command(bin, "-f", g.conf, "-p", "--pprof-disable", "--api-hosts", "127.0.0.1:"+strconv.Itoa(g.apiPort))
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	cmd := g.cmd
	g.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if g.t.Failed() {
			g.t.Logf("gobgpd log:\n%s", g.log.String())
		}
	})
	waitFor(g.t, 10*time.Second, "gobgpd API", func() bool {
		return exec.Command(g.cli, "-p", strconv.Itoa(g.apiPort), "global").Run() == nil
	})
}

// stop ends the daemon (its BMP session ends with it).
func (g *gobgpd) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	_ = g.cmd.Wait()
}

// rib runs `gobgp global rib ARGS`.
func (g *gobgpd) rib(args ...string) {
	g.t.Helper()
	g.run(append([]string{"global", "rib"}, args...)...)
}

// TestGoBGP: routes added to GoBGP's Loc-RIB with its own CLI reach the
// station over BMP; flows are enriched from them per router; withdrawals,
// the end of a session (keep) and its restart are followed.
func TestGoBGP(t *testing.T) {
	e, reg := newTestEnricher(t, `
listen    = "[::]:0"
keep      = "1h"
exporters = { "192.0.2.1" = "127.0.0.1", "192.0.2.2" = "::1" }
`)
	port := strconv.Itoa(e.Addr().(*net.TCPAddr).Port)
	// Two routers: one reaches the station over IPv4, the other over IPv6,
	// so the station tells them apart by address.
	r1 := startGoBGP(t, 64500, "192.0.2.1", "127.0.0.1:"+port)
	r2 := startGoBGP(t, 64600, "192.0.2.2", "[::1]:"+port)

	r1.rib("add", "203.0.113.0/24", "origin", "igp", "aspath", "64501,3356,65001", "community", "65000:100,65000:200",
		"large-community", "65000:1:2", "nexthop", "198.51.100.1")
	r1.rib("add", "203.0.0.0/16", "aspath", "64501,65009", "nexthop", "198.51.100.1")
	r1.rib("-a", "ipv6", "add", "2001:db8:100::/48", "aspath", "64501,65006", "community", "65000:6", "nexthop", "2001:db8::1")
	r2.rib("add", "203.0.113.0/24", "aspath", "64601,174,65002", "nexthop", "198.51.100.2")
	// An aggregate whose path ends in an AS_SET: the set is left out, the
	// origin is the last AS before it.
	r2.rib("add", "198.18.0.0/15", "aspath", "64601 1299 {65030,65031}", "community", "65000:300", "large-community", "65000:3:4,64601:0:7", "nexthop", "198.51.100.2")
	waitFor(t, 20*time.Second, "routes over BMP", func() bool { return e.RIB().Stats().Paths == 5 })

	rt, ok := e.RIB().Lookup(ma("203.0.113.10"), ma("127.0.0.1"), netip.Addr{})
	if !ok || rt.Prefix != mp("203.0.113.0/24") || rt.NextHop != ma("198.51.100.1") || rt.OriginAS != 65001 ||
		!slices.Equal(rt.ASPath, []uint32{64501, 3356, 65001}) ||
		!slices.Equal(rt.Communities, []uint32{65000<<16 | 100, 65000<<16 | 200}) ||
		!slices.Equal(rt.LargeCommunities, []LargeCommunity{{ASN: 65000, Local1: 1, Local2: 2}}) {
		t.Errorf("router 1's route = %+v %v", rt, ok)
	}

	flows := func() []flow.Record {
		return enrich(t, e,
			flow.Record{ExporterAddress: ma("192.0.2.1"), SrcAddr: ma("203.0.5.5"), DstAddr: ma("203.0.113.10")},
			flow.Record{ExporterAddress: ma("192.0.2.2"), SrcAddr: ma("203.0.5.5"), DstAddr: ma("203.0.113.10")},
			flow.Record{ExporterAddress: ma("192.0.2.1"), SrcAddr: ma("2001:db8:100::1"), DstAddr: ma("2001:db8:100::2")},
			flow.Record{ExporterAddress: ma("192.0.2.2"), SrcAddr: ma("203.0.113.1"), DstAddr: ma("198.19.0.1")},
		)
	}
	got := flows()
	type cols struct {
		SrcMask, DstMask      uint8
		NextHop               string
		SrcAS, DstAS          uint32
		ASPath, Comms, LComms string
	}
	colsOf := func(r flow.Record) cols {
		return cols{r.SrcNetMask, r.DstNetMask, r.NextHop.String(), r.SrcAS, r.DstAS,
			r.DstASPath.String(), r.DstCommunities.CommunityString(), r.DstLargeCommunities.String()}
	}
	for i, want := range []cols{
		{16, 24, "198.51.100.1", 65009, 65001, "64501 3356 65001", "65000:100 65000:200", "65000:1:2"},
		{0, 24, "198.51.100.2", 0, 65002, "64601 174 65002", "", ""}, // router 2 has no /16
		{48, 48, "2001:db8::1", 65006, 65006, "64501 65006", "65000:6", ""},
		{24, 15, "198.51.100.2", 65002, 1299, "64601 1299", "65000:300", "65000:3:4 64601:0:7"},
	} {
		if c := colsOf(got[i]); c != want {
			t.Errorf("flow %d = %+v, want %+v", i, c, want)
		}
	}

	// Withdrawal.
	r1.rib("del", "203.0.113.0/24")
	waitFor(t, 20*time.Second, "withdrawal", func() bool { return e.RIB().Stats().Paths == 4 })
	if c := colsOf(flows()[0]); c.DstMask != 16 || c.DstAS != 65009 || c.ASPath != "64501 65009" || c.Comms != "" {
		t.Errorf("after withdrawal, flow 0 = %+v, want the /16", c)
	}

	// Router 1 goes away: its routes stay (keep), then its restart
	// brings a new session whose routes replace them.
	r1.stop()
	waitFor(t, 20*time.Second, "session end", func() bool { return sessionsOpen(e) == 1 })
	if c := colsOf(flows()[0]); c.DstMask != 16 || c.DstAS != 65009 {
		t.Errorf("after session end, flow 0 = %+v, want the kept /16", c)
	}
	r1.start(testenv.LookPath(t, "gobgpd", "gobgpd"))
	r1.rib("add", "203.0.0.0/16", "aspath", "64501,65019", "nexthop", "198.51.100.1")
	waitFor(t, 20*time.Second, "restarted session's route", func() bool {
		return colsOf(flows()[0]).DstAS == 65019
	})
	if n := counter(t, reg, "flowengine_bmp_sessions_total", "router", "127.0.0.1"); n != 2 {
		t.Errorf("sessions of router 1 = %v, want 2", n)
	}
	details, err := json.Marshal(e.Details())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"address":"::1","connected":true,"routes":2,"peers":[{"address":"`; !strings.Contains(string(details), want) ||
		!strings.Contains(string(details), `"table":"loc-rib","up":true,"routes":2}`) {
		t.Errorf("Details = %s", details)
	}
	if n := counter(t, reg, "flowengine_bmp_routes", "router", "::1", "table", "loc-rib"); n != 2 {
		t.Errorf("routes of router 2 = %v, want 2", n)
	}
}

// run runs `gobgp ARGS` against the daemon.
func (g *gobgpd) run(args ...string) {
	g.t.Helper()
	full := append([]string{"-p", strconv.Itoa(g.apiPort)}, args...)
	if out, err := exec.Command(g.cli, full...).CombinedOutput(); err != nil {
		g.t.Fatalf("gobgp %s: %v\n%s", strings.Join(full, " "), err, out)
	}
}
