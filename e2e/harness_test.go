package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/internal/testenv"
)

// syncBuffer is a bytes.Buffer a process may write while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// engineProc is a `flowengine run` process.
type engineProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    syncBuffer // its standard output and error
	done   chan error
	exited bool
}

// startEngine starts `flowengine run args...` in dir and waits until its
// NetFlow and sFlow sources listen. The process is killed at the end of
// the test if it still runs.
func startEngine(t *testing.T, dir string, args ...string) *engineProc {
	t.Helper()
	e := &engineProc{t: t, done: make(chan error, 1)}
	e.cmd = exec.Command(binary, append([]string{"run"}, args...)...)
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
	e.waitFor("the engine to listen", 20*time.Second, func() bool {
		s := e.log.String()
		return strings.Contains(s, "pipeline running") && strings.Contains(s, "listening for netflow") &&
			strings.Contains(s, "listening for sFlow")
	})
	return e
}

// waitFor polls cond until it holds, failing after timeout or when the
// engine exits, with the engine's output.
func (e *engineProc) waitFor(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-e.done:
			e.exited = true
			e.t.Fatalf("flowengine run exited (%v) while waiting for %s:\n%s", err, what, e.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s after %s; engine output:\n%s", what, timeout, e.log.String())
		}
	}
}

// waitLines waits until the file at path has n lines.
func (e *engineProc) waitLines(path string, n int) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("%d flows in %s", n, path), 30*time.Second, func() bool {
		data, err := os.ReadFile(path)
		return err == nil && bytes.Count(data, []byte("\n")) >= n
	})
}

// stop sends SIGTERM and waits for a clean exit.
func (e *engineProc) stop() {
	e.t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		e.t.Fatal(err)
	}
	select {
	case err := <-e.done:
		e.exited = true
		if err != nil {
			e.t.Fatalf("flowengine run after SIGTERM: %v\n%s", err, e.log.String())
		}
	case <-time.After(30 * time.Second):
		e.t.Fatalf("flowengine run did not stop within 30 s of SIGTERM:\n%s", e.log.String())
	}
}

// runExporter runs `flowengine exporter` to the collector port with the
// test's exporters, interfaces and seed, SNMP agents on snmpPort, until it
// sent count flows; extra flags follow (-bmp, say).
func runExporter(t *testing.T, e *engineProc, protocol string, port, snmpPort, count int, truth string, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out syncBuffer
	args := append([]string{"exporter",
		"-collector", fmt.Sprintf("127.0.0.1:%d", port), "-protocol", protocol,
		"-exporters", fmt.Sprint(numExporters), "-interfaces", fmt.Sprint(numInterfaces),
		"-count", fmt.Sprint(count), "-rate", "2000", "-snmp-port", fmt.Sprint(snmpPort),
		"-template-interval", "1s", "-seed", "7", "-quiet", "-truth", truth}, extra...)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("flowengine exporter: %v\n%s\nengine:\n%s", err, out.String(), e.log.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("flows=%d ", count)) {
		t.Fatalf("flowengine exporter did not send %d flows:\n%s", count, out.String())
	}
}

// metricsAddress finds the address `flowengine run` serves /metrics on.
var metricsAddress = regexp.MustCompile(`msg="serving metrics and API" address=(\S+)`)

// metricLine is a sample of the Prometheus text format.
var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

// scrape returns the samples of the engine's /metrics, keyed by name and
// labels as the text format writes them: name{label="value",...}.
func (e *engineProc) scrape() map[string]float64 {
	e.t.Helper()
	m := metricsAddress.FindStringSubmatch(e.log.String())
	if m == nil {
		e.t.Fatalf("no metrics address in the engine's log:\n%s", e.log.String())
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := metricLine.FindStringSubmatch(sc.Text()); l != nil {
			v, err := strconv.ParseFloat(l[3], 64)
			if err != nil {
				e.t.Fatalf("metric %q: %v", sc.Text(), err)
			}
			samples[l[1]+l[2]] = v
		}
	}
	if err := sc.Err(); err != nil {
		e.t.Fatal(err)
	}
	return samples
}

// sample is a metric sample a test expects.
type sample struct {
	name string // name{labels}, labels sorted
	want float64
}

func checkMetrics(t *testing.T, metrics map[string]float64, want []sample) {
	t.Helper()
	for _, s := range want {
		got, ok := metrics[s.name]
		if !ok {
			t.Errorf("no metric %s", s.name)
			continue
		}
		if got != s.want {
			t.Errorf("%s = %v, want %v", s.name, got, s.want)
		}
	}
}

var stageTotals = regexp.MustCompile(`msg="stage totals" stage=(\S+) flows_in=(\d+) flows_out=(\d+) flows_dropped=(\d+) errors=(\d+) restarts=(\d+)`)

// checkTotals checks the totals the engine logs at shutdown, [flows in,
// flows out] per stage, and that no stage dropped flows, failed or restarted.
func checkTotals(t *testing.T, log string, want map[string][2]int) {
	t.Helper()
	got := map[string][2]int{}
	for _, m := range stageTotals.FindAllStringSubmatch(log, -1) {
		in, _ := strconv.Atoi(m[2])
		out, _ := strconv.Atoi(m[3])
		got[m[1]] = [2]int{in, out}
		if m[4] != "0" || m[5] != "0" || m[6] != "0" {
			t.Errorf("stage %s: %s flows dropped, %s errors, %s restarts", m[1], m[4], m[5], m[6])
		}
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("stage totals [flows in, flows out] (-got +want):\n%s", diff)
	}
}

func readRecords(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var records []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v: %s", len(records)+1, err, sc.Text())
		}
		records = append(records, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return records
}

// udpPorts returns n distinct UDP ports that were free a moment ago.
func udpPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		p := testenv.FreePort(t, "udp")
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}
