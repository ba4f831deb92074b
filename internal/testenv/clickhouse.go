package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Credentials of the second user of a test ClickHouse server (the first is
// "default", without a password).
const (
	ClickHouseUser     = "secure"
	ClickHousePassword = "s3cret-Pa55"
)

// ClickHouseServer is a private ClickHouse server process listening on
// 127.0.0.1, its data in a temporary directory: Debian's clickhouse-server
// (18.16, NewClickHouse) or a current ClickHouse served from libchdb.so
// (26.7, NewChdbClickHouse). Stop and Start stop and restart it on the same
// ports and data, for tests of a server that goes away.
type ClickHouseServer struct {
	Version  string // ClickHouse18 or ClickHouse26
	Addr     string // host:port of the native protocol
	TCPPort  int    // native protocol port
	HTTPPort int    // HTTP interface port
	Dir      string // configuration, data and logs

	bin  string   // the server program
	args []string // its arguments

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	exitErr  error // how the process ended, once done is closed
	logStart int64 // size of error.log when the process started
}

// StartClickHouse starts a ClickHouse server for the test on free ports and
// stops it, removing its data, at the end of the test. A missing
// clickhouse-server fails the test under CI and skips it elsewhere.
func StartClickHouse(t testing.TB) *ClickHouseServer {
	t.Helper()
	bin := LookPath(t, "clickhouse-server", "clickhouse-server")
	s, err := NewClickHouse(bin, FreePort(t, "tcp"), FreePort(t, "tcp"))
	if err != nil {
		t.Fatalf("start clickhouse-server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewClickHouse starts the server bin on the native port tcpPort and the
// HTTP port httpPort and waits until it answers queries. The caller calls
// Close; StartClickHouse does that for a test.
func NewClickHouse(bin string, tcpPort, httpPort int) (*ClickHouseServer, error) {
	if tcpPort == httpPort {
		return nil, fmt.Errorf("clickhouse native and HTTP ports are both %d", tcpPort)
	}
	dir, err := os.MkdirTemp("", "flowengine-clickhouse-")
	if err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.xml")
	s := &ClickHouseServer{
		Version: ClickHouse18,
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)), TCPPort: tcpPort, HTTPPort: httpPort,
		Dir: dir, bin: bin, args: []string{"--config-file=" + config},
	}
	configText := fmt.Sprintf(`<yandex>
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
  <keep_alive_timeout>1</keep_alive_timeout>
  <shutdown_wait_unfinished>1</shutdown_wait_unfinished>
</yandex>
`, dir, tcpPort, httpPort)
	return startWithConfig(s, "yandex", configText, "<poll_interval>1</poll_interval>")
}

// startWithConfig writes the server's configuration file, and a users file
// (root element root, extra settings in the default profile) with the
// passwordless default user and the test user, then starts s. The server's
// directory is removed when that fails.
func startWithConfig(s *ClickHouseServer, root, configText, profile string) (*ClickHouseServer, error) {
	dir := s.Dir
	users := fmt.Sprintf(`<%[3]s>
  <profiles><default><max_threads>2</max_threads>%[4]s</default></profiles>
  <users>
    <default><password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default>
    <%[1]s><password>%[2]s</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></%[1]s>
  </users>
  <quotas><default></default></quotas>
</%[3]s>
`, ClickHouseUser, ClickHousePassword, root, profile)
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(configText), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(users), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Start runs the server process (again, after Stop) and waits until it
// answers queries, for at most 60 seconds. It does nothing if the server
// runs.
func (s *ClickHouseServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		select {
		case <-s.done: // died: start it again
			s.cmd = nil
		default:
			return nil
		}
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	out, err := os.OpenFile(filepath.Join(s.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	// The server dies with the test process, even when that one is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	s.exitErr = nil
	go func() {
		err := cmd.Wait()
		out.Close()
		s.exitErr = err // read by others only after done is closed
		close(done)
	}()
	s.cmd, s.done = cmd, done
	s.logStart = 0
	if fi, err := os.Stat(filepath.Join(s.Dir, "error.log")); err == nil {
		s.logStart = fi.Size()
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		err := s.query("SELECT 1")
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("ClickHouse %s server exited (%v): %s", s.Version, s.exitErr, s.Log(5))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("ClickHouse %s server did not answer within 60s: %v", s.Version, err)
		}
	}
}

// query runs a query over the HTTP interface (readiness only: the flowengine
// sink speaks the native protocol).
func (s *ClickHouseServer) query(q string) error { return s.queryAs("default", "", q) }

// queryAs runs a query over the HTTP interface as user.
func (s *ClickHouseServer) queryAs(user, password, q string) error {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/", s.HTTPPort), strings.NewReader(q))
	if err != nil {
		return err
	}
	req.Header.Set("X-ClickHouse-User", user)
	req.Header.Set("X-ClickHouse-Key", password)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	// The native port opens with the HTTP one; check it all the same.
	conn, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Stop terminates the server (SIGTERM, SIGKILL after 30 seconds) and waits
// for it to exit. Its data stays for Start.
func (s *ClickHouseServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *ClickHouseServer) stopLocked() {
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

// Aborting reports whether the running server logged a fatal error since it
// started: it is about to die. libchdb (26.7) aborts after some client
// errors that clickhouse-server survives, such as a refused login over the
// native protocol, and takes seconds to end while refusing connections.
func (s *ClickHouseServer) Aborting() bool {
	s.mu.Lock()
	start := s.logStart
	s.mu.Unlock()
	return strings.Contains(string(s.errorLogSince(start)), "<Fatal>")
}

// errorLogSince returns the error log from offset start on.
func (s *ClickHouseServer) errorLogSince(start int64) []byte {
	f, err := os.Open(filepath.Join(s.Dir, "error.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	data, _ := io.ReadAll(io.NewSectionReader(f, start, 1<<30))
	return data
}

// Restart kills the server at once (SIGKILL, for one that is aborting) and
// starts it again on the same ports and data.
func (s *ClickHouseServer) Restart() error {
	s.mu.Lock()
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
		s.cmd = nil
	}
	s.mu.Unlock()
	return s.Start()
}

// Close stops the server and removes its directory.
func (s *ClickHouseServer) Close() {
	s.Stop()
	os.RemoveAll(s.Dir)
}

// errStopped is what Alive says of a server that Stop stopped.
var errStopped = errors.New("stopped")

// Running reports whether the server process runs.
func (s *ClickHouseServer) Running() bool {
	return s.Alive() == nil
}

// Alive returns nil when the server process runs, and otherwise an error
// that says whether it was stopped or ended by itself (how, with the last
// lines of its log): a server that died under a test says so.
func (s *ClickHouseServer) Alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("ClickHouse %s server: %w", s.Version, errStopped)
	}
	select {
	case <-s.done:
		return fmt.Errorf("ClickHouse %s server (pid %d) died: %v; its log:\n%s",
			s.Version, s.cmd.Process.Pid, s.exitErr, s.crashLog())
	default:
		return nil
	}
}

// CPUTime returns the CPU time the running server process used so far
// (Linux; 0 when it is not known).
func (s *ClickHouseServer) CPUTime() time.Duration {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	text := string(data)
	i := strings.LastIndexByte(text, ')')
	if i < 0 || i+2 > len(text) {
		return 0
	}
	fields := strings.Fields(text[i+2:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // clock ticks of 1/100 s
}

// crashLog returns the start of the fatal error the server logged as it
// died (the message and the top of its stack), or the end of its logs.
func (s *ClickHouseServer) crashLog() string {
	data := s.errorLogSince(s.logStart)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i, l := range lines {
		if strings.Contains(l, "<Fatal>") {
			lines = lines[i:]
			if len(lines) > 12 {
				lines = lines[:12]
			}
			return strings.Join(lines, "\n")
		}
	}
	return s.Log(10)
}

// Log returns the last n lines of the server's error log and of its output
// (where a crash is reported), for failure messages.
func (s *ClickHouseServer) Log(n int) string {
	var parts []string
	for _, name := range []string{"error.log", "stdout.log"} {
		data, _ := os.ReadFile(filepath.Join(s.Dir, name))
		text := strings.TrimSpace(string(data))
		if text == "" {
			continue
		}
		lines := strings.Split(text, "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		parts = append(parts, strings.Join(lines, "\n"))
	}
	return strings.Join(parts, "\n")
}
