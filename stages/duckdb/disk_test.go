package duckdb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// smallDisk mounts a tmpfs of size (e.g. "4m") in a temporary directory, or
// skips the test where this process may not mount.
func smallDisk(t *testing.T, size string) (dir string, resize func(size string)) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a small tmpfs to fill (CI runs as root): %v %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir, func(size string) {
		if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
			t.Fatalf("resize: %v %s", err, out)
		}
	}
}

// TestFullDisk fills the disk under the database: the failed transactions
// are counted, their batches not released; once there is room again they
// are retried and committed, nothing lost nor doubled.
func TestFullDisk(t *testing.T) {
	dir, resize := smallDisk(t, "6m")
	path := filepath.Join(dir, "flows.duckdb")
	s, reg := newSink(t, path, "batch_size = 20000\nretry_backoff = \"50ms\"\nretry_max_backoff = \"200ms\"\ninsert_concurrency = 1")
	provision(t, s)
	ctx := context.Background()
	in := make(chan *flow.Batch, 1000)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, in) }()
	var done atomic.Int64
	const n = 150000
	feed(ctx, in, 0, n, 1000, time.Now(), &done)
	deadline := time.Now().Add(60 * time.Second)
	for counter(t, reg, "flowengine_duckdb_insert_errors_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed insert with a full disk (%d flows released)", done.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stuck := done.Load()
	if stuck >= n {
		t.Fatalf("every flow released with a full disk")
	}
	time.Sleep(300 * time.Millisecond)
	if d := done.Load(); d != stuck {
		t.Errorf("flows released while the disk is full: %d then %d", stuck, d)
	}
	t.Logf("disk full after %d flows; %v failed transactions", stuck, counter(t, reg, "flowengine_duckdb_insert_errors_total"))
	resize("512m")
	close(in)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("the sink did not recover once the disk had room")
	}
	if done.Load() != n {
		t.Errorf("%d flows released, want %d", done.Load(), n)
	}
	db := s.mustDB(t)
	if got := query[int64](t, db, "SELECT count(*) FROM flows"); got != n {
		t.Errorf("%d flows stored, want %d", got, n)
	}
	if got, want := query[int64](t, db, `SELECT CAST(SUM("Flows") AS BIGINT) FROM flows_1m0s`), query[int64](t, db, `SELECT CAST(SUM("SamplingRate") AS BIGINT) FROM flows`); got != want {
		t.Errorf("flows_1m0s counts %d flows, flows %d", got, want)
	}
}
