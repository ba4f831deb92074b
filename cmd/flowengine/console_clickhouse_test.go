package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowengine/flowengine/internal/testenv"
)

// pipelines/console.hcl serves the console over the tables another process
// filled: one run writes generated flows into ClickHouse, then the console
// pipeline answers queries over them with the same numbers, on both
// ClickHouse servers.
func TestConsoleOverClickHouse(t *testing.T) {
	testenv.ForEachClickHouse(t, testConsoleOverClickHouse)
}

func testConsoleOverClickHouse(t *testing.T, srv *testenv.ClickHouseServer) {
	const count, rate = 20000, 10
	db := "console_" + strings.ReplaceAll(srv.Version, ".", "_")
	// The writer's sink has the tables console.hcl declares.
	writer := writePipeline(t, fmt.Sprintf(`
pipeline {
  listen    = "127.0.0.1:0"
  state_dir = ""
}
source "generate" "g" {
  rate          = 0
  count         = %d
  sampling_rate = %d
}
sink "clickhouse" "flows" {
  input         = source.generate.g
  servers       = [%q]
  database      = %q
  batch_timeout = "200ms"
  retention     = "30d"
  consolidation {
    interval  = "1m"
    retention = "90d"
  }
  consolidation {
    interval  = "5m"
    retention = "365d"
  }
  consolidation {
    interval  = "1h"
    retention = "1825d"
  }
}
`, count, rate, srv.Addr, db))
	start := time.Now().UTC().Add(-time.Minute)
	if _, errOut, code := flowengine(t, "run", writer); code != 0 {
		t.Fatalf("writer: exit %d\n%s", code, errOut)
	}
	console, err := filepath.Abs("../../pipelines/console.hcl")
	if err != nil {
		t.Fatal(err)
	}
	// The console pipeline finds its tables as it would create them.
	out, errOut, code := flowengine(t, "plan", "-detailed-exitcode", "-var", fmt.Sprintf(`clickhouse_servers=["%s"]`, srv.Addr), "-var", "clickhouse_database="+db, console)
	if code != 0 || !strings.Contains(out, "No changes") {
		t.Errorf("plan of console.hcl over the writer's tables: exit %d\n%s%s", code, out, errOut)
	}

	port := freeTCPPort(t)
	r := &consoleRun{base: fmt.Sprintf("http://127.0.0.1:%d", port), stderr: &syncBuffer{}}
	r.cmd = exec.Command(binary, "run", "-listen", "127.0.0.1:0", "-console-listen", fmt.Sprintf("127.0.0.1:%d", port),
		"-var", fmt.Sprintf(`clickhouse_servers=["%s"]`, srv.Addr), "-var", "clickhouse_database="+db, console)
	r.cmd.Dir = t.TempDir()
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait() }()
	defer func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("console after SIGTERM: %v\n%s", err, r.stderr)
			}
		case <-time.After(30 * time.Second):
			_ = r.cmd.Process.Kill()
			t.Errorf("console did not stop after SIGTERM\n%s", r.stderr)
		}
	}()
	r.waitUp(t)

	end := time.Now().UTC().Add(time.Minute).Truncate(time.Minute)
	rng := fmt.Sprintf(`"start": %q, "end": %q`, start.Truncate(time.Minute).Format(time.RFC3339), end.Format(time.RFC3339))
	total := func(body string) float64 {
		code, res := r.do(t, "POST", "/api/v0/console/table", body)
		if code != 200 {
			t.Fatalf("table %s: %d %v", body, code, res)
		}
		sum := 0.0
		for _, row := range res["rows"].([]any) {
			sum += row.(map[string]any)["total"].(float64)
		}
		return sum
	}
	// Raw table (a dimension not in the rollups) and rollup agree with what
	// was written, scaled by the sampling rate.
	for _, q := range []string{
		`{` + rng + `, "metric": "flows"}`,
		`{` + rng + `, "metric": "flows", "dimensions": ["SrcAddr/24"], "limit": 3}`,
		`{` + rng + `, "metric": "flows", "dimensions": ["Proto", "ExporterAddress"], "limit": 2}`,
	} {
		if got := total(q); math.Abs(got-count*rate) > 1e-6 {
			t.Errorf("%s: %v flows, want %d", q, got, count*rate)
		}
	}
	if code, body := r.do(t, "POST", "/api/v0/console/graph/line", `{`+rng+`, "dimensions": ["DstPort"], "bidirectional": true, "previous_period": true}`); code != 200 || len(body["series"].([]any)) == 0 {
		t.Errorf("line: %d %v", code, body)
	}
	if code, body := r.do(t, "POST", "/api/v0/console/graph/sankey", `{`+rng+`, "dimensions": ["Proto", "DstPort"]}`); code != 200 || len(body["links"].([]any)) == 0 {
		t.Errorf("sankey: %d %v", code, body)
	}
	for _, f := range []string{`ExporterName = "x'; DROP TABLE flows; --"`, `ExporterName = 'x'' OR 1=1 --'`, `ExporterName = "\\'"`, `DstPort = 443; DROP TABLE flows`, `SrcAddr << "0.0.0.0/0') OR (1=1"`} {
		fj, _ := json.Marshal(f)
		if code, body := r.do(t, "POST", "/api/v0/console/table", `{`+rng+`, "filter": `+string(fj)+`}`); code != 200 && code != 400 {
			t.Errorf("injection %s: %d %v", f, code, body)
		}
	}
	if got := total(`{` + rng + `, "metric": "flows"}`); math.Abs(got-count*rate) > 1e-6 {
		t.Errorf("after the injection attempts: %v flows, want %d", got, count*rate)
	}
	if code, body := r.do(t, "PUT", "/api/v0/console/filters/saved", `{"name": "web", "filter": "DstPort = 443"}`); code != 200 {
		t.Errorf("save: %d %v", code, body)
	}
	if code, body := r.do(t, "GET", "/api/v0/console/filters/saved", ""); code != 200 || len(body["filters"].([]any)) != 1 {
		t.Errorf("saved: %d %v", code, body)
	}
	if code, _ := r.do(t, "DELETE", "/api/v0/console/filters/saved/web", ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	for _, path := range []string{"flow-rate", "exporters", "top/DstPort", "last-flow"} {
		if code, body := r.do(t, "GET", "/api/v0/console/widgets/"+path, ""); code != 200 {
			t.Errorf("%s: %d %v", path, code, body)
		}
	}
	if code, body := r.do(t, "POST", "/api/v0/console/graph/line", `{`+rng+`, "points": 5000}`); code != 400 || body["limit"] != "points" {
		t.Errorf("limit: %d %v", code, body)
	}
}
