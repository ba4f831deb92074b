package duckdb

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
)

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		src, want string // want: a diagnostic's summary, or "" for none
	}{
		{`path = "x.duckdb"`, ""},
		{`path = ""`, "Missing database path"},
		{"path = \"x\"\nretention = { flows = \"30d\", flows_1h0m0s = \"5y\", flows_5m0s = \"0s\" }", ""},
		{"path = \"x\"\nretention = { flow = \"30d\" }", "Unknown table in retention"},
		{"path = \"x\"\nretention = { flows = \"soon\" }", "Invalid retention"},
		{"path = \"x\"\nretention = { flows = \"10m\" }", "Retention too short"},
		{"path = \"x\"\nmemory_limit = \"lots\"", "Invalid memory limit"},
		{"path = \"x\"\nthreads = -1", "Invalid threads"},
		{"path = \"x\"\nbatch_size = 0", "Invalid batch size"},
		{"path = \"x\"\ninsert_concurrency = 9", "Invalid insert_concurrency"},
		{"path = \"x\"\nmax_retries = -1", "Invalid max_retries"},
		{"path = \"x\"\nretention_interval = \"0s\"", "Invalid retention interval"},
	} {
		cfg, diags := dsl.DecodeString(c.src, Spec)
		if !diags.HasErrors() {
			_, diags = New(cfg, engine.Env{})
		}
		var got string
		for _, d := range diags {
			got = d.Summary
			if d.Subject == nil && c.want != "" {
				t.Errorf("%q: diagnostic %q without a source range", c.src, d.Summary)
			}
		}
		if got != c.want {
			t.Errorf("%q: diagnostic %q, want %q", c.src, got, c.want)
		}
	}
	cfg, _ := dsl.DecodeString("path = \"x\"\nretention = { flows = \"30d\", flows_1h0m0s = \"5y\", flows_5m0s = \"0s\" }", Spec)
	s, _ := New(cfg, engine.Env{})
	want := map[string]time.Duration{"flows": 30 * 24 * time.Hour, "flows_1m0s": 7 * 24 * time.Hour, "flows_5m0s": 0, "flows_1h0m0s": 5 * 365 * 24 * time.Hour}
	for table, d := range want {
		if s.cfg.retention[table] != d {
			t.Errorf("retention of %s: %s, want %s", table, s.cfg.retention[table], d)
		}
	}
}

// TestSettings: memory_limit and threads reach DuckDB.
func TestSettings(t *testing.T) {
	s, _ := newSink(t, filepath.Join(t.TempDir(), "flows.duckdb"), "memory_limit = \"512MiB\"\nthreads = 1")
	db, err := s.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var mem, threads string
	if err := db.QueryRow("SELECT current_setting('memory_limit'), CAST(current_setting('threads') AS VARCHAR)").Scan(&mem, &threads); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mem, "512") || threads != "1" {
		t.Errorf("memory_limit %s, threads %s", mem, threads)
	}
}
