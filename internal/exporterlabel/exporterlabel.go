// Package exporterlabel bounds the values of the exporter label that flow
// sources give their per-exporter metric series. Exporter addresses come
// from the network (spoofed UDP sources, agent addresses inside sFlow
// datagrams), so without a bound a flood of them would make /metrics grow
// without limit. The first exporters seen get their own series; the others
// share the series labelled Other.
package exporterlabel

import (
	"net/netip"
	"sync"
)

// Default is the default number of exporters with their own series.
const Default = 4096

// Other labels the series the exporters beyond the bound share.
const Other = "other"

// Set hands out exporter labels, at most max of them at a time. It is safe
// for concurrent use.
type Set struct {
	mu    sync.Mutex
	max   int
	given map[netip.Addr]string
}

// New returns a set giving at most max exporters their own label (max < 1:
// Default).
func New(max int) *Set {
	if max < 1 {
		max = Default
	}
	return &Set{max: max, given: map[netip.Addr]string{}}
}

// Max returns the bound.
func (s *Set) Max() int { return s.max }

// Label returns addr's label: its address while fewer than Max exporters
// have one (or addr has one already), Other beyond.
func (s *Set) Label(addr netip.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.given[addr]; ok {
		return l
	}
	if len(s.given) >= s.max {
		return Other
	}
	l := addr.String()
	s.given[addr] = l
	return l
}

// Release frees addr's label, once the exporter is forgotten, for another
// exporter to take. It returns the label freed, "" when addr had none (its
// series were Other's): the caller deletes the series of a freed label.
func (s *Set) Release(addr netip.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.given[addr]
	if !ok {
		return ""
	}
	delete(s.given, addr)
	return l
}

// Len returns the number of exporters with their own label.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.given)
}
