package inserter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowengine/flowengine/flow"
)

// store is a Sink whose inserts wait for the test: each group's insert
// blocks until its first flow's Bytes is sent on gate (or gates is nil),
// and fails while fail says so.
type store struct {
	mu       sync.Mutex
	gate     map[uint64]chan error // by first flow
	inserted []uint64              // first flow of each insert, in order of completion
	filled   int
	attempts map[uint64]int
}

func newStore() *store {
	return &store{gate: map[uint64]chan error{}, attempts: map[uint64]int{}}
}

// open returns the gate of the group starting with flow id.
func (s *store) open(id uint64) chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.gate[id]
	if !ok {
		c = make(chan error, 4)
		s.gate[id] = c
	}
	return c
}

func (s *store) NewBuffer() *int { return new(int) }

func (s *store) Fill(buf *int, b *flow.Batch) {
	*buf += len(b.Records)
	s.mu.Lock()
	s.filled += len(b.Records)
	s.mu.Unlock()
}

func (s *store) Insert(ctx context.Context, g *Group[*int]) error {
	id := g.Batches[0].Records[0].Bytes
	s.mu.Lock()
	s.attempts[id]++
	s.mu.Unlock()
	select {
	case err := <-s.open(id):
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.inserted = append(s.inserted, id)
	s.mu.Unlock()
	return nil
}

func (s *store) Done(g *Group[*int]) {
	if *g.Buf != g.Rows {
		panic("buffer and group disagree")
	}
	for _, b := range g.Batches {
		b.Release()
	}
}

// released records the batches released, by their first flow's Bytes (0
// for an empty batch), and whether they were marked failed.
type released struct {
	mu     sync.Mutex
	ids    []uint64
	failed []uint64
	ch     chan uint64
}

func newReleased() *released { return &released{ch: make(chan uint64, 100)} }

// batch returns a batch of n flows whose Bytes count from id.
func (r *released) batch(id uint64, n int) *flow.Batch {
	b := flow.NewBatch()
	b.Records = b.Records[:0]
	for i := range n {
		b.Append().Bytes = id + uint64(i)
	}
	first := uint64(0)
	if n > 0 {
		first = id
	}
	b.OnDone(func() {
		r.mu.Lock()
		r.ids = append(r.ids, first)
		if b.Failed() {
			r.failed = append(r.failed, first)
		}
		r.mu.Unlock()
		r.ch <- first
	})
	return b
}

func (r *released) wait(t *testing.T, want ...uint64) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-r.ch:
			if got != w {
				t.Fatalf("released batch %d, want %d (released so far: %v)", got, w, r.snapshot())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("batch %d not released (released so far: %v)", w, r.snapshot())
		}
	}
}

func (r *released) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-r.ch:
		t.Fatalf("batch %d released too early", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func (r *released) snapshot() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.ids...)
}

func run(q *Queue[*int], ctx context.Context, in chan *flow.Batch) chan error {
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, in) }()
	return done
}

func waitAttempts(t *testing.T, s *store, id uint64, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := s.attempts[id]
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("insert of group %d: %d attempts, want %d", id, got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReleasedInOrderWhateverOrderInsertsEnd(t *testing.T) {
	s, r := newStore(), newReleased()
	q := New(Config{BatchSize: 10, Timeout: time.Hour, Concurrency: 3}, Sink[*int](s))
	in := make(chan *flow.Batch)
	done := run(q, context.Background(), in)
	// Three groups of 10 flows (two batches each), all inserting at once.
	for _, id := range []uint64{100, 200, 300} {
		in <- r.batch(id, 6)
		in <- r.batch(id+6, 4)
	}
	for _, id := range []uint64{100, 200, 300} {
		waitAttempts(t, s, id, 1)
	}
	s.open(300) <- nil
	s.open(200) <- nil
	r.none(t)
	s.open(100) <- nil
	r.wait(t, 100, 106, 200, 206, 300, 306)
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := s.inserted; got[2] != 100 {
		t.Errorf("inserts completed in order %v, want 100 last", got)
	}
}

func TestConcurrencyBound(t *testing.T) {
	s, r := newStore(), newReleased()
	q := New(Config{BatchSize: 1, Timeout: time.Hour, Concurrency: 2}, Sink[*int](s))
	in := make(chan *flow.Batch)
	done := run(q, context.Background(), in)
	in <- r.batch(1, 1)
	in <- r.batch(2, 1)
	sent := make(chan struct{})
	go func() { in <- r.batch(3, 1); close(sent) }()
	waitAttempts(t, s, 2, 1)
	// The third group waits for a free insert: Run does not read on.
	go func() { in <- r.batch(4, 1) }()
	time.Sleep(50 * time.Millisecond)
	s.mu.Lock()
	n := s.attempts[3]
	s.mu.Unlock()
	if n != 0 {
		t.Fatal("a third insert started with insert_concurrency 2")
	}
	s.open(1) <- nil
	r.wait(t, 1)
	<-sent
	waitAttempts(t, s, 3, 1)
	s.open(2) <- nil
	s.open(3) <- nil
	s.open(4) <- nil
	r.wait(t, 2, 3, 4)
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutInsertsAPartialGroup(t *testing.T) {
	s, r := newStore(), newReleased()
	q := New(Config{BatchSize: 1000, Timeout: 20 * time.Millisecond, Concurrency: 1}, Sink[*int](s))
	in := make(chan *flow.Batch)
	done := run(q, context.Background(), in)
	in <- r.batch(1, 3)
	in <- r.batch(4, 3)
	s.open(1) <- nil
	s.open(4) <- nil // in case the timeout passed between the two batches
	r.wait(t, 1, 4)
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestEmptyBatchesKeepTheirPlace(t *testing.T) {
	s, r := newStore(), newReleased()
	q := New(Config{BatchSize: 2, Timeout: time.Hour, Concurrency: 2}, Sink[*int](s))
	in := make(chan *flow.Batch)
	done := run(q, context.Background(), in)
	// Nothing pending: released at once.
	in <- r.batch(0, 0)
	r.wait(t, 0)
	// After a group in flight: released with it.
	in <- r.batch(1, 2)
	in <- r.batch(0, 0)
	// After flows still being gathered: released with them.
	in <- r.batch(3, 1)
	in <- r.batch(0, 0)
	in <- r.batch(4, 1)
	r.none(t)
	s.open(3) <- nil
	r.none(t)
	s.open(1) <- nil
	r.wait(t, 1, 0, 3, 0, 4)
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFailedInsertIsResumedByTheNextRun(t *testing.T) {
	s, r := newStore(), newReleased()
	q := New(Config{BatchSize: 1, Timeout: time.Hour, Concurrency: 2}, Sink[*int](s))
	in := make(chan *flow.Batch, 10)
	in <- r.batch(1, 1)
	in <- r.batch(2, 1)
	done := run(q, context.Background(), in)
	waitAttempts(t, s, 2, 1)
	s.open(2) <- nil
	broken := errors.New("server down")
	s.open(1) <- broken
	if err := <-done; !errors.Is(err, broken) {
		t.Fatalf("Run returned %v, want %v", err, broken)
	}
	r.none(t)
	if flows, groups := q.Pending(); flows != 2 || groups != 2 {
		t.Fatalf("pending %d flows in %d groups, want 2 in 2", flows, groups)
	}
	// The next Run inserts group 1 again, not group 2 (written), and
	// releases both in order before reading on.
	s.open(1) <- nil
	in <- r.batch(3, 1)
	close(in)
	done = run(q, context.Background(), in)
	r.wait(t, 1, 2)
	s.open(3) <- nil
	r.wait(t, 3)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.attempts[1] != 2 || s.attempts[2] != 1 {
		t.Errorf("attempts %v, want group 1 twice and group 2 once", s.attempts)
	}
}

func TestShutdownGivesUpWhatIsNotWritten(t *testing.T) {
	s, r := newStore(), newReleased()
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	q := New(Config{BatchSize: 4, Timeout: time.Hour, Concurrency: 2, Name: "test", Dropped: dropped}, Sink[*int](s))
	in := make(chan *flow.Batch)
	ctx, cancel := context.WithCancel(context.Background())
	done := run(q, ctx, in)
	in <- r.batch(1, 4) // written
	in <- r.batch(5, 4) // never written
	waitAttempts(t, s, 5, 1)
	s.open(1) <- nil
	r.wait(t, 1)
	in <- r.batch(10, 4) // written, after group 5
	in <- r.batch(20, 3) // being gathered
	// Group 10 is written, but not released before group 5.
	s.open(10) <- nil
	for deadline := time.Now().Add(5 * time.Second); ; {
		s.mu.Lock()
		n := len(s.inserted)
		s.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("group 10 not written")
		}
		time.Sleep(time.Millisecond)
	}
	r.none(t)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	// Every batch not released is given up, marked failed; the flows not
	// written are counted.
	got := r.snapshot()
	if len(got) != 4 {
		t.Fatalf("released %v, want every batch", got)
	}
	r.mu.Lock()
	failed := r.failed
	r.mu.Unlock()
	if len(failed) != 3 || failed[0] != 5 {
		t.Errorf("failed batches %v, want 5, 10 and 20", failed)
	}
	if n := testutil.ToFloat64(dropped); n != 4+3 {
		t.Errorf("dropped %v flows, want 7 (groups 5 and 20)", n)
	}
	if flows, groups := q.Pending(); flows != 0 || groups != 0 {
		t.Errorf("pending %d flows in %d groups after shutdown", flows, groups)
	}
}

func TestShutdownWaitsForRunningInserts(t *testing.T) {
	s, r := newStore(), newReleased()
	q := New(Config{BatchSize: 1, Timeout: time.Hour, Concurrency: 1}, Sink[*int](s))
	in := make(chan *flow.Batch)
	done := run(q, context.Background(), in)
	in <- r.batch(1, 1)
	waitAttempts(t, s, 1, 1)
	close(in)
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with an insert running", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.open(1) <- nil
	r.wait(t, 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// holder is a store that holds the batches of its groups until Flush.
type holder struct {
	*store
	held   []*flow.Batch
	seals  []bool
	flushs int
}

func (h *holder) Seal(_ *Group[*int], last bool) { h.seals = append(h.seals, last) }
func (h *holder) Holding() bool                  { return len(h.held) > 0 }
func (h *holder) Hold(b *flow.Batch)             { h.held = append(h.held, b) }
func (h *holder) Abandon([]*int)                 {}
func (h *holder) Done(g *Group[*int])            { h.held = append(h.held, g.Batches...) }
func (h *holder) Flush(context.Context) error {
	h.flushs++
	for _, b := range h.held {
		b.Release()
	}
	h.held = nil
	return nil
}

func TestHolderFlushedOnTimeoutAndAtTheEnd(t *testing.T) {
	h, r := &holder{store: newStore()}, newReleased()
	q := New(Config{BatchSize: 2, Timeout: 30 * time.Millisecond, Concurrency: 2}, Sink[*int](h))
	in := make(chan *flow.Batch)
	done := run(q, context.Background(), in)
	s := h.store
	in <- r.batch(1, 2) // full: sealed, not last
	s.open(1) <- nil
	in <- r.batch(3, 1) // sealed by the timeout, last
	s.open(3) <- nil
	r.wait(t, 1, 3)
	in <- r.batch(0, 0) // nothing pending: held, released by the next flush
	in <- r.batch(5, 1)
	s.open(5) <- nil
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.wait(t, 0, 5)
	if len(h.seals) != 3 || h.seals[0] || !h.seals[1] || !h.seals[2] {
		t.Errorf("seals %v, want [false true true]", h.seals)
	}
	if h.flushs < 2 {
		t.Errorf("%d flushes, want 2 (a timeout and the end)", h.flushs)
	}
}
