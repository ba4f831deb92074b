package geoip

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
)

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func v6num(a netip.Addr) u128 {
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return u128{hi, lo}
}

func v4num(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// table maps the networks of a database to record indexes as sorted,
// non-overlapping ranges: a lookup is a binary search over a flat array,
// faster than walking the database's tree and free of allocation.
type table struct {
	// v4Index[h] is the index of the first v4 range starting at or after
	// h<<16: it narrows the binary search to the ranges of one /16.
	v4Index  []uint32
	v4Starts []uint32
	v4Vals   []int32 // index into records, -1 for no data
	v6Starts []u128
	v6Vals   []int32
}

type span4 struct {
	start, end uint32
	val        int32
}

type span6 struct {
	start, end u128
	val        int32
}

type tableBuilder struct {
	v4 []span4
	v6 []span6
}

func (tb *tableBuilder) add(p netip.Prefix, val int32) {
	a := p.Addr()
	if a.Is4() {
		s := v4num(a)
		host := 32 - p.Bits()
		e := s
		if host == 32 {
			e = math.MaxUint32
		} else if host > 0 {
			e = s | (1<<host - 1)
		}
		tb.v4 = append(tb.v4, span4{s, e, val})
		return
	}
	if p.Bits() <= 96 && p.Contains(netip.IPv6Unspecified()) {
		// A record above the IPv4 subtree covers every IPv4 address.
		tb.v4 = append(tb.v4, span4{0, math.MaxUint32, val})
	}
	s := v6num(a)
	e := s
	switch host := 128 - p.Bits(); {
	case host == 128:
		e = u128{math.MaxUint64, math.MaxUint64}
	case host > 64:
		e = u128{s.hi | (1<<(host-64) - 1), math.MaxUint64}
	case host == 64:
		e = u128{s.hi, math.MaxUint64}
	case host > 0:
		e = u128{s.hi, s.lo | (1<<host - 1)}
	}
	tb.v6 = append(tb.v6, span6{s, e, val})
}

// build sorts the spans (leaves of the tree: they do not overlap) and fills
// the gaps between them with -1.
func (tb *tableBuilder) build() *table {
	t := &table{}
	slices.SortFunc(tb.v4, func(a, b span4) int { return cmp.Compare(a.start, b.start) })
	next, more := uint32(0), true
	for _, s := range tb.v4 {
		if !more || s.start < next {
			continue // overlapping: cannot happen in a valid tree
		}
		if s.start > next {
			t.v4Starts, t.v4Vals = append(t.v4Starts, next), append(t.v4Vals, -1)
		}
		if n := len(t.v4Vals); n == 0 || t.v4Vals[n-1] != s.val {
			t.v4Starts, t.v4Vals = append(t.v4Starts, s.start), append(t.v4Vals, s.val)
		}
		next, more = s.end+1, s.end != math.MaxUint32
	}
	if more && len(t.v4Starts) > 0 {
		t.v4Starts, t.v4Vals = append(t.v4Starts, next), append(t.v4Vals, -1)
	}
	t.v4Index = make([]uint32, 1<<16+1)
	i := 0
	for h := range 1 << 16 {
		for i < len(t.v4Starts) && t.v4Starts[i] < uint32(h)<<16 {
			i++
		}
		t.v4Index[h] = uint32(i)
	}
	t.v4Index[1<<16] = uint32(len(t.v4Starts))
	slices.SortFunc(tb.v6, func(a, b span6) int {
		if a.start == b.start {
			return 0
		}
		if a.start.less(b.start) {
			return -1
		}
		return 1
	})
	next6, more := u128{}, true
	for _, s := range tb.v6 {
		if !more || s.start.less(next6) {
			continue
		}
		if next6.less(s.start) {
			t.v6Starts, t.v6Vals = append(t.v6Starts, next6), append(t.v6Vals, -1)
		}
		if n := len(t.v6Vals); n == 0 || t.v6Vals[n-1] != s.val {
			t.v6Starts, t.v6Vals = append(t.v6Starts, s.start), append(t.v6Vals, s.val)
		}
		more = s.end != u128{math.MaxUint64, math.MaxUint64}
		next6 = u128{s.end.hi, s.end.lo + 1}
		if next6.lo == 0 {
			next6.hi++
		}
	}
	if more && len(t.v6Starts) > 0 {
		t.v6Starts, t.v6Vals = append(t.v6Starts, next6), append(t.v6Vals, -1)
	}
	return t
}

// lookup returns the record index of a, or -1.
func (t *table) lookup(a netip.Addr) int32 {
	if a.Is4() {
		x := v4num(a)
		s := t.v4Starts
		h := x >> 16
		lo, hi := int(t.v4Index[h]), int(t.v4Index[h+1])
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if s[m] <= x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == 0 {
			return -1
		}
		return t.v4Vals[lo-1]
	}
	if !a.Is6() {
		return -1
	}
	x := v6num(a)
	s := t.v6Starts
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !x.less(s[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return -1
	}
	return t.v6Vals[lo-1]
}
