package flow

import (
	"sync"
	"sync/atomic"
)

// BatchSize is the number of records a pooled batch is sized for.
const BatchSize = 1024

// Batch is a group of records travelling together through the pipeline.
//
// A batch is reference counted. The stage that creates it holds one reference;
// handing the same batch to several consumers (fan-out) takes one more reference
// per extra consumer with Retain. Every holder calls Release exactly once when it
// is done: a sink once the records are durably written (or dropped and counted),
// a stage that filters everything out once it discards the batch. When the last
// reference is released the completion callbacks registered with OnDone run, in
// order, and the batch goes back to the pool. A released batch must not be used.
//
// Stages that modify records (enrichers, classifiers) must own the batch alone:
// the runtime hands them a Clone when their input is shared.
type Batch struct {
	Records []Record

	refs   atomic.Int32
	failed atomic.Bool
	mu     sync.Mutex
	onDone []func()
	parent *Batch
}

var batchPool = sync.Pool{New: func() any {
	return &Batch{Records: make([]Record, 0, BatchSize)}
}}

// NewBatch returns an empty batch from the pool with one reference held.
func NewBatch() *Batch {
	b := batchPool.Get().(*Batch)
	b.refs.Store(1)
	return b
}

// Len returns the number of records.
func (b *Batch) Len() int { return len(b.Records) }

// Full reports whether the batch reached its pooled capacity.
func (b *Batch) Full() bool { return len(b.Records) >= cap(b.Records) }

// Append adds a zeroed record and returns a pointer to it for the caller to fill.
func (b *Batch) Append() *Record {
	n := len(b.Records)
	if n < cap(b.Records) {
		b.Records = b.Records[:n+1]
		r := &b.Records[n]
		*r = Record{}
		return r
	}
	b.Records = append(b.Records, Record{})
	return &b.Records[n]
}

// Retain takes n more references, one for each additional holder.
func (b *Batch) Retain(n int) {
	if b.refs.Add(int32(n)) <= int32(n) {
		panic("flow: Retain on a released batch")
	}
}

// Refs returns the number of references currently held (for tests and checks).
func (b *Batch) Refs() int { return int(b.refs.Load()) }

// OnDone registers f to run once every holder has released the batch. It must be
// called before the batch is handed on.
func (b *Batch) OnDone(f func()) {
	b.mu.Lock()
	b.onDone = append(b.onDone, f)
	b.mu.Unlock()
}

// Fail marks the batch as not delivered: a holder lost it for a reason other
// than a deliberate, counted policy (the shutdown deadline passed, a stage or a
// store failed for good). Completion callbacks still run; at-least-once
// sources check Failed in them and do not acknowledge what was lost, so it is
// delivered again after a restart.
func (b *Batch) Fail() { b.failed.Store(true) }

// Failed reports whether a holder marked the batch with Fail. It is meant for
// completion callbacks.
func (b *Batch) Failed() bool { return b.failed.Load() }

// Release gives back one reference. The last one runs the completion callbacks
// and returns the batch to the pool.
func (b *Batch) Release() {
	n := b.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("flow: batch released more times than retained")
	}
	b.mu.Lock()
	done := b.onDone
	b.onDone = b.onDone[:0]
	b.mu.Unlock()
	for _, f := range done {
		f()
	}
	parent := b.parent
	b.parent = nil
	if parent != nil && b.failed.Load() {
		parent.Fail()
	}
	b.failed.Store(false)
	if cap(b.Records) > 4*BatchSize {
		b.Records = make([]Record, 0, BatchSize)
	} else {
		b.Records = b.Records[:0]
	}
	batchPool.Put(b)
	if parent != nil {
		parent.Release()
	}
}

// Clone returns a private copy of the records for a stage that modifies them.
// The copy holds a reference on b, so b completes only once the copy does; the
// caller's own reference on b is consumed.
func (b *Batch) Clone() *Batch {
	c := NewBatch()
	c.Records = append(c.Records[:0], b.Records...)
	c.parent = b
	return c
}
