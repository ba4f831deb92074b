package bmp

import (
	"math/bits"
	"slices"
)

// bitset256 is a set of numbers 0..255.
type bitset256 [4]uint64

func (b *bitset256) has(i uint) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b *bitset256) set(i uint)      { b[i>>6] |= 1 << (i & 63) }
func (b *bitset256) clear(i uint)    { b[i>>6] &^= 1 << (i & 63) }
func (b *bitset256) empty() bool     { return b[0]|b[1]|b[2]|b[3] == 0 }

// rank is the number of members below i.
func (b *bitset256) rank(i uint) int {
	w := i >> 6
	n := bits.OnesCount64(b[w] & (1<<(i&63) - 1))
	for j := uint(0); j < w; j++ {
		n += bits.OnesCount64(b[j])
	}
	return n
}

// bitset512 is a set of numbers 0..511.
type bitset512 [8]uint64

func (b *bitset512) has(i uint) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b *bitset512) set(i uint)      { b[i>>6] |= 1 << (i & 63) }
func (b *bitset512) clear(i uint)    { b[i>>6] &^= 1 << (i & 63) }
func (b *bitset512) empty() bool {
	return b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] == 0
}

// rank is the number of members below i.
func (b *bitset512) rank(i uint) int {
	w := i >> 6
	n := bits.OnesCount64(b[w] & (1<<(i&63) - 1))
	for j := uint(0); j < w; j++ {
		n += bits.OnesCount64(b[j])
	}
	return n
}

// ancestors[o] holds the indexes of the prefixes of one stride that contain
// the octet o: lengths 0 to 8 within the stride, numbered as a complete
// binary tree (1<<k | top k bits of o), up to the full octet 256+o.
var ancestors = func() (a [256]bitset512) {
	for o := range 256 {
		for k := range 9 {
			a[o].set(uint(1<<k | o>>(8-k)))
		}
	}
	return a
}()

// node is one stride of 8 bits of a multibit trie, stored sparsely (as
// popcount-indexed arrays) so that its size follows its content. The node
// at depth d holds the prefixes of lengths 8d+1 to 8d+8 (the root also
// length 0), and its children by octet.
type node[V any] struct {
	pfx      bitset512 // prefix indexes held (1..511)
	kids     bitset256 // octets with a child
	values   []V       // by prefix index order
	children []node[V] // by octet order, in place: one memory access less a level
}

// trie maps prefixes to values held in its nodes, with incremental inserts
// and deletes, and a longest-prefix walk that does not allocate.
type trie[V any] struct {
	root  node[V]
	depth int // depth of the deepest nodes: 3 for IPv4, 15 for IPv6
	count int
}

// pfxIndex is the index of the prefix of length k within the stride of
// octet o.
func pfxIndex(o byte, k int) uint { return uint(1<<k | int(o)>>(8-k)) }

// strideOf returns the depth of the node holding prefixes of a length, and
// the length within its stride.
func strideOf(length int) (d, k int) {
	if length == 0 {
		return 0, 0
	}
	d = (length - 1) / 8
	return d, length - 8*d
}

// slot returns the node holding a prefix of the given length, creating the
// path when create is set, and its index there.
func (t *trie[V]) slot(addr *[16]byte, length int, create bool) (*node[V], uint) {
	n := &t.root
	d, k := strideOf(length)
	for i := range d {
		o := uint(addr[i])
		if !n.kids.has(o) {
			if !create {
				return nil, 0
			}
			r := n.kids.rank(o)
			n.kids.set(o)
			n.children = slices.Insert(n.children, r, node[V]{})
		}
		n = &n.children[n.kids.rank(o)]
	}
	return n, pfxIndex(addr[d], k)
}

// get returns the value of a prefix, or nil. The pointer is valid until the
// next change of the trie.
func (t *trie[V]) get(addr *[16]byte, length int) *V {
	n, idx := t.slot(addr, length, false)
	if n == nil || !n.pfx.has(idx) {
		return nil
	}
	return &n.values[n.pfx.rank(idx)]
}

// put returns the value of a prefix, adding a zero one if it has none. The
// pointer is valid until the next change of the trie.
func (t *trie[V]) put(addr *[16]byte, length int) *V {
	n, idx := t.slot(addr, length, true)
	r := n.pfx.rank(idx)
	if n.pfx.has(idx) {
		return &n.values[r]
	}
	n.pfx.set(idx)
	var zero V
	n.values = slices.Insert(n.values, r, zero)
	t.count++
	return &n.values[r]
}

// remove deletes a prefix, and the nodes it leaves empty.
func (t *trie[V]) remove(addr *[16]byte, length int) {
	var path [16]*node[V]
	n := &t.root
	d, k := strideOf(length)
	for i := range d {
		path[i] = n
		o := uint(addr[i])
		if !n.kids.has(o) {
			return
		}
		n = &n.children[n.kids.rank(o)]
	}
	idx := pfxIndex(addr[d], k)
	if !n.pfx.has(idx) {
		return
	}
	r := n.pfx.rank(idx)
	n.pfx.clear(idx)
	n.values = slices.Delete(n.values, r, r+1)
	if len(n.values) == 0 {
		n.values = nil
	}
	t.count--
	for i := d - 1; i >= 0 && n.pfx.empty() && n.kids.empty(); i-- {
		p := path[i]
		oc := uint(addr[i])
		r := p.kids.rank(oc)
		p.kids.clear(oc)
		p.children = slices.Delete(p.children, r, r+1)
		if len(p.children) == 0 {
			p.children = nil
		}
		n = p
	}
}

// lookup calls visit with the value and length of each prefix containing
// addr, longest first, until visit returns true; it returns whether one did.
func (t *trie[V]) lookup(addr *[16]byte, visit func(v *V, length int) bool) bool {
	var path [16]*node[V]
	n := &t.root
	d := 0
	for {
		path[d] = n
		if d == t.depth {
			break
		}
		o := uint(addr[d])
		if !n.kids.has(o) {
			break
		}
		n = &n.children[n.kids.rank(o)]
		d++
	}
	for ; d >= 0; d-- {
		n := path[d]
		a := &ancestors[addr[d]]
		for w := 7; w >= 0; w-- {
			m := n.pfx[w] & a[w]
			for m != 0 {
				b := 63 - bits.LeadingZeros64(m)
				m &^= 1 << b
				idx := uint(w*64 + b)
				if visit(&n.values[n.pfx.rank(idx)], d*8+bits.Len(idx)-1) {
					return true
				}
			}
		}
	}
	return false
}

// walk calls f with every prefix and its value; f may not change the trie.
func (t *trie[V]) walk(f func(addr *[16]byte, length int, v *V)) {
	var addr [16]byte
	t.walkNode(&t.root, 0, &addr, f)
}

func (t *trie[V]) walkNode(n *node[V], d int, addr *[16]byte, f func(addr *[16]byte, length int, v *V)) {
	for i, idx := 0, uint(0); idx < 512; idx++ {
		if !n.pfx.has(idx) {
			continue
		}
		k := bits.Len(idx) - 1
		a := *addr
		a[d] = byte((idx &^ (1 << k)) << (8 - k))
		f(&a, d*8+k, &n.values[i])
		i++
	}
	for i, o := 0, 0; o < 256; o++ {
		if !n.kids.has(uint(o)) {
			continue
		}
		addr[d] = byte(o)
		t.walkNode(&n.children[i], d+1, addr, f)
		addr[d] = 0
		i++
	}
}
