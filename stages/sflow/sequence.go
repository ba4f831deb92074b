package sflow

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DefaultMaxAgents bounds the agent and sub-agent pairs whose datagram
// sequence numbers are tracked.
const DefaultMaxAgents = 65536

// reorderWindow is how far back a sequence number may go and still be a
// datagram late, not an agent that restarted.
const reorderWindow = 64

type seqKey struct {
	agent netip.Addr
	sub   uint32
}

type seqEntry struct {
	next uint32 // next expected sequence number
	seen int64  // unix ns of the last datagram
}

// sequences tracks datagram sequence numbers per agent and sub-agent, as
// sFlow numbers them: datagrams lost on the way show as gaps, counted; a
// number going back further than reorderWindow is a restart of the agent,
// counted too, and tracking resynchronises on it. The agent address is
// datagram content, so the pairs tracked are bounded: when the table is
// full the least recently seen sixteenth is forgotten. It is safe for
// concurrent use.
type sequences struct {
	mu      sync.Mutex
	max     int
	next    map[seqKey]seqEntry
	evicted int
}

func newSequences(max int) *sequences {
	if max < 1 {
		max = DefaultMaxAgents
	}
	return &sequences{max: max, next: map[seqKey]seqEntry{}}
}

// check notes datagram seq of agent's sub-agent sub, received at now,
// counting lost datagrams and resets in em. It returns the number of pairs
// it forgot to make room.
func (s *sequences) check(agent netip.Addr, sub, seq uint32, now time.Time, em *exporterMetrics) int {
	k := seqKey{agent, sub}
	s.mu.Lock()
	defer s.mu.Unlock()
	evicted := 0
	e, ok := s.next[k]
	switch {
	case !ok:
		if len(s.next) >= s.max {
			evicted = s.evict()
		}
	case seq == e.next:
	case seq-e.next < 1<<31: // ahead, modulo 2^32
		em.lost.Add(float64(seq - e.next))
	case e.next-seq <= reorderWindow: // late: already counted lost
		e.seen = now.UnixNano()
		s.next[k] = e
		return 0
	default:
		em.resets.Inc()
	}
	s.next[k] = seqEntry{next: seq + 1, seen: now.UnixNano()}
	return evicted
}

// evict forgets the least recently seen sixteenth of the pairs (s.mu held).
func (s *sequences) evict() int {
	type candidate struct {
		seen int64
		k    seqKey
	}
	list := make([]candidate, 0, len(s.next))
	for k, e := range s.next {
		list = append(list, candidate{e.seen, k})
	}
	slices.SortFunc(list, func(a, b candidate) int { return cmp.Compare(a.seen, b.seen) })
	n := max(1, len(list)/16)
	for _, c := range list[:n] {
		delete(s.next, c.k)
	}
	s.evicted += n
	return n
}
