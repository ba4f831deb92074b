package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowengine/flowengine/internal/testenv"
)

const bmpPipeline = `
pipeline {
  listen    = "127.0.0.1:0"
  state_dir = %[1]q
}

source "netflow" "routers" {
  listen = "127.0.0.1:%[2]d"
}

enricher "bmp" "rib" {
  input      = source.netflow.routers
  listen     = "[::]:%[3]d"
  asn_source = "flow"
  overwrite  = true
  exporters  = { "127.0.0.2" = "::1" }
}

# The AS numbers come from the routes through the geoip enricher's routing
# step (the routes cover every address: GeoIP is never asked).
enricher "geoip" "geo" {
  input        = enricher.bmp.rib
  asn_database = %[5]q
  asn_source   = "routing-else-geoip"
  routing      = enricher.bmp.rib
}

sink "file" "out" {
  input          = enricher.geoip.geo
  path           = %[4]q
  flush_interval = "100ms"
}
`

// bmpRoute is a route the test injects into a gobgpd.
type bmpRoute struct {
	prefix  netip.Prefix
	nextHop netip.Addr
	asPath  []uint32 // the origin last
	comms   []string
	lcomms  []string
}

func (r bmpRoute) origin() uint32 { return r.asPath[len(r.asPath)-1] }

// bmpRecord holds the columns the bmp enricher fills.
type bmpRecord struct {
	ExporterAddress netip.Addr
	SrcAddr         netip.Addr
	DstAddr         netip.Addr
	SrcNetMask      uint8
	DstNetMask      uint8
	NextHop         netip.Addr
	SrcAS           uint32
	DstAS           uint32

	DstASPath           []uint32
	DstCommunities      []string
	DstLargeCommunities []string
}

// TestBMPEnrichment: two gobgpd routers send their Loc-RIB over BMP to a
// running pipeline, each with its own routes for the same prefixes; flows
// from `flowengine exporter` (exporter 127.0.0.1 is router 1, 127.0.0.2 is
// mapped to router 2) come out with the prefix lengths, next hop, AS path
// and communities of their own router's longest matching route, and its
// origin AS through the geoip enricher's routing step.
func TestBMPEnrichment(t *testing.T) {
	gobgpdBin := testenv.LookPath(t, "gobgpd", "gobgpd")
	gobgpCLI := testenv.LookPath(t, "gobgp", "gobgpd")
	dir := t.TempDir()
	nfPort := udpPorts(t, 1)[0]
	bmpPort := testenv.FreePort(t, "tcp")
	out := filepath.Join(dir, "flows.jsonl")
	pipeline := filepath.Join(dir, "pipeline.hcl")
	asnPath, _ := writeGeoIP(t, dir)
	if err := os.WriteFile(pipeline, []byte(fmt.Sprintf(bmpPipeline, filepath.Join(dir, "state"), nfPort, bmpPort, out, asnPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &engineProc{t: t, done: make(chan error, 1)}
	e.cmd = exec.Command(binary, "run", pipeline)
	e.cmd.Dir = dir
	e.cmd.Stdout, e.cmd.Stderr = &e.log, &e.log
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.done <- e.cmd.Wait() }()
	t.Cleanup(func() {
		if !e.exited {
			_ = e.cmd.Process.Kill()
			<-e.done
		}
	})
	e.waitFor("the engine to listen", 20*time.Second, func() bool {
		s := e.log.String()
		return strings.Contains(s, "pipeline running") && strings.Contains(s, "bmp station listening")
	})

	// Router r's routes: halves and quarters of both address families,
	// and /8s over every tenth first octet, so that lookups fall on
	// prefixes of several lengths; origins differ per router.
	// Paths of two or three ASes, communities on some routes, large
	// communities on others, all told apart by router and route.
	routes := func(r int) []bmpRoute {
		var rs []bmpRoute
		nh4 := netip.AddrFrom4([4]byte{198, 51, 100, byte(r)})
		nh6 := netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", r))
		route := func(p netip.Prefix, nh netip.Addr, origin uint32) {
			i := len(rs)
			rt := bmpRoute{prefix: p, nextHop: nh, asPath: []uint32{uint32(64500 + r), origin}}
			if i%3 == 1 {
				rt.asPath = []uint32{uint32(64500 + r), uint32(3356 + r), origin}
			}
			if i%2 == 0 {
				rt.comms = []string{fmt.Sprintf("%d:%d", 64500+r, i), fmt.Sprintf("65000:%d", 100+i)}
			}
			if i%4 != 3 {
				rt.lcomms = []string{fmt.Sprintf("%d:%d:%d", 64500+r, origin, i)}
			}
			rs = append(rs, rt)
		}
		for i := range 2 {
			route(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i * 128)}), 1), nh4, uint32(65000+100*r+i))
			var b [16]byte
			b[0] = byte(i * 128)
			route(netip.PrefixFrom(netip.AddrFrom16(b), 1), nh6, uint32(65000+100*r+10+i))
		}
		for o := 0; o < 256; o += 10 {
			route(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(o)}), 8), nh4, uint32(4200000000+1000*r+o))
		}
		return rs
	}
	lpm := func(rs []bmpRoute, a netip.Addr) (bmpRoute, bool) {
		var best bmpRoute
		found := false
		for _, r := range rs {
			if r.prefix.Contains(a) && (!found || r.prefix.Bits() > best.prefix.Bits()) {
				best, found = r, true
			}
		}
		return best, found
	}
	for r, station := range map[int]string{1: "127.0.0.1", 2: "::1"} {
		api := testenv.FreePort(t, "tcp")
		conf := filepath.Join(dir, fmt.Sprintf("gobgpd%d.toml", r))
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[global.config]
  as = %d
  router-id = "192.0.2.%d"
  port = -1

[[bmp-servers]]
  [bmp-servers.config]
    address = %q
    port = %d
    route-monitoring-policy = "local-rib"
`, 64500+r, r, station, bmpPort)), 0o600); err != nil {
			t.Fatal(err)
		}
		var log syncBuffer
		cmd := exec.Command(gobgpdBin, "-f", conf, "-p", "--pprof-disable", "--api-hosts", "127.0.0.1:"+strconv.Itoa(api))
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("gobgpd %d:\n%s", r, log.String())
			}
		})
		e.waitFor("gobgpd's API", 10*time.Second, func() bool {
			return exec.Command(gobgpCLI, "-p", strconv.Itoa(api), "global").Run() == nil
		})
		for _, rt := range routes(r) {
			args := []string{"-p", strconv.Itoa(api), "global", "rib"}
			if rt.prefix.Addr().Is6() {
				args = append(args, "-a", "ipv6")
			}
			path := make([]string, len(rt.asPath))
			for i, as := range rt.asPath {
				path[i] = strconv.FormatUint(uint64(as), 10)
			}
			args = append(args, "add", rt.prefix.String(), "aspath", strings.Join(path, ","), "nexthop", rt.nextHop.String())
			if len(rt.comms) > 0 {
				args = append(args, "community", strings.Join(rt.comms, ","))
			}
			if len(rt.lcomms) > 0 {
				args = append(args, "large-community", strings.Join(rt.lcomms, ","))
			}
			if out, err := exec.Command(gobgpCLI, args...).CombinedOutput(); err != nil {
				t.Fatalf("gobgp %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	want := float64(2 * len(routes(1)))
	e.waitFor("the routes in the station", 30*time.Second, func() bool {
		n := 0.0
		for k, v := range e.scrape() {
			if strings.HasPrefix(k, "flowengine_bmp_routes{") {
				n += v
			}
		}
		return n == want
	})

	const count = 1000
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var exp syncBuffer
	cmd := exec.CommandContext(ctx, binary, "exporter", "-collector", fmt.Sprintf("127.0.0.1:%d", nfPort), "-protocol", "netflow9",
		"-exporters", "2", "-count", strconv.Itoa(count), "-rate", "2000", "-seed", "11", "-quiet")
	cmd.Stdout, cmd.Stderr = &exp, &exp
	if err := cmd.Run(); err != nil {
		t.Fatalf("flowengine exporter: %v\n%s", err, exp.String())
	}
	e.waitLines(out, count)
	// The pipeline API shows both routers, connected, with their peer.
	m := metricsAddress.FindStringSubmatch(e.log.String())
	if m == nil {
		t.Fatalf("no API address in the engine's log:\n%s", e.log.String())
	}
	api := get(t, "http://"+m[1]+"/api/v0/pipeline")
	for _, want := range []string{`"address": "127\.0\.0\.1",\s*"connected": true`, `"address": "::1",\s*"connected": true`, `"table": "loc-rib"`} {
		if !regexp.MustCompile(want).MatchString(api) {
			t.Errorf("/api/v0/pipeline lacks %s:\n%s", want, api)
		}
	}
	e.stop()

	recs := readJSONLines[bmpRecord](t, out)
	if len(recs) != count {
		t.Fatalf("%d flows, want %d", len(recs), count)
	}
	perRouter := map[netip.Addr]int{}
	for i, r := range recs {
		router := map[netip.Addr]int{netip.MustParseAddr("127.0.0.1"): 1, netip.MustParseAddr("127.0.0.2"): 2}[r.ExporterAddress]
		if router == 0 {
			t.Fatalf("flow %d from unexpected exporter %s", i, r.ExporterAddress)
		}
		perRouter[r.ExporterAddress]++
		dst, ok := lpm(routes(router), r.DstAddr)
		src, _ := lpm(routes(router), r.SrcAddr)
		if !ok {
			t.Fatalf("flow %d: no route for %s", i, r.DstAddr)
		}
		// The lists are always there, empty as [].
		if r.DstASPath == nil || r.DstCommunities == nil || r.DstLargeCommunities == nil {
			t.Fatalf("flow %d: a list column is missing from the JSON: %+v", i, r)
		}
		got := fmt.Sprint(r.DstNetMask, r.NextHop, r.DstAS, r.SrcNetMask, r.SrcAS, r.DstASPath, r.DstCommunities, r.DstLargeCommunities)
		exp := fmt.Sprint(uint8(dst.prefix.Bits()), dst.nextHop, dst.origin(), uint8(src.prefix.Bits()), src.origin(), dst.asPath,
			nonNil(dst.comms), nonNil(dst.lcomms))
		if got != exp {
			t.Errorf("flow %d (%s %s -> %s): got mask/nh/as/path/communities %v, want %v", i, r.ExporterAddress, r.SrcAddr, r.DstAddr, got, exp)
			if i > 20 {
				t.FailNow()
			}
		}
	}
	if len(perRouter) != 2 {
		t.Errorf("flows per exporter = %v, want both", perRouter)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// readJSONLines decodes a JSON-lines file into values of T.
func readJSONLines[T any](t *testing.T, path string) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		out = append(out, v)
	}
	return out
}
