package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

// Test credentials of the second user of the test server.
const (
	testUser     = testenv.ClickHouseUser
	testPassword = testenv.ClickHousePassword
)

// chServer is a ClickHouse server of the tests (testenv): one per version
// and test process, shared by the tests, each with a database of its own.
type chServer struct {
	*testenv.ClickHouseServer
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedClickHouse()
	os.Exit(code)
}

// server returns the package's ClickHouse 18.16 server, starting it if
// needed. Tests that run against every version use forEachServer.
func server(t testing.TB) *chServer {
	t.Helper()
	return &chServer{testenv.SharedClickHouse(t, testenv.ClickHouse18)}
}

// forEachServer runs f as a subtest against each ClickHouse version
// (testenv.ClickHouseVersions: "18.16", "26.7").
func forEachServer(t *testing.T, f func(t *testing.T, srv *chServer)) {
	t.Helper()
	testenv.ForEachClickHouse(t, func(t *testing.T, s *testenv.ClickHouseServer) { f(t, &chServer{s}) })
}

// forEachServerParallel is forEachServer with the versions run in parallel,
// for slow tests that mostly wait.
func forEachServerParallel(t *testing.T, f func(t *testing.T, srv *chServer)) {
	t.Helper()
	testenv.ForEachClickHouseParallel(t, func(t *testing.T, s *testenv.ClickHouseServer) { f(t, &chServer{s}) })
}

// forEachServerB runs f as a sub-benchmark against each ClickHouse version.
func forEachServerB(b *testing.B, f func(b *testing.B, srv *chServer)) {
	b.Helper()
	for _, v := range testenv.ClickHouseVersions {
		b.Run(v, func(b *testing.B) { f(b, &chServer{testenv.SharedClickHouse(b, v)}) })
	}
}

// afterRefusedLogin lets a test go on after the server refused a login over
// the native protocol: ClickHouse 26.7 served from libchdb.so sends the
// error, then aborts (an exception escapes its connection thread, which
// clickhouse-server catches) and takes seconds to die, resetting
// connections meanwhile; it is restarted at once. Other servers stay up and
// this does nothing.
func (s *chServer) afterRefusedLogin(t testing.TB) {
	t.Helper()
	if s.Version != testenv.ClickHouse26 {
		return
	}
	for deadline := time.Now().Add(5 * time.Second); s.Running() && !s.Aborting() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Running() && !s.Aborting() {
		return
	}
	t.Logf("ClickHouse %s (libchdb) aborts after refusing a login, as it does: restarting it", s.Version)
	if err := s.Restart(); err != nil {
		t.Fatalf("restart ClickHouse %s: %v", s.Version, err)
	}
}

func (s *chServer) start() error           { return s.Start() }
func (s *chServer) stop()                  { s.Stop() }
func (s *chServer) addr() string           { return s.Addr }
func (s *chServer) cpuTime() time.Duration { return s.CPUTime() }

// client opens a plain connection for the test's own queries.
func (s *chServer) client(t testing.TB) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]`)

// testDB returns a database name unique to the test, dropped at cleanup.
func testDB(t testing.TB, s *chServer) string {
	db := "t_" + strings.ToLower(nonIdent.ReplaceAllString(t.Name(), "_"))
	conn := s.client(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	return db
}

// newSink builds a sink from HCL attributes, pointed at s and database db.
func newSink(t testing.TB, s *chServer, db, extra string) (*Sink, *prometheus.Registry) {
	t.Helper()
	src := fmt.Sprintf("servers = [%q]\ndatabase = %q\n%s", s.addr(), db, extra)
	cfg, diags := dsl.DecodeString(src, Spec)
	if diags.HasErrors() {
		t.Fatalf("decode: %v", diags)
	}
	reg := prometheus.NewRegistry()
	sink, diags := New(cfg, engine.Env{ID: engine.ID{Kind: engine.KindSink, Type: "clickhouse", Name: "test"}, Metrics: reg, Logger: testLogger(t)})
	if diags.HasErrors() {
		t.Fatalf("new: %v", diags)
	}
	t.Cleanup(func() { sink.Close() })
	return sink, reg
}

// provision plans and applies, failing the test on error.
func provision(t testing.TB, s *Sink) *engine.Plan {
	t.Helper()
	ctx := context.Background()
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return plan
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// makeFlow fills r with a full flow record, distinct for each i.
func makeFlow(r *flow.Record, i int, now time.Time) {
	r.TimeReceived = now.Add(time.Duration(i%600) * time.Second)
	r.TimeFlowStart = r.TimeReceived.Add(-10 * time.Second)
	r.TimeFlowEnd = r.TimeReceived.Add(-time.Second)
	r.SamplingRate = uint64(1 + i%2*999)
	r.FlowDirection = uint8(i % 2)
	r.ExporterAddress = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%4)})
	r.ExporterName = fmt.Sprintf("router%d", 1+i%4)
	r.ExporterGroup = "core"
	r.ExporterRole = "edge"
	r.ExporterSite = "paris"
	r.ExporterRegion = "europe"
	r.ExporterTenant = "acme"
	if i%3 == 0 {
		r.SrcAddr = netip.MustParseAddr("2001:db8::1")
		r.DstAddr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
		r.EType = flow.ETypeIPv6
	} else {
		r.SrcAddr = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		r.DstAddr = netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		r.EType = flow.ETypeIPv4
	}
	r.SrcNetMask, r.DstNetMask = 24, 32
	r.NextHop = netip.AddrFrom4([4]byte{203, 0, 113, 1})
	r.SrcMAC, r.DstMAC = 0x0200000000aa, 0x0200000000bb
	r.SrcVlan, r.DstVlan = 100, 200
	r.SrcAS, r.DstAS = 64500+uint32(i%10), 15169
	r.SrcCountry, r.DstCountry = "FR", "US"
	r.SrcNetName, r.DstNetName = "office", "google"
	r.SrcNetRole, r.DstNetRole = "customers", "provider"
	r.SrcNetSite, r.DstNetSite = "paris", "mountain-view"
	r.SrcNetRegion, r.DstNetRegion = "europe", "america"
	r.SrcNetTenant, r.DstNetTenant = "acme", "google"
	r.InIfIndex, r.OutIfIndex = uint32(10+i%4), 20
	r.InIfName, r.OutIfName = fmt.Sprintf("xe-0/0/%d", i%4), "et-0/0/0"
	r.InIfDescription, r.OutIfDescription = "transit: cogent", "core link"
	r.InIfSpeed, r.OutIfSpeed = 10000, 100000
	r.InIfConnectivity, r.OutIfConnectivity = "transit", "core"
	r.InIfProvider, r.OutIfProvider = "cogent", ""
	r.InIfBoundary, r.OutIfBoundary = flow.BoundaryExternal, flow.BoundaryInternal
	r.Proto = 6
	r.SrcPort, r.DstPort = uint16(1024+i%50000), 443
	r.TCPFlags, r.IPTos, r.IPTTL = 0x12, 0, 64
	r.ForwardingStatus = 64
	r.Bytes = uint64(100 + i)
	r.Packets = uint64(1 + i%7)
	r.DstASPath = testASPaths[i%len(testASPaths)]
	r.DstCommunities = testCommunities[i%len(testCommunities)]
	r.DstLargeCommunities = testLargeCommunities[i%len(testLargeCommunities)]
}

// Lists of the test flows, built once as a routing enricher would: empty,
// one value, many values, the largest values.
var (
	testASPaths = []flow.Uint32s{
		{},
		flow.MakeUint32s([]uint32{64500}),
		flow.MakeUint32s([]uint32{64500, 3356, 3356, 3356, 1299, 174, 6939, 2914, 6453, 15169}),
		flow.MakeUint32s([]uint32{math.MaxUint32, 0, 4200000000, 65535, 65536}),
	}
	testCommunities = []flow.Uint32s{
		{},
		flow.MakeUint32s([]uint32{65000<<16 | 100}),
		flow.MakeUint32s([]uint32{65000<<16 | 100, 65000<<16 | 200, 3356<<16 | 2, math.MaxUint32, 0}),
	}
	testLargeCommunities = []flow.LargeCommunities{
		{},
		flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 65000, Local1: 1, Local2: 2}}),
		flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 65000, Local1: 1, Local2: 2}, {ASN: 4200000000, Local1: 0, Local2: 7},
			{ASN: math.MaxUint32, Local1: math.MaxUint32, Local2: math.MaxUint32}, {}, {ASN: 1, Local1: math.MaxUint32, Local2: 0}}),
		flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: 0x01020304, Local1: 0x05060708, Local2: 0x090a0b0c}}),
	}
)
