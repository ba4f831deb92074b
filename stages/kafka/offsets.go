package kafka

import (
	"sync"

	kafka "github.com/segmentio/kafka-go"
)

// tracker follows the offsets of one consumer's in-flight batches and says
// which offsets may be committed: per partition, the last offset of the
// longest run of completed batches since the last commit. A batch completes
// when every sink released it; batches complete out of order.
type tracker struct {
	topic string

	mu    sync.Mutex
	parts map[int]*partition
	dirty bool
	// notify wakes the committer; buffered, never blocks.
	notify chan struct{}
}

type partition struct {
	entries   []*span // in fetch order
	committed int64   // next offset to read after the last commit (-1 unknown)
	hwm       int64   // high watermark last seen
	fetched   int64   // last offset fetched
	pending   int64   // offset to commit (last offset of the done prefix), -1 none
}

// span is the offsets of one partition a batch holds.
type span struct {
	part       int
	last       int64
	sent, done bool
}

// pending is the spans of the batch being built.
type pendingBatch struct {
	spans []*span
}

func newTracker(topic string) *tracker {
	return &tracker{topic: topic, parts: map[int]*partition{}, notify: make(chan struct{}, 1)}
}

// add records that message m belongs to batch pb.
func (t *tracker) add(pb *pendingBatch, m *kafka.Message) {
	var sp *span
	for _, s := range pb.spans {
		if s.part == m.Partition {
			sp = s
			break
		}
	}
	t.mu.Lock()
	p := t.parts[m.Partition]
	if p == nil {
		p = &partition{committed: m.Offset, pending: -1}
		t.parts[m.Partition] = p
	}
	if sp == nil {
		sp = &span{part: m.Partition}
		pb.spans = append(pb.spans, sp)
		p.entries = append(p.entries, sp)
	}
	sp.last = m.Offset
	p.fetched = m.Offset
	if m.HighWaterMark > p.hwm {
		p.hwm = m.HighWaterMark
	}
	t.mu.Unlock()
}

// sent marks a batch handed on (or, when it holds no flow, finished).
func (t *tracker) sent(pb *pendingBatch) { t.mark(pb, true, false) }

// done marks a batch completed by every sink.
func (t *tracker) done(pb *pendingBatch) { t.mark(pb, false, true) }

func (t *tracker) mark(pb *pendingBatch, sent, done bool) {
	t.mu.Lock()
	for _, s := range pb.spans {
		s.sent = s.sent || sent
		s.done = s.done || done
	}
	t.advance()
	t.mu.Unlock()
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

func (t *tracker) advance() {
	for _, p := range t.parts {
		n := 0
		for n < len(p.entries) && p.entries[n].sent && p.entries[n].done {
			p.pending = p.entries[n].last
			n++
		}
		if n > 0 {
			clear(p.entries[:n])
			p.entries = p.entries[n:]
			t.dirty = true
		}
	}
}

// ready returns the commits to make, as kafka-go wants them (the offset of
// the last completed message; the committed offset is the one after).
func (t *tracker) ready() []kafka.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.dirty {
		return nil
	}
	t.dirty = false
	var out []kafka.Message
	for id, p := range t.parts {
		if p.pending >= 0 {
			out = append(out, kafka.Message{Topic: t.topic, Partition: id, Offset: p.pending})
			p.committed = p.pending + 1
			p.pending = -1
		}
	}
	return out
}

// lag returns the messages between the committed offsets and the high
// watermarks, over the partitions this consumer read.
func (t *tracker) lag() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, p := range t.parts {
		if p.hwm > p.committed {
			n += p.hwm - p.committed
		}
	}
	return n
}

// outstandingSent returns the number of spans handed on and not completed.
func (t *tracker) outstandingSent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.parts {
		for _, e := range p.entries {
			if e.sent && !e.done {
				n++
			}
		}
	}
	return n
}
