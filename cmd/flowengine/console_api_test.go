package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// consoleRun is a `flowengine run` serving the console over DuckDB.
type consoleRun struct {
	base, ops string // console and metrics URLs
	token     string
	cmd       *exec.Cmd
	done      chan error // the exit of cmd
	stderr    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startConsole runs generate -> duckdb -> console on free ports, with auth
// (the body of the console's auth block, or "" for none), and waits until
// flows can be queried.
func startConsole(t *testing.T, auth string) *consoleRun {
	t.Helper()
	dir := t.TempDir()
	opsPort, conPort := freeTCPPort(t), freeTCPPort(t)
	authBlock := ""
	if auth != "" {
		authBlock = "auth {\n" + auth + "\n}"
	}
	p := writePipeline(t, fmt.Sprintf(`
pipeline {
  listen    = "127.0.0.1:%d"
  state_dir = ""
}
source "generate" "g" {
  rate          = 5000
  sampling_rate = 10
}
sink "duckdb" "local" {
  input = source.generate.g
  path  = "%s"
}
console {
  listen = "127.0.0.1:%d"
  store  = sink.duckdb.local
  %s
}
`, opsPort, filepath.Join(dir, "flows.duckdb"), conPort, authBlock))
	r := &consoleRun{base: fmt.Sprintf("http://127.0.0.1:%d", conPort), ops: fmt.Sprintf("http://127.0.0.1:%d", opsPort), stderr: &syncBuffer{}}
	r.cmd = exec.Command(binary, "run", p)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("run after SIGTERM: %v\n%s", err, r.stderr)
			}
		case <-time.After(30 * time.Second):
			_ = r.cmd.Process.Kill()
			t.Errorf("run did not stop after SIGTERM\n%s", r.stderr)
		}
	})
	return r
}

// do sends a request to the console and decodes its JSON answer.
func (r *consoleRun) do(t *testing.T, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	base := r.base
	if strings.HasPrefix(path, "ops:") {
		base, path = r.ops, strings.TrimPrefix(path, "ops:")
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, r.stderr)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Errorf("%s %s %s: %d %s", method, path, body, resp.StatusCode, data)
	}
	var m map[string]any
	if len(bytes.TrimSpace(data)) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, m
}

// wait polls until flows can be queried.
func (r *consoleRun) wait(t *testing.T) {
	t.Helper()
	r.poll(t, "no flow could be queried", func() bool { return flowsStored(r) })
}

// waitUp polls until the console answers GET columns with 200, sending
// header (name, value pairs).
func (r *consoleRun) waitUp(t *testing.T, header ...string) {
	t.Helper()
	r.poll(t, "console not up", func() bool {
		req, _ := http.NewRequest("GET", r.base+"/api/v0/console/columns", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// poll calls ready every 100 ms until it is true, failing the test when
// the run exits or after 60 seconds.
func (r *consoleRun) poll(t *testing.T, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("run exited (%v):\n%s", err, r.stderr)
		default:
		}
		if ready() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after 60 s:\n%s", what, r.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// flowsStored reports whether the sink has flows in and a table query
// counts some.
func flowsStored(r *consoleRun) bool {
	var stats struct {
		Stages []struct {
			ID      string `json:"id"`
			FlowsIn uint64 `json:"flows_in"`
		} `json:"stages"`
	}
	if err := getJSON(r.ops+"/api/v0/pipeline", &stats); err != nil {
		return false
	}
	for _, s := range stats.Stages {
		if s.ID == "sink.duckdb.local" && s.FlowsIn == 0 {
			return false
		}
	}
	now := time.Now().UTC()
	body := fmt.Sprintf(`{"start": %q, "end": %q, "metric": "flows"}`, now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Minute).Format(time.RFC3339))
	req, _ := http.NewRequest("POST", r.base+"/api/v0/console/table", strings.NewReader(body))
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var table struct {
		Rows []struct {
			Total float64 `json:"total"`
		} `json:"rows"`
	}
	return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&table) == nil && len(table.Rows) > 0 && table.Rows[0].Total > 0
}

func message(m map[string]any) string { s, _ := m["message"].(string); return s }

// TestConsoleAPI runs generate -> duckdb -> console and exercises every
// endpoint of the console API, its limits, its errors and its token.
func TestConsoleAPI(t *testing.T) {
	const token = "test-token-0123456789"
	r := startConsole(t, fmt.Sprintf("token = %q", token))
	r.token = token
	r.wait(t)
	if !strings.Contains(r.stderr.String(), fmt.Sprintf(`msg="serving the console" url=%s/ store=sink.duckdb.local auth=token`, r.base)) {
		t.Errorf("run does not say where the console is:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr.String(), token) {
		t.Errorf("the log shows the token:\n%s", r.stderr)
	}
	now := time.Now().UTC()
	rng := fmt.Sprintf(`"start": %q, "end": %q`, now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Minute).Format(time.RFC3339))

	t.Run("auth", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			header string
			status int
		}{
			{"missing", "", 401},
			{"wrong", "Bearer test-token-0123456788", 401},
			{"not bearer", "Basic " + token, 401},
			{"right", "Bearer " + token, 200},
		} {
			code, body := r.do(t, "GET", "/api/v0/console/columns", "", "Authorization", tc.header)
			if code != tc.status {
				t.Errorf("%s: %d %v", tc.name, code, body)
			}
			if code == 401 && !strings.Contains(message(body), "Authorization: Bearer") {
				t.Errorf("%s: %v", tc.name, body)
			}
		}
	})

	t.Run("page and operators' endpoints", func(t *testing.T) {
		resp, err := http.Get(r.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The web console when its bundle is built, else the page saying how to build it.
		if resp.StatusCode != 200 || !strings.Contains(string(page), `<div id="app">`) && !strings.Contains(string(page), "make build") {
			t.Errorf("page: %d %s", resp.StatusCode, page)
		}
		if code, body := r.do(t, "GET", "/api/v0/pipeline", ""); code != 200 || len(body["stages"].([]any)) != 2 {
			t.Errorf("pipeline on the console: %d %v", code, body)
		}
		if code, body := r.do(t, "GET", "ops:/api/v0/pipeline", "", "Authorization", ""); code != 200 || len(body["stages"].([]any)) != 2 {
			t.Errorf("pipeline on the metrics address: %d %v", code, body)
		}
		if code, body := r.do(t, "GET", "/api/v0/schemas.json", ""); code != 200 || body["versions"] == nil {
			t.Errorf("schemas: %d %v", code, body)
		}
		resp, err = http.Get(r.ops + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(metrics), `flowengine_stage_flows_in_total{stage="sink.duckdb.local"}`) {
			t.Error("/metrics lacks the per-stage counters")
		}
	})

	t.Run("columns", func(t *testing.T) {
		code, body := r.do(t, "GET", "/api/v0/console/columns", "")
		found := false
		for _, c := range body["columns"].([]any) {
			c := c.(map[string]any)
			if c["name"] == "SrcAS" && c["dimension"] == true && c["type"] != "" && c["description"] != "" {
				found = true
			}
		}
		if code != 200 || !found {
			t.Errorf("%d %v", code, body)
		}
	})

	t.Run("graphs and table", func(t *testing.T) {
		code, line := r.do(t, "POST", "/api/v0/console/graph/line", `{`+rng+`, "points": 60, "dimensions": ["ExporterAddress"], "limit": 2, "metric": "l3bps"}`)
		if code != 200 || len(line["series"].([]any)) == 0 || len(line["time"].([]any)) == 0 {
			t.Fatalf("line: %d %v", code, line)
		}
		// The totals of a table's rows, Other included, add up to the total
		// of the same query without dimensions.
		code, all := r.do(t, "POST", "/api/v0/console/table", `{`+rng+`, "metric": "flows", "filter": "DstPort = 443"}`)
		if code != 200 || len(all["rows"].([]any)) != 1 {
			t.Fatalf("table: %d %v", code, all)
		}
		// Flows keep arriving: compare with a range that ended in the past.
		end := now.Add(-time.Second).Truncate(time.Second)
		fixed := fmt.Sprintf(`"start": %q, "end": %q`, end.Add(-time.Hour).Format(time.RFC3339), end.Format(time.RFC3339))
		_, all = r.do(t, "POST", "/api/v0/console/table", `{`+fixed+`, "metric": "flows", "filter": "DstPort = 443"}`)
		_, split := r.do(t, "POST", "/api/v0/console/table", `{`+fixed+`, "metric": "flows", "filter": "DstPort = 443", "dimensions": ["SrcAddr/24", "Proto"], "limit": 2}`)
		total := all["rows"].([]any)[0].(map[string]any)["total"].(float64)
		sum, other := 0.0, false
		for _, row := range split["rows"].([]any) {
			row := row.(map[string]any)
			sum += row["total"].(float64)
			other = other || row["dimensions"].([]any)[0] == "Other"
		}
		if total == 0 || math.Abs(sum-total) > 1e-6*total {
			t.Errorf("rows add up to %v, the whole is %v", sum, total)
		}
		if len(split["rows"].([]any)) > 3 {
			t.Errorf("limit 2: %v", split)
		}
		code, sankey := r.do(t, "POST", "/api/v0/console/graph/sankey", `{`+rng+`, "dimensions": ["Proto", "DstPort"], "limit": 5}`)
		if code != 200 || len(sankey["links"].([]any)) == 0 {
			t.Errorf("sankey: %d %v", code, sankey)
		}
		for _, metric := range []string{"l2bps", "pps", "inl2%", "outl2%"} {
			if code, body := r.do(t, "POST", "/api/v0/console/graph/line", `{`+rng+`, "metric": "`+metric+`", "bidirectional": true, "previous_period": true}`); code != 200 {
				t.Errorf("%s: %d %v", metric, code, body)
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		code, body := r.do(t, "POST", "/api/v0/console/filter/validate", `{"filter": "Proto = tcp AND DstPort IN (443, 80)"}`)
		if code != 200 || body["valid"] != true || len(body["errors"].([]any)) != 0 {
			t.Errorf("valid: %d %v", code, body)
		}
		code, body = r.do(t, "POST", "/api/v0/console/filter/validate", `{"filter": "Proto = tcp AND\nDstPort >"}`)
		errs, _ := body["errors"].([]any)
		if code != 200 || body["valid"] != false || len(errs) == 0 {
			t.Fatalf("invalid: %d %v", code, body)
		}
		if e := errs[0].(map[string]any); e["line"] != 2.0 || e["offset"].(float64) < 14 || e["message"] == "" {
			t.Errorf("error position: %v", e)
		}
		code, body = r.do(t, "POST", "/api/v0/console/filter/complete", `{"filter": "DstPo", "offset": 5}`)
		found := false
		for _, c := range body["completions"].([]any) {
			found = found || c.(map[string]any)["label"] == "DstPort"
		}
		if code != 200 || !found {
			t.Errorf("complete: %d %v", code, body)
		}
		// A query with a bad filter says where.
		code, body = r.do(t, "POST", "/api/v0/console/table", `{`+rng+`, "filter": "DstPort = = 443"}`)
		errs, _ = body["errors"].([]any)
		if code != 400 || !strings.Contains(message(body), "column") || len(errs) == 0 || errs[0].(map[string]any)["offset"] != 10.0 {
			t.Errorf("bad filter: %d %v", code, body)
		}
	})

	t.Run("widgets", func(t *testing.T) {
		for _, path := range []string{"flow-rate", "exporters", "top/DstPort", "top/proto", "last-flow"} {
			if code, body := r.do(t, "GET", "/api/v0/console/widgets/"+path, ""); code != 200 || len(body) == 0 {
				t.Errorf("%s: %d %v", path, code, body)
			}
		}
		_, last := r.do(t, "GET", "/api/v0/console/widgets/last-flow", "")
		if last["ExporterAddress"] == nil || last["SamplingRate"] != 10.0 {
			t.Errorf("last flow %v", last)
		}
		if code, body := r.do(t, "GET", "/api/v0/console/widgets/top/Bytes", ""); code != 400 {
			t.Errorf("top of a counter: %d %v", code, body)
		}
		// A filtered top: the flows with a route (none from generate), the
		// UDP ones; a bad filter says where, an unknown parameter is refused.
		if code, body := r.do(t, "GET", "/api/v0/console/widgets/top/DstASPath?filter="+url.QueryEscape("DstASPath != ''"), ""); code != 200 || body["rows"] == nil || len(body["rows"].([]any)) != 0 {
			t.Errorf("top of the routed flows: %d %v", code, body)
		}
		// (The widgets read whole minutes: rows once the first one ends.)
		code, body := r.do(t, "GET", "/api/v0/console/widgets/top/Proto?filter="+url.QueryEscape("Proto = udp"), "")
		rows, ok := body["rows"].([]any)
		for _, row := range rows {
			if d := row.(map[string]any)["dimensions"].([]any)[0]; d != "17" {
				ok = false
			}
		}
		if code != 200 || !ok {
			t.Errorf("top of the UDP flows: %d %v", code, body)
		}
		code, body = r.do(t, "GET", "/api/v0/console/widgets/top/DstFirstAS?filter="+url.QueryEscape("DstASPath HAS 65000:1"), "")
		if errs, _ := body["errors"].([]any); code != 400 || len(errs) != 1 || !strings.Contains(message(body), "AS number") {
			t.Errorf("top with a bad filter: %d %v", code, body)
		}
		if code, body := r.do(t, "GET", "/api/v0/console/widgets/top/Proto?where=1", ""); code != 400 || !strings.Contains(message(body), "Unknown parameter") {
			t.Errorf("top with an unknown parameter: %d %v", code, body)
		}
	})

	t.Run("saved filters", func(t *testing.T) {
		if code, body := r.do(t, "PUT", "/api/v0/console/filters/saved", `{"name": "web", "filter": "DstPort IN (80, 443)", "description": "HTTP(S)"}`); code != 200 {
			t.Fatalf("save: %d %v", code, body)
		}
		if code, body := r.do(t, "PUT", "/api/v0/console/filters/saved", `{"name": "dns'; --", "filter": "DstPort = 53"}`); code != 200 && code != 400 {
			t.Errorf("save a strange name: %d %v", code, body)
		}
		if code, body := r.do(t, "PUT", "/api/v0/console/filters/saved", `{"name": "bad", "filter": "DstPort = = 53"}`); code != 400 {
			t.Errorf("save a bad filter: %d %v", code, body)
		}
		code, body := r.do(t, "GET", "/api/v0/console/filters/saved", "")
		names := map[string]any{}
		for _, f := range body["filters"].([]any) {
			names[f.(map[string]any)["name"].(string)] = f.(map[string]any)["filter"]
		}
		if code != 200 || names["web"] != "DstPort IN (80, 443)" {
			t.Errorf("list: %d %v", code, body)
		}
		if code, _ := r.do(t, "DELETE", "/api/v0/console/filters/saved/web", ""); code != 204 {
			t.Errorf("delete: %d", code)
		}
		if code, _ := r.do(t, "DELETE", "/api/v0/console/filters/saved?name=dns%27%3B%20--", ""); code != 204 {
			t.Errorf("delete ?name=: %d", code)
		}
		if _, body := r.do(t, "GET", "/api/v0/console/filters/saved", ""); len(body["filters"].([]any)) != 0 {
			t.Errorf("after deletes: %v", body)
		}
	})

	t.Run("limits", func(t *testing.T) {
		long := fmt.Sprintf(`"start": "2020-01-01T00:00:00Z", "end": %q`, now.Format(time.RFC3339))
		many := `"SrcAddr", "DstAddr", "SrcPort", "DstPort", "Proto", "ExporterAddress", "InIfIndex", "OutIfIndex", "EType", "SrcAS", "DstAS"`
		for _, tc := range []struct{ name, body, limit string }{
			{"range", `{` + long + `}`, "range"},
			{"points", `{` + rng + `, "points": 100000}`, "points"},
			{"dimensions", `{` + rng + `, "dimensions": [` + many + `]}`, "dimensions"},
			{"top-N", `{` + rng + `, "limit": 1000}`, "limit"},
		} {
			code, body := r.do(t, "POST", "/api/v0/console/graph/line", tc.body)
			if code != 400 || !strings.Contains(body["limit"].(string)+message(body), tc.limit) || body["max"] == nil {
				t.Errorf("%s: %d %v", tc.name, code, body)
			}
		}
		big := `{"filter": "` + strings.Repeat("x", 2<<20) + `"}`
		if code, body := r.do(t, "POST", "/api/v0/console/filter/validate", big); code != 413 || !strings.Contains(message(body), "max_body_size") {
			t.Errorf("large body: %d %v", code, body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct{ name, path, body, want string }{
			{"bad JSON", "/graph/line", `{"start": `, "JSON"},
			{"unknown field", "/graph/line", `{` + rng + `, "metrics": "pps"}`, `did you mean "metric"?`},
			{"unknown metric", "/graph/line", `{` + rng + `, "metric": "bps"}`, "Unknown metric"},
			{"unknown dimension", "/table", `{` + rng + `, "dimensions": ["SrcASN"]}`, `Did you mean "SrcAS"?`},
		} {
			code, body := r.do(t, "POST", "/api/v0/console"+tc.path, tc.body)
			if code != 400 || !strings.Contains(message(body), tc.want) {
				t.Errorf("%s: %d %v", tc.name, code, body)
			}
		}
	})

	// Attempts to reach SQL through the filter or the dimensions are refused
	// or answered as data; never a 500, and the store still answers after.
	t.Run("injection", func(t *testing.T) {
		_, before := r.do(t, "POST", "/api/v0/console/table", `{`+rng+`, "metric": "flows"}`)
		filters := []string{
			`ExporterName = "x'; DROP TABLE flows; --"`,
			`ExporterName = 'x'' OR 1=1 --'`,
			`ExporterName = "\\"`,
			`ExporterName = "\u0000"`,
			`ExporterName LIKE "%' UNION SELECT 1 --"`,
			`DstPort = 443; DROP TABLE flows`,
			`DstPort = 443 /* */ OR 1=1`,
			`DstPort = 443) OR (1=1`,
			`ExporterName = "é\u202e'"`,
			`SrcAddr << "0.0.0.0/0'; --"`,
			`1=1`,
			`DstPort = 443 -- ; DELETE FROM flows`,
			`DstASPath = '1 2''); DROP TABLE flows; --'`,
			`DstCommunities HAS "65000:1'); --"`,
			`DstFirstAS = 1 OR 1=1`,
		}
		for _, f := range filters {
			fj, _ := json.Marshal(f)
			code, body := r.do(t, "POST", "/api/v0/console/table", `{`+rng+`, "filter": `+string(fj)+`}`)
			if code != 200 && code != 400 {
				t.Errorf("filter %s: %d %v", f, code, body)
			}
			if code, body := r.do(t, "GET", "/api/v0/console/widgets/top/DstASPath?filter="+url.QueryEscape(f), ""); code != 200 && code != 400 {
				t.Errorf("widget filter %s: %d %v", f, code, body)
			}
			r.do(t, "POST", "/api/v0/console/filter/validate", `{"filter": `+string(fj)+`}`)
			r.do(t, "POST", "/api/v0/console/filter/complete", `{"filter": `+string(fj)+`}`)
		}
		for _, d := range []string{`SrcAS; DROP TABLE flows`, `SrcAS"`, `"SrcAS"`, `SrcAddr/24; --`, `SrcAddr/-1`, `1`, `*`} {
			dj, _ := json.Marshal(d)
			code, body := r.do(t, "POST", "/api/v0/console/table", `{`+rng+`, "dimensions": [`+string(dj)+`]}`)
			if code != 400 {
				t.Errorf("dimension %s: %d %v", d, code, body)
			}
			r.do(t, "GET", "/api/v0/console/widgets/top/"+strings.ReplaceAll(d, "/", "%2F"), "")
		}
		_, after := r.do(t, "POST", "/api/v0/console/table", `{`+rng+`, "metric": "flows"}`)
		b := before["rows"].([]any)[0].(map[string]any)["total"].(float64)
		a := after["rows"].([]any)[0].(map[string]any)["total"].(float64)
		if a < b {
			t.Errorf("flows went from %v to %v", b, a)
		}
	})
}

// A console behind an authenticating proxy refuses requests without its
// user header.
func TestConsoleUserHeader(t *testing.T) {
	r := startConsole(t, `trust_user_header = "Remote-User"`)
	r.waitUp(t, "Remote-User", "alice")
	if code, body := r.do(t, "GET", "/api/v0/console/columns", ""); code != 401 || !strings.Contains(message(body), "Remote-User") {
		t.Errorf("without the header: %d %v", code, body)
	}
}
