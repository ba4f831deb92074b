// Package iptable maps IP addresses to values by longest prefix match. The
// prefixes are flattened at build time into sorted, non-overlapping address
// ranges, so that a lookup is a jump-table step and a short binary search
// over a flat array, without allocation.
//
// IPv4 and IPv6 are two separate address spaces: an IPv4-mapped IPv6 address
// (::ffff:192.0.2.1) is looked up as the IPv4 address it holds, and an
// IPv4-mapped prefix of at least 96 bits (::ffff:192.0.2.0/120) is added as
// the IPv4 prefix it holds; a shorter IPv6 prefix (::/0) never matches IPv4.
package iptable

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"slices"
)

// address is a range start: an IPv4 (v4) or IPv6 (u128) address as a
// number.
type address[A any] interface {
	comparable
	compare(A) int
	// next returns the address after a, or false for the last address.
	next() (A, bool)
	// last returns the last address of the prefix of the given bits
	// starting at a.
	last(bits uint8) A
}

// v4 is an IPv4 address as a number.
type v4 uint32

func (a v4) compare(b v4) int { return cmp.Compare(a, b) }

func (a v4) next() (v4, bool) { return a + 1, a != math.MaxUint32 }

func (a v4) last(prefixBits uint8) v4 {
	if prefixBits == 0 {
		return math.MaxUint32
	}
	return a | (1<<(32-prefixBits) - 1)
}

// u128 is an IPv6 address as a 128-bit number.
type u128 struct{ hi, lo uint64 }

func (a u128) compare(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) next() (u128, bool) {
	if a.lo == math.MaxUint64 {
		return u128{a.hi + 1, 0}, a.hi != math.MaxUint64
	}
	return u128{a.hi, a.lo + 1}, true
}

func (a u128) last(prefixBits uint8) u128 {
	switch host := 128 - int(prefixBits); {
	case host <= 0:
		return a
	case host < 64:
		return u128{a.hi, a.lo | (1<<host - 1)}
	case host == 64:
		return u128{a.hi, math.MaxUint64}
	case host < 128:
		return u128{a.hi | (1<<(host-64) - 1), math.MaxUint64}
	}
	return u128{math.MaxUint64, math.MaxUint64}
}

func v6num(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func v4num(a netip.Addr) v4 {
	b := a.As4()
	return v4(binary.BigEndian.Uint32(b[:]))
}

// jump narrows the search for an address to the ranges of one slot. The
// slots divide the span of the range starts (above the first, which is 0)
// evenly, by the top bits of a key: the IPv4 address, or the upper half of
// the IPv6 address. Slot 0 also takes the keys below the span, the last slot
// those above it.
type jump struct {
	low   uint64 // the key of the second range start
	shift uint   // (key-low)>>shift is the slot of key
	// slots[h] is the index of the last range starting at or before the
	// first address of slot h, so the range of an address of slot h is
	// one of slots[h] ... slots[h+1]. Its last two entries are the last
	// range.
	slots []uint32
}

// makeJump builds the slots for n range starts; key returns the key of the
// i-th start and whether its other bits are zero (always true for IPv4).
func makeJump(n int, key func(i int) (uint64, bool)) jump {
	var j jump
	last, _ := key(n - 1)
	if n > 1 {
		j.low, _ = key(1)
	}
	span := last - j.low
	// Two to four slots a range, at most 1<<16 slots.
	k := min(16, bits.Len(uint(n))+1, bits.Len64(span))
	j.shift = uint(bits.Len64(span) - k)
	size := 1 << k
	j.slots = make([]uint32, size+2)
	i := 0
	for h := 1; h <= size; h++ {
		first, carry := bits.Add64(j.low, uint64(h)<<j.shift, 0)
		if bits.Len(uint(h))+int(j.shift) > 64 {
			carry = 1 // beyond the last key
		}
		for i+1 < n {
			next, rest0 := key(i + 1)
			if carry != 0 || next < first || (next == first && rest0) {
				i++
				continue
			}
			break
		}
		j.slots[h] = uint32(i)
	}
	j.slots[size+1] = uint32(n - 1)
	return j
}

// slot returns the bounds of the search for key: the range is one of
// lo ... hi-1.
func (j *jump) slot(key uint64) (lo, hi int) {
	d := key - j.low
	if key < j.low {
		d = 0
	}
	h := min(d>>j.shift, uint64(len(j.slots)-2))
	return int(j.slots[h]), int(j.slots[h+1]) + 1
}

// Table maps addresses to values of type V, the longest prefix holding an
// address winning. It is immutable once built, and safe for concurrent
// lookups. Build one with a Builder.
type Table[V comparable] struct {
	// For each family, the sorted starts of the ranges and the index in
	// values of each range's value (-1 for none). Both start lists begin
	// at address 0, so that every address has a range.
	v4Jump   jump
	v4Starts []v4
	v4Vals   []int32
	v6Jump   jump
	v6Starts []u128
	v6Vals   []int32
	values   []V
}

// Lookup returns the value of the longest prefix holding a, and whether
// there is one. IPv4-mapped IPv6 addresses are looked up as IPv4 addresses;
// an invalid address matches nothing.
func (t *Table[V]) Lookup(a netip.Addr) (V, bool) {
	// One function, searches written out: this is the hot path of the
	// enrichers. The jump tables leave a few ranges to search, most often
	// one or two. (Branch-free searches measured faster on long streams
	// of random addresses, but slower in the enrichers' benchmarks, which
	// look the same batch up again and again.)
	var i int32 = -1
	if a.Is4() || a.Is4In6() {
		x := v4num(a)
		lo, hi := t.v4Jump.slot(uint64(x))
		s := t.v4Starts
		for hi-lo > 1 {
			m := int(uint(lo+hi) >> 1)
			if s[m] <= x {
				lo = m
			} else {
				hi = m
			}
		}
		i = t.v4Vals[lo]
	} else if a.Is6() {
		x := v6num(a)
		lo, hi := t.v6Jump.slot(x.hi)
		s := t.v6Starts
		for hi-lo > 1 {
			m := int(uint(lo+hi) >> 1)
			if s[m].hi < x.hi || (s[m].hi == x.hi && s[m].lo <= x.lo) {
				lo = m
			} else {
				hi = m
			}
		}
		i = t.v6Vals[lo]
	}
	if i < 0 {
		var zero V
		return zero, false
	}
	return t.values[i], true
}

// Len returns the number of address ranges the table holds, IPv4 and IPv6
// together, counting those without a value.
func (t *Table[V]) Len() int { return len(t.v4Starts) + len(t.v6Starts) }

// entry is one added prefix, its value as an index into Builder.values.
type entry[A address[A]] struct {
	start A
	val   int32
	bits  uint8
}

// Builder collects prefixes and their values, and builds a Table.
type Builder[V comparable] struct {
	// Inherit, when set, combines the value of each prefix with the value
	// of the longest prefix enclosing it (itself already combined with its
	// own enclosing prefixes): the table holds Inherit(value, parent) for
	// that prefix. Without it, the value of a prefix stands alone.
	Inherit func(value, parent V) V

	v4     []entry[v4]
	v6     []entry[u128]
	values []V
	ids    map[V]int32
	lastID int32 // the value of the last Add
}

// Add adds a prefix and its value. The prefix is masked; adding a prefix
// again replaces its value; an invalid prefix is ignored.
func (b *Builder[V]) Add(p netip.Prefix, v V) {
	if !p.IsValid() {
		return
	}
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	// Neighbouring prefixes often share their value: skip the map then.
	id := b.lastID
	if len(b.values) == 0 || b.values[id] != v {
		id = intern(&b.values, &b.ids, v)
		b.lastID = id
	}
	if a := p.Addr(); a.Is4() {
		b.v4 = append(b.v4, entry[v4]{v4num(a), id, uint8(p.Bits())})
	} else {
		b.v6 = append(b.v6, entry[u128]{v6num(a), id, uint8(p.Bits())})
	}
}

// intern returns the index of v in *values, appending it if it is new:
// equal values share one index, which lets equal neighbours merge.
func intern[V comparable](values *[]V, ids *map[V]int32, v V) int32 {
	if *ids == nil {
		*ids = map[V]int32{}
	}
	if id, ok := (*ids)[v]; ok {
		return id
	}
	id := int32(len(*values))
	*values = append(*values, v)
	(*ids)[v] = id
	return id
}

// Build returns the table of the prefixes added so far. The builder can be
// reused: later additions go into later builds.
func (b *Builder[V]) Build() *Table[V] {
	t := &Table[V]{}
	fl := flattener[V]{b: b}
	if b.Inherit == nil {
		t.values = slices.Clip(b.values)
	} else {
		fl.values = &t.values
		fl.ids = map[V]int32{}
	}
	t.v4Starts, t.v4Vals = flatten(&fl, b.v4)
	t.v6Starts, t.v6Vals = flatten(&fl, b.v6)
	t.v4Jump = makeJump(len(t.v4Starts), func(i int) (uint64, bool) { return uint64(t.v4Starts[i]), true })
	t.v6Jump = makeJump(len(t.v6Starts), func(i int) (uint64, bool) { return t.v6Starts[i].hi, t.v6Starts[i].lo == 0 })
	return t
}

// flattener turns nested prefixes into ranges.
type flattener[V comparable] struct {
	b *Builder[V]
	// With Builder.Inherit, the combined values and their index; otherwise
	// the ranges use the indexes of Builder.values.
	values *[]V
	ids    map[V]int32
}

// flatten sorts the entries of one family (enclosing prefixes before the
// prefixes they hold) and returns its ranges, starting at address 0, each
// with the index of the value of the longest prefix holding it (-1 for
// none).
func flatten[V comparable, A address[A]](f *flattener[V], es []entry[A]) (starts []A, vals []int32) {
	slices.SortStableFunc(es, func(a, b entry[A]) int {
		if c := a.start.compare(b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.bits, b.bits)
	})
	starts, vals = make([]A, 1, len(es)+1), make([]int32, 1, len(es)+1)
	vals[0] = -1
	emit := func(start A, val int32) {
		n := len(starts)
		if starts[n-1] == start {
			vals[n-1] = val
			if n > 1 && vals[n-2] == val {
				starts, vals = starts[:n-1], vals[:n-1]
			}
			return
		}
		if vals[n-1] != val {
			starts, vals = append(starts, start), append(vals, val)
		}
	}
	type open struct {
		end A
		val int32 // index of the (combined) value
	}
	var stack []open
	pop := func() {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		next, ok := top.end.next()
		if !ok {
			return // up to the last address
		}
		val := int32(-1)
		if len(stack) > 0 {
			val = stack[len(stack)-1].val
		}
		emit(next, val)
	}
	for i, e := range es {
		if i+1 < len(es) && es[i+1].start == e.start && es[i+1].bits == e.bits {
			continue // added again later: the later value wins
		}
		for len(stack) > 0 && stack[len(stack)-1].end.compare(e.start) < 0 {
			pop()
		}
		val := e.val
		if f.values != nil {
			v := f.b.values[val]
			if len(stack) > 0 {
				v = f.b.Inherit(v, (*f.values)[stack[len(stack)-1].val])
			}
			val = intern(f.values, &f.ids, v)
		}
		stack = append(stack, open{e.start.last(e.bits), val})
		emit(e.start, val)
	}
	for len(stack) > 0 {
		pop()
	}
	if cap(starts) > 2*len(starts) { // many neighbours merged
		return slices.Clone(starts), slices.Clone(vals)
	}
	return slices.Clip(starts), slices.Clip(vals)
}
