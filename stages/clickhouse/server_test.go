package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	testUser     = "secure"
	testPassword = "s3cret-Pa55"
)

// chServer is a private ClickHouse server started by the tests: one per
// test package, started by the first test that needs it.
type chServer struct {
	bin, dir, config string
	port             int
	cmd              *exec.Cmd
	done             chan struct{}
}

var (
	serverOnce sync.Once
	shared     *chServer
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// server returns the package's ClickHouse server, starting it if needed.
func server(t testing.TB) *chServer {
	t.Helper()
	bin := testenv.LookPath(t, "clickhouse-server", "clickhouse-server")
	serverOnce.Do(func() {
		shared, sharedErr = startServer(bin, testenv.FreePort(t, "tcp"), testenv.FreePort(t, "tcp"))
	})
	if sharedErr != nil {
		t.Fatalf("start clickhouse-server: %v", sharedErr)
	}
	return shared
}

func startServer(bin string, l, httpPort int) (*chServer, error) {
	dir, err := os.MkdirTemp("", "flowengine-clickhouse-")
	if err != nil {
		return nil, err
	}
	s := &chServer{bin: bin, dir: dir, port: l, config: filepath.Join(dir, "config.xml")}
	config := fmt.Sprintf(`<yandex>
  <logger><level>warning</level><log>%[1]s/server.log</log><errorlog>%[1]s/error.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
`, dir, l, httpPort)
	users := fmt.Sprintf(`<yandex>
  <profiles><default><max_threads>2</max_threads></default></profiles>
  <users>
    <default><password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default>
    <%[1]s><password>%[2]s</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></%[1]s>
  </users>
  <quotas><default></default></quotas>
</yandex>
`, testUser, testPassword)
	if err := os.WriteFile(s.config, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(users), 0o644); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// start runs the server process and waits until it answers queries.
func (s *chServer) start() error {
	cmd := exec.Command(s.bin, "--config-file="+s.config)
	cmd.Dir = s.dir
	out, err := os.Create(filepath.Join(s.dir, "stdout.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(s.done) }()

	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.addr()}, DialTimeout: time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = conn.Ping(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			return fmt.Errorf("clickhouse-server exited: %s", lastLines(string(log), 5))
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("clickhouse-server did not answer within 60s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop terminates the server and waits for it to exit.
func (s *chServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func (s *chServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

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
}

// cpuTime returns the CPU time the server process used so far (Linux).
func (s *chServer) cpuTime() time.Duration {
	if s.cmd == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	text := string(data)
	fields := strings.Fields(text[strings.LastIndexByte(text, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // clock ticks of 1/100 s
}
