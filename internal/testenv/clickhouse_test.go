package testenv

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClickHouse starts a server, stops it and starts it again on the same
// ports and data (Stop takes about a second: the test configuration shortens
// the server's waits for idle connections).
func TestClickHouse(t *testing.T) {
	s := StartClickHouse(t)
	if err := s.query("CREATE TABLE default.t (x UInt8) ENGINE = Log"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Stop()
	t.Logf("stopped in %s", time.Since(start))
	if s.Running() {
		t.Fatal("running after Stop")
	}
	if err := s.query("SELECT 1"); err == nil {
		t.Fatal("the server answers after Stop")
	}
	start = time.Now()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(start))
	if err := s.query("SELECT count() FROM default.t"); err != nil {
		t.Fatalf("the table created before the restart: %v", err)
	}
	if s.CPUTime() <= 0 {
		t.Errorf("no CPU time for the server process")
	}
}

// TestChdbClickHouse starts the shared ClickHouse 26.7 server (libchdb.so),
// checks its version and users, and stops and restarts it on the same data.
func TestChdbClickHouse(t *testing.T) {
	start := time.Now()
	s := SharedClickHouse(t, ClickHouse26)
	t.Logf("ClickHouse %s served from %s, ready in %s", s.Version, ChdbLibraryPath(), time.Since(start).Round(time.Millisecond))
	if err := s.query("SELECT version() LIKE '26.7.%' OR throwIf(1, 'not 26.7')"); err != nil {
		t.Fatal(err)
	}
	if err := s.query("CREATE TABLE default.t (x UInt8) ENGINE = MergeTree ORDER BY x"); err != nil {
		t.Fatal(err)
	}
	if err := s.query("INSERT INTO default.t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	if err := s.queryAs(ClickHouseUser, ClickHousePassword, "SELECT 1"); err != nil {
		t.Errorf("user %s: %v", ClickHouseUser, err)
	}
	if err := s.queryAs(ClickHouseUser, "wrong", "SELECT 1"); err == nil {
		t.Errorf("user %s answers with a wrong password", ClickHouseUser)
	}
	start = time.Now()
	s.Stop()
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	if s.Running() {
		t.Fatal("running after Stop")
	}
	start = time.Now()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(start).Round(time.Millisecond))
	if err := s.query("SELECT count() = 2 OR throwIf(1, 'rows lost') FROM default.t"); err != nil {
		t.Fatalf("the table written before the restart: %v", err)
	}
	if s.CPUTime() <= 0 {
		t.Errorf("no CPU time for the server process")
	}
	if SharedClickHouse(t, ClickHouse26) != s {
		t.Errorf("a second server in the same process")
	}
}

// recorder is a testing.TB that keeps the errors and cleanups of a test, to
// check what SharedClickHouse reports.
type recorder struct {
	testing.TB
	errors   []string
	cleanups []func()
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// TestChdbDied kills the shared 26.7 server under a test: the test fails
// saying the server died, and the next test gets it started again.
func TestChdbDied(t *testing.T) {
	r := &recorder{TB: t}
	s := SharedClickHouse(r, ClickHouse26)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); s.Running(); {
		if time.Now().After(deadline) {
			t.Fatal("the server survives SIGKILL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, f := range r.cleanups {
		f()
	}
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "ClickHouse 26.7 server") || !strings.Contains(r.errors[0], "died") {
		t.Fatalf("the test was told %q, want that the server died", r.errors)
	}
	t.Logf("the test was told: %s", r.errors[0])
	if again := SharedClickHouse(t, ClickHouse26); again != s || !again.Running() {
		t.Fatalf("not the same server started again")
	}
	if err := s.query("SELECT 1"); err != nil {
		t.Fatal(err)
	}
}
