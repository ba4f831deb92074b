package duckdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// TestMain lets the test binary hold a database open in a child process
// (the lock test): with DUCKDB_TEST_HOLD set it opens that file, says
// "ready" and waits for its stdin to close.
func TestMain(m *testing.M) {
	if path := os.Getenv("DUCKDB_TEST_HOLD"); path != "" {
		db, err := openDB(context.Background(), path, path)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		db.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func actions(p *engine.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		s := string(c.Action) + " " + c.Resource
		if c.Destructive {
			s += " (destructive)"
		}
		out = append(out, s)
	}
	return out
}

func TestProvision(t *testing.T) {
	t.Run("new", func(t *testing.T) { testProvision(t, false) })
	t.Run("empty file", func(t *testing.T) { testProvision(t, true) })
}

func testProvision(t *testing.T, empty bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "flows.duckdb")
	if empty {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := newSink(t, path, "")
	ctx := context.Background()
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"+ duckdb database " + path,
		"+ duckdb table flows",
		"+ duckdb table flows_1m0s",
		"+ duckdb table flows_5m0s",
		"+ duckdb table flows_1h0m0s",
		"+ duckdb table saved_filters",
	}
	if diff := cmp.Diff(actions(plan), want); diff != "" {
		t.Fatalf("plan (-got +want):\n%s", diff)
	}
	if st, err := os.Stat(path); (!empty && !errors.Is(err, os.ErrNotExist)) || (empty && (err != nil || st.Size() != 0)) {
		t.Errorf("plan created or changed the database file (%v)", err)
	}
	var out strings.Builder
	engine.WritePlans(&out, []*engine.Plan{plan})
	t.Logf("plan:\n%s", out.String())
	for _, w := range []string{"retention 15d", "retention 7d", "retention 90d", "retention 730d", "SrcAddr UHUGEINT", "DstASPath UINTEGER[]", "DstLargeCommunities UHUGEINT[]", "Plan: 6 to add"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("plan output lacks %q", w)
		}
	}
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}
	again, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != 0 {
		t.Fatalf("second plan: %q", actions(again))
	}
	tables := s.Tables()
	var names []string
	for _, tb := range tables {
		names = append(names, fmt.Sprintf("%s %s %s scaled=%v cols=%d", tb.Name, tb.Interval, tb.Retention, tb.Scaled, len(tb.Columns)))
	}
	rollupCols := 0
	for _, c := range store.RollupColumns() {
		if !c.Kind.IsList() {
			rollupCols++
		}
	}
	wantTables := []string{
		fmt.Sprintf("flows 0s 360h0m0s scaled=false cols=%d", len(flow.Columns)),
		fmt.Sprintf("flows_1m0s 1m0s 168h0m0s scaled=true cols=%d", rollupCols),
		fmt.Sprintf("flows_5m0s 5m0s 2160h0m0s scaled=true cols=%d", rollupCols),
		fmt.Sprintf("flows_1h0m0s 1h0m0s 17520h0m0s scaled=true cols=%d", rollupCols),
	}
	if diff := cmp.Diff(names, wantTables); diff != "" {
		t.Errorf("Tables (-got +want):\n%s", diff)
	}
}

func withoutColumn(name string) []flow.Column {
	var cols []flow.Column
	for _, c := range flow.Columns {
		if c.Name != name {
			cols = append(cols, c)
		}
	}
	return cols
}

// TestProvisionChanges: a column the pipeline adds is planned with "+" and
// added; a column it no longer has is a destructive change, refused without
// allow_destructive.
func TestProvisionChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	old, _ := newSink(t, path, "")
	old.columns = withoutColumn("DstNetTenant")
	old.tables = wantTables(old.columns, old.cfg.retention)
	provision(t, old)
	old.Close()

	s, _ := newSink(t, path, "")
	ctx := context.Background()
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(actions(plan), []string{"+ duckdb column flows.DstNetTenant"}); diff != "" {
		t.Fatalf("plan (-got +want):\n%s", diff)
	}
	var out strings.Builder
	engine.WritePlans(&out, []*engine.Plan{plan})
	if !strings.Contains(out.String(), "+ duckdb column flows.DstNetTenant") || !strings.Contains(out.String(), "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Errorf("plan output:\n%s", out.String())
	}
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}
	// Inserts work with the added column at the end of the table.
	in := make(chan *flow.Batch, 1)
	var done atomic.Int64
	go func() {
		feed(ctx, in, 0, 100, 100, time.Now(), &done)
		close(in)
	}()
	if err := s.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	db, _ := s.open(ctx)
	if _, err := db.Exec(`ALTER TABLE flows ADD COLUMN "Legacy" VARCHAR`); err != nil {
		t.Fatal(err)
	}
	plan, err = s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(actions(plan), []string{"- duckdb column flows.Legacy (destructive)"}); diff != "" {
		t.Fatalf("plan (-got +want):\n%s", diff)
	}
	err = s.Apply(ctx, plan)
	if err == nil || !strings.Contains(err.Error(), "allow_destructive") || !errors.Is(err, engine.ErrPermanent) {
		t.Fatalf("destructive change applied or wrong error: %v", err)
	}
	s.cfg.allowDestructive = true
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Plan(ctx); len(again.Changes) != 0 {
		t.Fatalf("plan after apply: %q", actions(again))
	}
}

// TestRestart: a second sink on the same file plans nothing and appends to
// what the first one wrote.
func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Hour)
	var done atomic.Int64
	for run := 0; run < 2; run++ {
		s, _ := newSink(t, path, "")
		plan, err := s.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if run == 1 && len(plan.Changes) != 0 {
			t.Fatalf("plan after restart: %q", actions(plan))
		}
		if err := s.Apply(ctx, plan); err != nil {
			t.Fatal(err)
		}
		in := make(chan *flow.Batch, 1)
		go func() {
			feed(ctx, in, run*5000, 5000, 1000, base, &done)
			close(in)
		}()
		if err := s.Run(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := newSink(t, path, "")
	db, err := s.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := query[int64](t, db, "SELECT count(*) FROM flows"); n != 10000 || done.Load() != 10000 {
		t.Errorf("%d flows stored, %d released, want 10000", n, done.Load())
	}
	if n := query[string](t, db, `SELECT CAST(SUM("Flows") AS VARCHAR) FROM flows_1h0m0s`); n != query[string](t, db, `SELECT CAST(SUM("SamplingRate") AS VARCHAR) FROM flows`) {
		t.Errorf("flows_1h0m0s counts %s flows", n)
	}
}

// TestRetention deletes rows older than each table's retention.
func TestRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, _ := newSink(t, path, `retention = { flows = "1d", flows_5m0s = "0s" }`)
	provision(t, s)
	ctx := context.Background()
	now := time.Now().UTC()
	in := make(chan *flow.Batch, 4)
	var done atomic.Int64
	go func() {
		for _, age := range []time.Duration{0, 3 * 24 * time.Hour, 30 * 24 * time.Hour, 1000 * 24 * time.Hour} {
			feed(ctx, in, 0, 100, 100, now.Add(-age), &done)
		}
		close(in)
	}()
	if err := s.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	db, _ := s.open(ctx)
	if err := s.enforceRetention(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, table := range []string{"flows", "flows_1m0s", "flows_5m0s", "flows_1h0m0s"} {
		got[table] = query[int64](t, db, fmt.Sprintf(`SELECT count(DISTINCT date_trunc('day', "TimeReceived")) FROM %s`, table))
	}
	// Days kept: flows 1d, 1m 7d, 5m forever, 1h 2y.
	want := map[string]int64{"flows": 1, "flows_1m0s": 2, "flows_5m0s": 4, "flows_1h0m0s": 3}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("days kept (-got +want):\n%s", diff)
	}
}

// TestLocked: a second process opening the file gets an error naming the
// file and the process holding it.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, _ := newSink(t, path, "")
	provision(t, s)
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DUCKDB_TEST_HOLD="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("child: %q", line)
	}
	pid := strconv.Itoa(cmd.Process.Pid)

	s2, _ := newSink(t, path, "")
	_, err := s2.Plan(context.Background())
	if err == nil {
		t.Fatal("plan opened a locked file")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "process "+pid) ||
		!errors.Is(err, ErrLocked) || !errors.Is(err, engine.ErrPermanent) {
		t.Errorf("error does not name the file and PID %s, or is not permanent: %v", pid, err)
	}
	in := make(chan *flow.Batch)
	close(in)
	if err := s2.Run(context.Background(), in); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("run: %v", err)
	}
}

// TestCorrupted: a file that is not a DuckDB database stops provisioning
// with a message naming it.
func TestCorrupted(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"garbage": []byte(strings.Repeat("not a database ", 50000)),
		"damaged": nil,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".duckdb")
			if content == nil {
				// A real database with its blocks (past the headers) overwritten.
				s, _ := newSink(t, path, "")
				provision(t, s)
				s.Close()
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				st, _ := f.Stat()
				junk := make([]byte, st.Size()-12288)
				for i := range junk {
					junk[i] = byte(i * 7)
				}
				f.WriteAt(junk, 12288)
				f.Close()
			} else if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			s, _ := newSink(t, path, "")
			_, err := s.Plan(context.Background())
			if err == nil {
				t.Fatal("plan read a corrupted file")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) || !errors.Is(err, engine.ErrPermanent) {
				t.Errorf("error does not name the file or is not permanent: %v", err)
			}
		})
	}
}
