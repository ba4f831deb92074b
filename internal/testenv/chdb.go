package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The ClickHouse versions tests run against: Debian's clickhouse-server and
// a current release served from libchdb.so.
const (
	ClickHouse18 = "18.16"
	ClickHouse26 = "26.7"
)

// ClickHouseVersions lists the servers ForEachClickHouse runs a test against.
var ClickHouseVersions = []string{ClickHouse18, ClickHouse26}

// ChdbVersion is the version of the npm package @chdb/lib-linux-x64-gnu
// whose libchdb.so serves ClickHouse 26.7 (`make chdb` fetches it).
const ChdbVersion = "26.7.3-stable.1"

// ChdbLibraryEnv names the environment variable that points to libchdb.so,
// overriding the cache `make chdb` fills.
const ChdbLibraryEnv = "FLOWENGINE_CHDB_LIB"

// ChdbLibraryPath returns where libchdb.so is looked for: $FLOWENGINE_CHDB_LIB,
// or the cache `make chdb` fills
// (${XDG_CACHE_HOME:-$HOME/.cache}/flowengine/chdb-VERSION/libchdb.so).
func ChdbLibraryPath() string {
	if p := os.Getenv(ChdbLibraryEnv); p != "" {
		return p
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = filepath.Join(os.TempDir(), "cache")
	}
	return filepath.Join(dir, "flowengine", "chdb-"+ChdbVersion, "libchdb.so")
}

// ChdbLibrary returns the path of libchdb.so, failing (CI) or skipping the
// test when it is missing.
func ChdbLibrary(t testing.TB) string {
	t.Helper()
	p := ChdbLibraryPath()
	if _, err := os.Stat(p); err == nil {
		return p
	}
	how := fmt.Sprintf("`make chdb` fetches the npm package @chdb/lib-linux-x64-gnu@%s into %s, or set %s",
		ChdbVersion, filepath.Dir(p), ChdbLibraryEnv)
	if os.Getenv(ChdbLibraryEnv) != "" {
		how = fmt.Sprintf("%s names no file; unset it for the copy `make chdb` fetches", ChdbLibraryEnv)
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("ClickHouse %s from libchdb.so needs linux/amd64", ClickHouse26)
	}
	if CI() {
		t.Fatalf("libchdb.so (ClickHouse %s) not found at %s: %s", ClickHouse26, p, how)
	}
	t.Skipf("libchdb.so (ClickHouse %s) not found at %s: %s", ClickHouse26, p, how)
	return ""
}

// chdbProgram is the chdbserver program, built once per test process.
var chdbProgram struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// chdbServerProgram builds internal/testenv/chdbserver into a temporary
// directory (removed by StopSharedClickHouse) and returns its path.
func chdbServerProgram() (string, error) {
	chdbProgram.once.Do(func() {
		dir, err := os.MkdirTemp("", "flowengine-chdbserver-")
		if err != nil {
			chdbProgram.err = err
			return
		}
		chdbProgram.dir = dir
		// The go command that runs the tests: on the PATH, or in GOROOT.
		goTool := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		}
		path := filepath.Join(dir, "chdbserver")
		// Tests run in their package's directory, inside the module.
		out, err := exec.Command(goTool, "build", "-o", path, "github.com/flowengine/flowengine/internal/testenv/chdbserver").CombinedOutput()
		if err != nil {
			chdbProgram.err = fmt.Errorf("go build chdbserver: %v\n%s", err, out)
			return
		}
		chdbProgram.path = path
	})
	return chdbProgram.path, chdbProgram.err
}

// NewChdbClickHouse serves ClickHouse 26.7 from the library lib (libchdb.so)
// with the chdbserver program server, on the native port tcpPort and the
// HTTP port httpPort, and waits until it answers queries. It has the users
// of NewClickHouse. The caller calls Close; SharedClickHouse does that with
// StopSharedClickHouse.
func NewChdbClickHouse(server, lib string, tcpPort, httpPort int) (*ClickHouseServer, error) {
	if tcpPort == httpPort {
		return nil, fmt.Errorf("clickhouse native and HTTP ports are both %d", tcpPort)
	}
	dir, err := os.MkdirTemp("", "flowengine-chdb-")
	if err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.xml")
	s := &ClickHouseServer{
		Version: ClickHouse26,
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)), TCPPort: tcpPort, HTTPPort: httpPort,
		Dir: dir, bin: server,
		args: []string{"-lib", lib, "-tcp", strconv.Itoa(tcpPort), "-http", strconv.Itoa(httpPort),
			"-path", filepath.Join(dir, "data") + "/", "-config", config,
			"--", "--log-level=warning"}, // clickhouse-local logs every query otherwise
	}
	// Ports and paths are arguments of clickhouse-local (chdbserver); the
	// file holds what has no argument.
	configText := fmt.Sprintf(`<clickhouse>
  <logger><level>warning</level><log>%[1]s/server.log</log><errorlog>%[1]s/error.log</errorlog><console>0</console></logger>
  <users_config>%[1]s/users.xml</users_config>
  <mark_cache_size>67108864</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <keep_alive_timeout>1</keep_alive_timeout>
</clickhouse>
`, dir)
	return startWithConfig(s, "clickhouse", configText, "")
}

// shared holds the test process's servers, one per version.
var shared struct {
	mu      sync.Mutex
	servers map[string]*sharedServer
}

type sharedServer struct {
	once sync.Once
	s    *ClickHouseServer
	err  error
}

// SharedClickHouse returns the test process's server of version
// (ClickHouse18 or ClickHouse26), started by the first test that asks for it
// and stopped by StopSharedClickHouse (call it from TestMain). A missing
// server program or library fails the test under CI and skips it elsewhere.
//
// Tests share the server: each uses a database of its own. A test may Stop
// and Start it; a server found stopped or dead is started again, and one
// that dies during a test fails that test, saying so with its log (libchdb
// can abort when a client resets a connection in the middle of an answer).
func SharedClickHouse(t testing.TB, version string) *ClickHouseServer {
	t.Helper()
	var start func() (*ClickHouseServer, error)
	switch version {
	case ClickHouse18:
		bin := LookPath(t, "clickhouse-server", "clickhouse-server")
		start = func() (*ClickHouseServer, error) {
			return NewClickHouse(bin, FreePort(t, "tcp"), FreePort(t, "tcp"))
		}
	case ClickHouse26:
		lib := ChdbLibrary(t)
		start = func() (*ClickHouseServer, error) {
			prog, err := chdbServerProgram()
			if err != nil {
				return nil, err
			}
			return NewChdbClickHouse(prog, lib, FreePort(t, "tcp"), FreePort(t, "tcp"))
		}
	default:
		t.Fatalf("no ClickHouse %q: the versions are %v", version, ClickHouseVersions)
	}
	shared.mu.Lock()
	if shared.servers == nil {
		shared.servers = map[string]*sharedServer{}
	}
	ss := shared.servers[version]
	if ss == nil {
		ss = &sharedServer{}
		shared.servers[version] = ss
	}
	shared.mu.Unlock()
	ss.once.Do(func() {
		// A port found free may be taken before the server binds it: try
		// other ports then.
		for try := 0; try < 3; try++ {
			ss.s, ss.err = start()
			if ss.err == nil || !strings.Contains(ss.err.Error(), "already in use") {
				break
			}
		}
	})
	if ss.err != nil {
		t.Fatalf("start ClickHouse %s: %v", version, ss.err)
	}
	if ss.s == nil { // the test that started it ended in the middle
		t.Fatalf("start ClickHouse %s: failed in an earlier test", version)
	}
	s := ss.s
	if err := s.died(); err != nil {
		t.Logf("%v\nstarting it again", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("start ClickHouse %s again: %v", version, err)
	}
	t.Cleanup(func() {
		if err := s.died(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return s
}

// died returns an error when the server process ended by itself (not by
// Stop), nil otherwise.
func (s *ClickHouseServer) died() error {
	err := s.Alive()
	if err == nil || errors.Is(err, errStopped) {
		return nil
	}
	return err
}

// ForEachClickHouse runs f as a subtest per version of ClickHouseVersions
// ("18.16", "26.7"), each with that version's shared server.
func ForEachClickHouse(t *testing.T, f func(t *testing.T, s *ClickHouseServer)) {
	t.Helper()
	for _, v := range ClickHouseVersions {
		t.Run(v, func(t *testing.T) { f(t, SharedClickHouse(t, v)) })
	}
}

// ForEachClickHouseParallel is ForEachClickHouse with the subtests run in
// parallel with each other (each has a server of its own), for slow tests
// that mostly wait, such as one that stops its server for a while.
func ForEachClickHouseParallel(t *testing.T, f func(t *testing.T, s *ClickHouseServer)) {
	t.Helper()
	for _, v := range ClickHouseVersions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			f(t, SharedClickHouse(t, v))
		})
	}
}

// StopSharedClickHouse stops the servers SharedClickHouse started and removes
// their data; TestMain calls it after the tests ran.
func StopSharedClickHouse() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, ss := range shared.servers {
		if ss.s != nil {
			ss.s.Close()
		}
	}
	shared.servers = nil
	if chdbProgram.dir != "" {
		os.RemoveAll(chdbProgram.dir)
	}
}
