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
