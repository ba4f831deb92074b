// Package inserter runs the inserts of a store sink (ClickHouse, DuckDB):
// it gathers the flow batches it receives into groups of batch_size flows
// or batch_timeout, hands each group to the sink's insert in a goroutine of
// its own, up to insert_concurrency at once, and releases the batches
// strictly in the order received, each only once the insert of its group
// and of every older group succeeded (at-least-once delivery). A failed
// insert stops Run with its error; its group, and every group not
// released, waits for the next Run (the engine restarts a failing sink),
// which inserts them again first. Past the shutdown deadline, the flows
// not written are counted as dropped and their batches marked failed.
//
// Retry is the backoff the sinks retry their inserts with.
package inserter

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/flow"
)

// Group is the flows of one insert: the sink's buffer, and the batches
// whose flows it holds, oldest first.
type Group[B any] struct {
	Buf     B
	Batches []*flow.Batch
	Rows    int // flows of Batches

	// Empty batches received after the group was handed to its insert,
	// released with it.
	trailing []*flow.Batch
	done     chan error // the result of its insert, while running
	running  bool       // an insert goroutine owns the group
	written  bool       // inserted, the batches not released yet
}

// Sink is a store the Queue inserts into.
type Sink[B any] interface {
	// NewBuffer returns an empty buffer (the sink may reuse the buffers of
	// the groups Done took).
	NewBuffer() B
	// Fill adds the flows of b, not empty, to buf, on Run's goroutine.
	Fill(buf B, b *flow.Batch)
	// Insert writes the flows of g, retrying as the sink sees fit. It runs
	// in a goroutine of its own, at most Concurrency at once; after an
	// error, the next Run calls it again for the same g.
	Insert(ctx context.Context, g *Group[B]) error
	// Done takes a group written, as every older one: it releases its
	// batches (or holds them, see Holder), in order.
	Done(g *Group[B])
}

// Holder is a Sink that holds the batches of some written groups until
// Flush (ClickHouse, while the rollups of several groups are aggregated
// together).
type Holder[B any] interface {
	// Seal is called as g is handed to its insert, on Run's goroutine;
	// last is set when the input idled for the timeout or ended.
	Seal(g *Group[B], last bool)
	// Holding reports whether the sink holds batches that only Flush
	// releases.
	Holding() bool
	// Flush writes and releases what the sink holds, once every group
	// was written.
	Flush(ctx context.Context) error
	// Hold takes an empty batch received when no group is pending, to
	// release in order with the batches the sink holds.
	Hold(b *flow.Batch)
	// Abandon fails and releases the batches the sink holds, past the
	// shutdown deadline, before the Queue fails those of its groups (whose
	// buffers are given back: the sink may reuse them).
	Abandon(bufs []B)
}

// Config is the grouping and reporting of a Queue.
type Config struct {
	BatchSize   int           // flows of a group: it is inserted once this many wait
	Timeout     time.Duration // longest wait of a flow before its group is inserted
	Concurrency int           // inserts at once
	// Name is the store in logs ("clickhouse").
	Name string
	Log  *slog.Logger
	// Dropped counts the flows given up past the shutdown deadline.
	Dropped prometheus.Counter
}

// Queue is the insert state of a sink, kept across its Runs.
type Queue[B any] struct {
	cfg    Config
	sink   Sink[B]
	holder Holder[B] // nil unless sink is one

	fill     *Group[B]   // the group being filled, nil once handed over
	inflight []*Group[B] // handed to their insert, oldest first
}

// New returns the queue of sink.
func New[B any](cfg Config, sink Sink[B]) *Queue[B] {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	q := &Queue[B]{cfg: cfg, sink: sink}
	q.holder, _ = sink.(Holder[B])
	return q
}

// Run inserts the flows received on in until in is closed and everything
// is written, or ctx is done, or an insert fails. Whichever way it returns,
// no insert is left running; past the shutdown deadline (ctx done) what is
// not written is given up: counted, its batches marked failed and released.
func (q *Queue[B]) Run(ctx context.Context, in <-chan *flow.Batch) error {
	defer func() {
		q.drain()
		if ctx.Err() != nil {
			q.abandon()
		}
	}()
	// Groups left by a previous Run that failed, oldest first.
	for len(q.inflight) > 0 {
		if g := q.inflight[0]; !g.written {
			if err := q.sink.Insert(ctx, g); err != nil {
				return err
			}
			g.written = true
		}
		q.releaseWritten()
	}
	if err := q.flushAll(ctx); err != nil {
		return err
	}
	timer := time.NewTimer(q.cfg.Timeout)
	defer timer.Stop()
	for {
		var oldest <-chan error
		if len(q.inflight) > 0 && q.inflight[0].running {
			oldest = q.inflight[0].done
		}
		select {
		case b, ok := <-in:
			if !ok {
				return q.flushAll(ctx)
			}
			if len(b.Records) == 0 {
				q.pass(b)
				continue
			}
			if q.fill == nil {
				q.fill = &Group[B]{Buf: q.sink.NewBuffer()}
			}
			if q.fill.Rows == 0 {
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
				timer.Reset(q.cfg.Timeout)
			}
			q.sink.Fill(q.fill.Buf, b)
			q.fill.Batches = append(q.fill.Batches, b)
			q.fill.Rows += len(b.Records)
			if q.fill.Rows >= q.cfg.BatchSize {
				if err := q.dispatch(ctx, false); err != nil {
					return err
				}
			}
		case err := <-oldest:
			if err := q.complete(err); err != nil {
				return err
			}
		case <-timer.C:
			// Flows wait at most the timeout, and so do those a Holder
			// holds.
			if q.fill != nil && q.fill.Rows > 0 {
				if err := q.dispatch(ctx, true); err != nil {
					return err
				}
			} else if q.holder != nil && q.holder.Holding() {
				if err := q.finish(ctx); err != nil {
					return err
				}
			}
			timer.Reset(q.cfg.Timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pass takes an empty batch: it is released in order with the flows
// received before it (its release may commit a source's offsets).
func (q *Queue[B]) pass(b *flow.Batch) {
	switch {
	case q.fill != nil && q.fill.Rows > 0:
		q.fill.Batches = append(q.fill.Batches, b)
	case len(q.inflight) > 0:
		last := q.inflight[len(q.inflight)-1]
		last.trailing = append(last.trailing, b)
	case q.holder != nil:
		q.holder.Hold(b)
	default:
		b.Release()
	}
}

func (q *Queue[B]) running() int {
	n := 0
	for _, g := range q.inflight {
		if g.running {
			n++
		}
	}
	return n
}

// dispatch hands the group being filled to its insert, once fewer than
// Concurrency inserts run.
func (q *Queue[B]) dispatch(ctx context.Context, last bool) error {
	if q.fill == nil || q.fill.Rows == 0 {
		return nil
	}
	for q.running() >= q.cfg.Concurrency {
		if err := q.completeOldest(); err != nil {
			return err
		}
	}
	g := q.fill
	q.fill = nil
	if q.holder != nil {
		q.holder.Seal(g, last)
	}
	g.running = true
	g.done = make(chan error, 1)
	q.inflight = append(q.inflight, g)
	go func() { g.done <- q.sink.Insert(ctx, g) }()
	return nil
}

// flushAll inserts the group being filled and waits for every insert, and
// the Holder's flush.
func (q *Queue[B]) flushAll(ctx context.Context) error {
	if err := q.dispatch(ctx, true); err != nil {
		return err
	}
	return q.finish(ctx)
}

// finish waits for every insert, then flushes what the Holder holds.
func (q *Queue[B]) finish(ctx context.Context) error {
	for len(q.inflight) > 0 {
		if err := q.completeOldest(); err != nil {
			return err
		}
	}
	if q.holder != nil && q.holder.Holding() {
		return q.holder.Flush(ctx)
	}
	return nil
}

// completeOldest waits for the oldest group's insert and takes its result.
func (q *Queue[B]) completeOldest() error {
	if g := q.inflight[0]; g.running {
		return q.complete(<-g.done)
	}
	return q.complete(nil)
}

// complete takes the result of the oldest group's insert: written, its
// batches (and those of the newer groups written already) are released.
func (q *Queue[B]) complete(err error) error {
	g := q.inflight[0]
	if g.running {
		g.running = false
		if err != nil {
			return err
		}
		g.written = true
	}
	q.releaseWritten()
	return nil
}

// releaseWritten hands the groups written at the head of inflight to Done.
func (q *Queue[B]) releaseWritten() {
	for len(q.inflight) > 0 && q.inflight[0].written && !q.inflight[0].running {
		g := q.inflight[0]
		n := copy(q.inflight, q.inflight[1:])
		q.inflight[n] = nil
		q.inflight = q.inflight[:n]
		g.Batches = append(g.Batches, g.trailing...)
		g.trailing = nil
		q.sink.Done(g)
	}
}

// drain waits for the inserts still running, as Run returns: their groups
// stay, written or not, for the next Run.
func (q *Queue[B]) drain() {
	for _, g := range q.inflight {
		if g.running {
			g.running = false
			g.written = <-g.done == nil
		}
	}
	q.releaseWritten()
}

// abandon gives up the batches not released, past the shutdown deadline:
// counted when not written, and marked failed so that an at-least-once
// source upstream does not acknowledge them (nor the newer ones, whose
// flows it will send again).
func (q *Queue[B]) abandon() {
	groups := q.inflight
	if q.fill != nil {
		groups = append(groups, q.fill)
	}
	n := 0
	for _, g := range groups {
		if !g.written {
			n += g.Rows
		}
	}
	if n > 0 {
		q.cfg.Log.Warn(q.cfg.Name+" sink stopped with flows not written", "flows", n)
		if q.cfg.Dropped != nil {
			q.cfg.Dropped.Add(float64(n))
		}
	}
	if q.holder != nil {
		bufs := make([]B, len(groups))
		for i, g := range groups {
			bufs[i] = g.Buf
		}
		q.holder.Abandon(bufs)
	}
	for _, g := range groups {
		for _, b := range g.Batches {
			b.Fail()
			b.Release()
		}
		for _, b := range g.trailing {
			b.Fail()
			b.Release()
		}
	}
	clear(q.inflight)
	q.inflight = q.inflight[:0]
	q.fill = nil
}

// Pending is the number of flows received and not released yet, and of
// groups handed to their insert (for tests).
func (q *Queue[B]) Pending() (flows, groups int) {
	if q.fill != nil {
		flows = q.fill.Rows
	}
	for _, g := range q.inflight {
		flows += g.Rows
	}
	return flows, len(q.inflight)
}
