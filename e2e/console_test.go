package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsoleBrowser runs a pipeline with its console (netflow and sflow
// sources, three enrichers among them bmp, a classifier, the DuckDB store),
// feeds it with `flowengine exporter -bmp` (flows and their routers' routes),
// and drives the web console in Debian's chromium
// through playwright-core (console/web/e2e/console.mjs): home shows a non-zero
// flow rate, its first load under 40 kB without ECharts and CodeMirror;
// visualize draws a stacked graph and a sankey; a filter with a typo shows the
// error under the typo and a valid one changes the graph; a sankey of one
// dimension says it needs two, and the dimension picker finds the second by
// its description; a copied URL reproduces the view; the pipeline page shows
// every stage with counters that move, and the exporters with the names the
// store has for them (the sources know addresses only); once the first minute
// is stored, the home page's BGP cards list AS paths and first AS numbers,
// and a path opens Visualize filtered on it. Screenshots of every
// page land in $CONSOLE_SCREENSHOTS (a temporary directory when unset).
func TestConsoleBrowser(t *testing.T) {
	web, err := filepath.Abs("../console/web")
	if err != nil {
		t.Fatal(err)
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	requireTool(t, fileExists(chromium), "Debian's chromium ("+chromium+"): apt-get install chromium (make test-deps does)")
	_, err = exec.LookPath("node")
	requireTool(t, err == nil, "Node.js: apt-get install nodejs npm")
	requireTool(t, fileExists(filepath.Join(web, "node_modules/playwright-core/package.json")), "playwright-core: cd console/web && npm ci (make web-test does)")
	stages, err := exec.Command(binary, "stages").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stages), `sink "duckdb"`) {
		requireTool(t, false, "a flowengine build with sink \"duckdb\" (cgo), the store the test's console reads")
	}

	dir := t.TempDir()
	consolePort, metricsPort := freeTCP(t), freeTCP(t)
	netflowPort, sflowPort, bmpPort := freeUDP(t), freeUDP(t), freeTCP(t)
	pipeline := fmt.Sprintf(`
pipeline {
  listen    = "127.0.0.1:%d"
  state_dir = "%s/state"
}
source "netflow" "routers" {
  listen = "127.0.0.1:%d"
}
source "sflow" "switches" {
  listen = "127.0.0.1:%d"
}
enricher "metadata" "names" {
  input = [source.netflow.routers, source.sflow.switches]
  exporter "127.0.0.1" {
    name = "edge-1"
  }
}
enricher "bmp" "routes" {
  input      = enricher.metadata.names
  listen     = "127.0.0.1:%d"
  asn_source = "flow-else-routing"
}
enricher "networks" "private" {
  input    = enricher.bmp.routes
  networks = { "10.0.0.0/8" = { name = "rfc1918", role = "private" } }
}
classifier "exporter" "sites" {
  input = enricher.networks.private
  rule {
    site = "lab"
  }
}
sink "duckdb" "local" {
  input         = classifier.exporter.sites
  path          = "%s/flows.duckdb"
  batch_timeout = "300ms"
}
console {
  listen = "127.0.0.1:%d"
  store  = sink.duckdb.local
}
`, metricsPort, dir, netflowPort, sflowPort, bmpPort, dir, consolePort)
	file := filepath.Join(dir, "console.hcl")
	if err := os.WriteFile(file, []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}

	e := startConsole(t, dir, file)
	base := fmt.Sprintf("http://127.0.0.1:%d", consolePort)

	page := get(t, base+"/")
	requireTool(t, strings.Contains(page, `<div id="app">`), "the web console in the binary: make build (or cd console/web && npm ci && npx vite build)")

	// The exporters run for the whole test, so the pipeline's counters move.
	ctx, cancel := context.WithCancel(context.Background())
	exp := exec.CommandContext(ctx, binary, "exporter", "-collector", fmt.Sprintf("127.0.0.1:%d", netflowPort),
		"-protocol", "netflow9", "-exporters", "3", "-rate", "1000", "-template-interval", "1s",
		"-bmp", fmt.Sprintf("127.0.0.1:%d", bmpPort), "-quiet")
	var expOut syncBuffer
	exp.Stdout, exp.Stderr = &expOut, &expOut
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = exp.Wait()
	})
	e.waitFor("flows in the store", 30*time.Second, func() bool {
		end := time.Now().UTC()
		body := fmt.Sprintf(`{"start":%q,"end":%q,"metric":"flows"}`, end.Add(-5*time.Minute).Format(time.RFC3339), end.Add(time.Minute).Format(time.RFC3339))
		resp, err := http.Post(base+"/api/v0/console/graph/line", "application/json", strings.NewReader(body))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var line struct{ Series []struct{ Total float64 } }
		return json.NewDecoder(resp.Body).Decode(&line) == nil && len(line.Series) > 0 && line.Series[0].Total > 0
	})
	// The pipeline API names 127.0.0.1 with what enricher "metadata" wrote
	// in its stored flows.
	e.waitFor("the exporter name in /api/v0/pipeline", 30*time.Second, func() bool {
		return strings.Contains(get(t, base+"/api/v0/pipeline"), `"name": "edge-1"`)
	})

	shots := os.Getenv("CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(dir, "screenshots")
	} else if shots, err = filepath.Abs(shots); err != nil {
		t.Fatal(err)
	}
	// Three minutes: the BGP cards wait for the first stored minute.
	tctx, tcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer tcancel()
	cmd := exec.CommandContext(tctx, "node", "e2e/console.mjs", base, shots)
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "BGP=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var failed []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if strings.HasPrefix(line, "FAIL") {
			failed = append(failed, line)
		}
	}
	if err := cmd.Wait(); err != nil || len(failed) > 0 {
		t.Fatalf("the browser test failed (%v): %s\n%s\nscreenshots in %s\nengine:\n%s", err, strings.Join(failed, "; "), stderr.String(), shots, tail(e.log.String(), 40))
	}
	t.Logf("screenshots in %s", shots)

	// The console loses its server, says so, and finds it again.
	rc := exec.CommandContext(tctx, "node", "e2e/reconnect.mjs", base, shots)
	rc.Dir = web
	rc.Env = cmd.Env
	in, err := rc.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	rout, err := rc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var rerr syncBuffer
	rc.Stderr = &rerr
	if err := rc.Start(); err != nil {
		t.Fatal(err)
	}
	rsc := bufio.NewScanner(rout)
	next := func(want string) {
		t.Helper()
		if !rsc.Scan() || rsc.Text() != want {
			in.Close()
			_ = rc.Wait()
			t.Fatalf("reconnect: want %q, got %q\n%s", want, rsc.Text(), rerr.String())
		}
	}
	next("open")
	e.stop()
	fmt.Fprintln(in, "stopped")
	next("offline")
	e = startConsole(t, dir, file)
	fmt.Fprintln(in, "started")
	next("back")
	if err := rc.Wait(); err != nil {
		t.Fatalf("reconnect: %v\n%s", err, rerr.String())
	}
	t.Log("ok   reconnect: the console said it lost its server and came back by itself")
	e.stop()
}

// startConsole runs `flowengine run file` in dir and waits until its console
// serves.
func startConsole(t *testing.T, dir, file string) *engineProc {
	t.Helper()
	e := &engineProc{t: t, done: make(chan error, 1)}
	e.cmd = exec.Command(binary, "run", file)
	e.cmd.Dir = dir
	e.cmd.Stdout, e.cmd.Stderr = &e.log, &e.log
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.done <- e.cmd.Wait() }()
	t.Cleanup(func() {
		if !e.exited {
			e.cmd.Process.Kill()
			<-e.done
		}
	})
	e.waitFor("the console", 20*time.Second, func() bool { return strings.Contains(e.log.String(), "serving the console") })
	return e
}

// requireTool fails the test when a tool it needs is missing under CI, and skips
// it saying how to install the tool otherwise.
func requireTool(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("missing %s", what)
	}
	t.Skipf("missing %s", what)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func freeTCP(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDP(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
