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

// bitset512 is a set of numbers 0..511.
type bitset512 [8]uint64

func (b *bitset512) has(i uint) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b *bitset512) set(i uint)      { b[i>>6] |= 1 << (i & 63) }
func (b *bitset512) clear(i uint)    { b[i>>6] &^= 1 << (i & 63) }
func (b *bitset512) empty() bool {
	return b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] == 0
}

// longest returns the index of the longest prefix of n within the stride
// of octet o: whole octets first (the /24s of a full table, the most
// common), then 7 and 6 bits, then the shorter ones, which share a word.
func (n *node[V]) longest(o byte) (uint, bool) {
	if i := 256 + uint(o); n.pfx.has(i) {
		return i, true
	}
	if i := 128 + uint(o>>1); n.pfx.has(i) {
		return i, true
	}
	if i := 64 + uint(o>>2); n.pfx.has(i) {
		return i, true
	}
	if m := n.pfx[0] & ancestors[o][0]; m != 0 {
		return uint(63 - bits.LeadingZeros64(m)), true
	}
	return 0, false
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
// length 0), and its children by octet. The members of each bitset below
// each of its words are counted ahead, so that finding a value or a child
// is one popcount.
type node[V any] struct {
	pfx      bitset512 // prefix indexes held (1..511)
	kids     bitset256 // octets with a child
	pfxBase  [8]uint16 // members of pfx below each word
	kidsBase [4]uint8  // members of kids below each word (at most 192)
	values   []V       // by prefix index order
	children []node[V] // by octet order, in place: one memory access less a level
}

// pfxRank is the position of prefix index i among the values.
func (n *node[V]) pfxRank(i uint) int {
	return int(n.pfxBase[(i>>6)&7]) + bits.OnesCount64(n.pfx[(i>>6)&7]&(1<<(i&63)-1))
}

// kidRank is the position of octet o among the children.
func (n *node[V]) kidRank(o uint) int {
	return int(n.kidsBase[(o>>6)&3]) + bits.OnesCount64(n.kids[(o>>6)&3]&(1<<(o&63)-1))
}

// child returns the child of octet o, or nil.
func (n *node[V]) child(o byte) *node[V] {
	if !n.kids.has(uint(o)) {
		return nil
	}
	return &n.children[n.kidRank(uint(o))]
}

// recount updates the counts ahead after a change of the bitsets.
func (n *node[V]) recount() {
	c := 0
	for w := range n.pfx {
		n.pfxBase[w] = uint16(c)
		c += bits.OnesCount64(n.pfx[w])
	}
	c = 0
	for w := range n.kids {
		n.kidsBase[w] = uint8(c)
		c += bits.OnesCount64(n.kids[w])
	}
}

// trie maps prefixes to values held in its nodes, with incremental inserts
// and deletes, and a longest-prefix walk that does not allocate. A direct
// index by the first 16 bits of an address points to the nodes of depth
// 2, so that a lookup starts there.
type trie[V any] struct {
	root  node[V]
	depth int // depth of the deepest nodes: 3 for IPv4, 15 for IPv6
	count int
	dir   []*node[V] // by the first two octets: the node of depth 2, or nil
}

func newTrie[V any](depth int) trie[V] {
	return trie[V]{depth: depth, dir: make([]*node[V], 1<<16)}
}

// redirect points the direct index of the addresses starting with octet
// o0 to their nodes of depth 2, after the children of o0's node changed
// (and moved).
func (t *trie[V]) redirect(o0 byte) {
	d := t.dir[int(o0)<<8 : int(o0)<<8+256]
	n1 := t.root.child(o0)
	for o := range 256 {
		d[o] = nil
		if n1 != nil {
			d[o] = n1.child(byte(o))
		}
	}
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
			r := n.kidRank(o)
			n.kids.set(o)
			n.recount()
			n.children = slices.Insert(n.children, r, node[V]{})
			if i == 1 && t.dir != nil {
				t.redirect(addr[0])
			}
		}
		n = &n.children[n.kidRank(o)]
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
	return &n.values[n.pfxRank(idx)]
}

// put returns the value of a prefix, adding a zero one if it has none. The
// pointer is valid until the next change of the trie.
func (t *trie[V]) put(addr *[16]byte, length int) *V {
	n, idx := t.slot(addr, length, true)
	r := n.pfxRank(idx)
	if n.pfx.has(idx) {
		return &n.values[r]
	}
	n.pfx.set(idx)
	n.recount()
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
		n = &n.children[n.kidRank(o)]
	}
	idx := pfxIndex(addr[d], k)
	if !n.pfx.has(idx) {
		return
	}
	r := n.pfxRank(idx)
	n.pfx.clear(idx)
	n.recount()
	n.values = slices.Delete(n.values, r, r+1)
	if len(n.values) == 0 {
		n.values = nil
	}
	t.count--
	for i := d - 1; i >= 0 && n.pfx.empty() && n.kids.empty(); i-- {
		p := path[i]
		oc := uint(addr[i])
		r := p.kidRank(oc)
		p.kids.clear(oc)
		p.recount()
		p.children = slices.Delete(p.children, r, r+1)
		if len(p.children) == 0 {
			p.children = nil
		}
		if i == 1 && t.dir != nil {
			t.redirect(addr[0])
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
		n = &n.children[n.kidRank(o)]
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
				if visit(&n.values[n.pfxRank(idx)], d*8+bits.Len(idx)-1) {
					return true
				}
			}
		}
	}
	return false
}

// deepest returns the deepest node on addr's way down, and its depth.
func (t *trie[V]) deepest(addr *[16]byte) (*node[V], int) {
	return t.descend(t.dir[int(addr[0])<<8|int(addr[1])], addr)
}

// descend returns the deepest node on addr's way down from n, the node of
// depth 2 that the direct index holds for addr (nil when there is none),
// and its depth.
func (t *trie[V]) descend(n *node[V], addr *[16]byte) (*node[V], int) {
	if n == nil {
		// Fewer than three levels on the way.
		n = &t.root
		if c := n.child(addr[0]); c != nil {
			return c, 1
		}
		return n, 0
	}
	d := 2
	for d < t.depth {
		c := n.child(addr[d])
		if c == nil {
			break
		}
		n = c
		d++
	}
	return n, d
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
