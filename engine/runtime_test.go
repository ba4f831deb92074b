package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowengine/flowengine/engine"
)

func mustCompile(t testing.TB, src string) *engine.Graph {
	t.Helper()
	g, _, diags := compile(src)
	if diags.HasErrors() {
		t.Fatalf("compile: %s", diags.Error())
	}
	return g
}

func countLines(t *testing.T, path string) (n int, speeds map[uint64]int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	speeds = map[uint64]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct{ InIfSpeed uint64 }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		speeds[rec.InIfSpeed]++
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n, speeds
}

func stat(rt *engine.Runtime, id string) engine.StageStats {
	for _, s := range rt.Stats().Stages {
		if s.ID == id {
			return s
		}
	}
	return engine.StageStats{}
}

// A generator with a count runs to completion: every flow reaches both sinks
// of a fan-out, and each mutating branch works on its own copy.
func TestRunToCompletionWithFanOut(t *testing.T) {
	dir := t.TempDir()
	g := mustCompile(t, fmt.Sprintf(`
source "generate" "g" {
  rate  = 0
  count = 50000
}
enricher "passthrough" "a" {
  input = source.generate.g
  mark  = 1
}
enricher "passthrough" "b" {
  input   = source.generate.g
  mark    = 10
  workers = 2
}
sink "file" "a" {
  input = enricher.passthrough.a
  path  = "%[1]s/a.jsonl"
}
sink "file" "b" {
  input = enricher.passthrough.b
  path  = "%[1]s/b.jsonl"
}
sink "blackhole" "all" {
  input = [enricher.passthrough.a, enricher.passthrough.b, source.generate.g]
}
`, dir))
	rt := engine.NewRuntime(g)
	if err := rt.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		mark uint64
	}{{"a.jsonl", 1}, {"b.jsonl", 10}} {
		n, speeds := countLines(t, filepath.Join(dir, tc.file))
		if n != 50000 {
			t.Errorf("%s: %d flows, want 50000", tc.file, n)
		}
		if len(speeds) != 1 || speeds[tc.mark] != n {
			t.Errorf("%s: InIfSpeed counts %v, want all %d (branches must not share records)", tc.file, speeds, tc.mark)
		}
	}
	if got := stat(rt, "sink.blackhole.all").FlowsIn; got != 150000 {
		t.Errorf("blackhole got %d flows, want 150000", got)
	}
}

// SIGTERM (context cancellation) during a run: every flow the source handed
// on reaches the sink before Run returns.
func TestShutdownDrainsEverything(t *testing.T) {
	dir := t.TempDir()
	g := mustCompile(t, fmt.Sprintf(`
pipeline { buffer = 64 }
source "generate" "g" { rate = 0 }
enricher "passthrough" "p" { input = source.generate.g }
enricher "passthrough" "q" {
  input   = enricher.passthrough.p
  workers = 2
}
sink "file" "out" {
  input = enricher.passthrough.q
  path  = "%s/out.jsonl"
}
`, dir))
	rt := engine.NewRuntime(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- rt.Run(ctx) }()
	waitFor(t, 30*time.Second, "20000 flows at the sink", func() bool { return stat(rt, "sink.file.out").FlowsIn >= 20000 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sent := stat(rt, "source.generate.g").FlowsOut
	n, _ := countLines(t, filepath.Join(dir, "out.jsonl"))
	if uint64(n) != sent || sent == 0 {
		t.Fatalf("source sent %d flows, file has %d", sent, n)
	}
	for _, s := range rt.Stats().Stages {
		if s.FlowsDropped != 0 {
			t.Errorf("%s dropped %d flows", s.ID, s.FlowsDropped)
		}
	}
}

// when_full = "drop" counts what it drops: with a sink that reads nothing
// until the source is done, most flows are dropped, and in + dropped = what
// was sent, the sink receiving exactly what was let in.
func TestWhenFullDropCounts(t *testing.T) {
	const sent = 200000
	g := mustCompile(t, `
source "generate" "g" {
  rate  = 0
  count = 200000
}
sink "gate" "slow" {
  input     = source.generate.g
  buffer    = 1
  when_full = "drop"
}
`)
	sink := gates["sink.gate.slow"]
	rt := engine.NewRuntime(g)
	done := make(chan error, 1)
	go func() { done <- rt.Run(context.Background()) }()
	waitFor(t, 30*time.Second, "the source to hand on every flow", func() bool {
		return stat(rt, "source.generate.g").FlowsOut == sent
	})
	close(sink.open)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the pipeline did not finish")
	}
	s := stat(rt, "sink.gate.slow")
	t.Logf("sent %d: in %d, dropped %d", sent, s.FlowsIn, s.FlowsDropped)
	if s.FlowsDropped == 0 || s.FlowsIn == 0 {
		t.Fatalf("in %d, dropped %d: a full input with when_full = \"drop\" must drop, and let the first batch in", s.FlowsIn, s.FlowsDropped)
	}
	if s.FlowsIn+s.FlowsDropped != sent {
		t.Errorf("in %d + dropped %d != %d sent", s.FlowsIn, s.FlowsDropped, sent)
	}
	if got := sink.flows.Load(); got != s.FlowsIn {
		t.Errorf("the sink received %d flows, its input counted %d", got, s.FlowsIn)
	}
	if s.FlowsIn >= sent/2 {
		t.Errorf("in %d of %d: a buffer of one batch cannot hold that much", s.FlowsIn, sent)
	}
}

// A failing stage is restarted with backoff and loses nothing; with
// on_failure = "stop" the pipeline stops with the stage's error.
func TestFailurePolicies(t *testing.T) {
	dir := t.TempDir()
	src := `
pipeline { on_failure = "%s" }
source "generate" "g" {
  rate  = 0
  count = 5000
}
enricher "passthrough" "flaky" {
  input      = source.generate.g
  fail_first = 2
}
sink "file" "out" {
  input = enricher.passthrough.flaky
  path  = "%s/%s.jsonl"
}
`
	g := mustCompile(t, fmt.Sprintf(src, "restart", dir, "restart"))
	rt := engine.NewRuntime(g)
	if err := rt.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := stat(rt, "enricher.passthrough.flaky"); s.Restarts != 2 || s.Errors != 2 {
		t.Errorf("restarts %d errors %d, want 2 and 2", s.Restarts, s.Errors)
	}
	if n, _ := countLines(t, filepath.Join(dir, "restart.jsonl")); n != 5000 {
		t.Errorf("file has %d flows, want 5000", n)
	}

	g = mustCompile(t, fmt.Sprintf(src, "stop", dir, "stop"))
	err := engine.NewRuntime(g).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "enricher.passthrough.flaky") || !strings.Contains(err.Error(), "induced failure") {
		t.Fatalf("Run() = %v, want the stage's error", err)
	}
}

// The compiled graph comes out in topological order with fan-in and fan-out.
func TestTopologicalOrder(t *testing.T) {
	g := mustCompile(t, `
sink "blackhole" "end" { input = [enricher.passthrough.c, enricher.passthrough.b] }
enricher "passthrough" "c" { input = enricher.passthrough.b }
enricher "passthrough" "b" { input = [source.generate.a, source.generate.z] }
source "generate" "z" {}
source "generate" "a" {}
`)
	pos := map[string]int{}
	for i, n := range g.Nodes {
		pos[n.ID.String()] = i
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if pos[in.ID.String()] >= pos[n.ID.String()] {
				t.Errorf("%s comes after its consumer %s", in.ID, n.ID)
			}
		}
	}
}

// A sink with input = [] receives nothing and keeps the pipeline running
// until it is stopped (it is a store that only the console reads).
func TestQueryOnlySinkRunsUntilStopped(t *testing.T) {
	g := mustCompile(t, `
source "generate" "g" {
  rate  = 0
  count = 100
}
sink "blackhole" "null" { input = source.generate.g }
sink "blackhole" "store" { input = [] }
`)
	rt := engine.NewRuntime(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	// Once the source's branch has finished, the pipeline keeps running.
	waitFor(t, 30*time.Second, "the null sink to finish", func() bool {
		s := stat(rt, "sink.blackhole.null")
		return s.State == "stopped"
	})
	if s := stat(rt, "sink.blackhole.null"); s.FlowsIn != 100 {
		t.Errorf("null sink got %d flows", s.FlowsIn)
	}
	select {
	case err := <-done:
		t.Fatalf("the pipeline stopped by itself: %v", err)
	case <-time.After(100 * time.Millisecond): // nothing may happen: a wait is the check
	}
	if s := stat(rt, "sink.blackhole.store"); s.State != "running" {
		t.Errorf("store sink is %q, want running", s.State)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pipeline did not stop")
	}
}
