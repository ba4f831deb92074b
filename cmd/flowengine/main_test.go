package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowengine-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "flowengine")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build: %v\n%s", err, out))
	}
	code := m.Run()
	testenv.StopSharedClickHouse()
	os.RemoveAll(dir)
	os.Exit(code)
}

func flowengine(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func writePipeline(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidate(t *testing.T) {
	out, errOut, code := flowengine(t, "validate", "../../pipelines/default.hcl")
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("default pipeline: code %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = flowengine(t, "validate", "../../testdata/pipelines/invalid/unknown_attribute.hcl")
	if code != 1 {
		t.Fatalf("invalid pipeline: exit %d", code)
	}
	for _, want := range []string{
		"Error: Unsupported argument",
		"on ../../testdata/pipelines/invalid/unknown_attribute.hcl line 2, in source \"generate\" \"demo\":",
		`Did you mean "rate"?`,
		"line 7",
		"Error: Missing required argument",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestRunWritesJSONLines(t *testing.T) {
	out := filepath.Join(t.TempDir(), "flows.jsonl")
	p := writePipeline(t, fmt.Sprintf(`
pipeline {
  listen    = "127.0.0.1:0"
  state_dir = "%s"
}
source "generate" "g" {
  rate  = 0
  count = 3000
}
sink "file" "out" {
  input = source.generate.g
  path  = var.out
}
variable "out" {}
`, t.TempDir()))
	_, errOut, code := flowengine(t, "run", "-var", "out="+out, p)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if len(rec) != len(flow.Columns) {
			t.Fatalf("line %d has %d keys, want %d", n+1, len(rec), len(flow.Columns))
		}
		for _, c := range flow.Columns {
			if _, ok := rec[c.Name]; !ok {
				t.Fatalf("line %d lacks %s", n+1, c.Name)
			}
		}
		n++
	}
	if n != 3000 {
		t.Fatalf("%d lines, want 3000", n)
	}
}

var totals = regexp.MustCompile(`msg="stage totals" stage=(\S+) flows_in=(\d+) flows_out=(\d+) flows_dropped=(\d+)`)

// SIGTERM during a run: every flow the source accepted reaches the file.
func TestSIGTERMDeliversEverything(t *testing.T) {
	out := filepath.Join(t.TempDir(), "flows.jsonl")
	p := writePipeline(t, fmt.Sprintf(`
pipeline {
  listen    = "127.0.0.1:0"
  state_dir = ""
}
source "generate" "g" { rate = 200000 }
sink "file" "out" {
  input = source.generate.g
  path  = "%s"
}
`, out))
	var e bytes.Buffer
	cmd := exec.Command(binary, "run", p)
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, err := os.Stat(out); err == nil && st.Size() > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no output after 20 s:\n%s", e.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run after SIGTERM: %v\n%s", err, e.String())
	}
	sent := -1
	for _, m := range totals.FindAllStringSubmatch(e.String(), -1) {
		if m[1] == "source.generate.g" {
			sent, _ = strconv.Atoi(m[3])
		}
		if m[4] != "0" {
			t.Errorf("%s dropped %s flows", m[1], m[4])
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(data, []byte("\n"))
	if sent <= 0 || lines != sent {
		t.Fatalf("source sent %d flows, file has %d lines\n%s", sent, lines, e.String())
	}
}

func TestGraphAndStages(t *testing.T) {
	out, _, code := flowengine(t, "graph", "-format", "dot", "../../pipelines/default.hcl")
	if code != 0 || !strings.Contains(out, `"source.netflow.routers" -> "enricher.snmp.interfaces"`) {
		t.Errorf("dot graph (exit %d):\n%s", code, out)
	}
	out, _, code = flowengine(t, "graph", "-format", "mermaid", "../../pipelines/default.hcl")
	if code != 0 || !strings.Contains(out, "classifier_interface_boundary --> sink_duckdb_local") {
		t.Errorf("mermaid graph (exit %d):\n%s", code, out)
	}
	out, _, code = flowengine(t, "stages")
	for _, want := range []string{`source "generate"`, `sink "file"`, `sink "blackhole"`, `source "netflow"`, "rotate_size", "pipeline", `sink "duckdb"`, "console", "trust_user_header"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("stages output lacks %q", want)
		}
	}
}

func TestPlanWithoutProvisioners(t *testing.T) {
	p := writePipeline(t, `
source "generate" "g" {}
sink "file" "out" {
  input = source.generate.g
  path  = "flows.jsonl"
}
`)
	out, errOut, code := flowengine(t, "plan", "-detailed-exitcode", p)
	if code != 0 || !strings.Contains(out, "No changes") {
		t.Errorf("plan: exit %d\n%s%s", code, out, errOut)
	}
	// The default pipeline's DuckDB file is yet to be created, and plan
	// creates nothing.
	out, errOut, code = flowengine(t, "plan", "-detailed-exitcode", "-var", "duckdb_path="+filepath.Join(t.TempDir(), "flows.duckdb"), "../../pipelines/default.hcl")
	if code != 2 || !strings.Contains(out, "+ duckdb table flows\n") {
		t.Errorf("plan of the default pipeline: exit %d\n%s%s", code, out, errOut)
	}
}

func TestUnknownCommand(t *testing.T) {
	_, errOut, code := flowengine(t, "valdiate")
	if code != 1 || !strings.Contains(errOut, `did you mean "validate"?`) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// The run API serves the pipeline with live counters and the schema versions.
func TestRunAPI(t *testing.T) {
	port := freeTCPPort(t)
	p := writePipeline(t, fmt.Sprintf(`
pipeline {
  listen    = "127.0.0.1:%d"
  state_dir = ""
}
source "generate" "g" { rate = 1000 }
sink "blackhole" "null" { input = source.generate.g }
`, port))
	cmd := exec.Command(binary, "run", p)
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var pipeline struct {
		Stages []struct {
			ID       string `json:"id"`
			FlowsOut uint64 `json:"flows_out"`
		} `json:"stages"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := getJSON(base+"/api/v0/pipeline", &pipeline)
		if err == nil && len(pipeline.Stages) == 2 && pipeline.Stages[0].FlowsOut > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline API: %v %+v\n%s", err, pipeline, e.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pipeline.Stages[0].ID != "source.generate.g" {
		t.Errorf("stages %+v", pipeline.Stages)
	}
	var schemas struct {
		Current  int `json:"current"`
		Versions []struct {
			Topic string `json:"topic"`
			Proto string `json:"proto"`
		} `json:"versions"`
	}
	if err := getJSON(base+"/api/v0/schemas.json", &schemas); err != nil {
		t.Fatal(err)
	}
	if schemas.Current != flow.SchemaVersion || len(schemas.Versions) == 0 || !strings.Contains(schemas.Versions[0].Proto, "message FlowV1") {
		t.Errorf("schemas %+v", schemas)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `flowengine_stage_flows_in_total{stage="sink.blackhole.null"}`) {
		t.Error("metrics lack the per-stage counters")
	}
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
