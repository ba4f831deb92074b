package testenv

import (
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
