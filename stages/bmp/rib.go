package bmp

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// Table kinds a route comes from, in order of preference for a lookup.
const (
	tablePrePolicy  uint8 = iota // Adj-RIB-In, pre-policy
	tablePostPolicy              // Adj-RIB-In, post-policy
	tableLocRIB                  // Loc-RIB (RFC 9069)
)

var tableNames = [...]string{"pre-policy", "post-policy", "loc-rib"}

// peerKey identifies a peer's table on a router. A peer that comes back up
// after going down gets a new index: its old routes stay (per keep) until
// the new session replaces them or they expire.
type peerKey struct {
	router netip.Addr
	addr   netip.Addr
	dist   uint64
	table  uint8
}

// peer is the state of one peer's table.
type peer struct {
	key     peerKey
	router  uint32 // index in RIB.routers
	as      uint32
	session uint64 // the BMP session that feeds it: its end takes the peer down
	up      bool
	downAt  time.Time
	routes  int
	gone    bool // swept; the index is free
}

// peerLook is what a lookup reads of a peer, kept apart from the rest so
// that scoring a path touches 8 bytes: the peer's router, and its score
// (the table kind, plus 4 when the peer is up).
type peerLook struct {
	router uint32
	score  int32
}

func (p *peer) look() peerLook {
	s := int32(p.key.table)
	if p.up {
		s += 4
	}
	return peerLook{router: p.router, score: s}
}

// path is one peer's route for a prefix: one per route distinguisher and
// path identifier (ADD-PATH). 28 bytes, 4-byte aligned.
type path struct {
	rd     [2]uint32 // route distinguisher, high and low halves
	id     uint32    // path identifier (RFC 7911), 0 without ADD-PATH
	attrs  uint32    // index in RIB.attrs
	peer   uint32    // index in RIB.peers
	origin uint32    // the attribute set's origin AS, here to spare a lookup a memory access
	nhTag  uint32    // nextHopTag of the attribute set's next hop, likewise
}

func splitRD(rd uint64) [2]uint32 { return [2]uint32{uint32(rd >> 32), uint32(rd)} }

// nextHopTag folds a next hop into 32 bits: the address itself for IPv4.
func nextHopTag(nh *[16]byte, nh4 bool) uint32 {
	if nh4 {
		return binary.BigEndian.Uint32(nh[:4])
	}
	return binary.BigEndian.Uint32(nh[:4]) ^ binary.BigEndian.Uint32(nh[4:8]) ^ binary.BigEndian.Uint32(nh[8:12]) ^ binary.BigEndian.Uint32(nh[12:])
}

// entry is the routes of every peer for one prefix.
type entry struct {
	paths []path
}

// attrKey is the interned part of a route: what a flow is enriched with.
type attrKey struct {
	nextHop [16]byte // IPv4 in the first 4 bytes when nh4
	nh4     bool
	asPath  uint32 // index in RIB.asPaths (0: empty)
	comms   uint32 // index in RIB.comms (0: none)
	lcomms  uint32 // index in RIB.lcomms (0: none)
	origin  uint32 // the origin AS (kept when the path is not)
}

// attrSet is an interned attribute set with its reference count, and its
// lists ready to be copied into flows (no allocation per flow).
type attrSet struct {
	attrKey
	refs      uint32
	pathList  flow.Uint32s
	commList  flow.Uint32s
	lcommList flow.LargeCommunities
}

// LargeCommunity is a large BGP community (RFC 8092).
type LargeCommunity = flow.LargeCommunity

// list is what an interner stores: flow.Uint32s or flow.LargeCommunities.
type list interface{ Key() string }

// interner stores distinct lists once, reference counted, by their packed
// bytes; index 0 is the empty list.
type interner[L list] struct {
	ids   map[string]uint32
	lists []L
	refs  []uint32
	free  []uint32
	make  func(key string) L
}

func newInterner[L list](make func(key string) L) interner[L] {
	var empty L
	return interner[L]{ids: map[string]uint32{}, lists: []L{empty}, refs: []uint32{0}, make: make}
}

// ref returns the index of the list packed in key (copied when new) and
// takes a reference.
func (in *interner[L]) ref(key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	if id, ok := in.ids[string(key)]; ok {
		in.refs[id]++
		return id
	}
	l := in.make(string(key))
	var id uint32
	if n := len(in.free); n > 0 {
		id = in.free[n-1]
		in.free = in.free[:n-1]
		in.lists[id], in.refs[id] = l, 1
	} else {
		id = uint32(len(in.lists))
		in.lists = append(in.lists, l)
		in.refs = append(in.refs, 1)
	}
	in.ids[l.Key()] = id
	return id
}

// unref drops a reference to id.
func (in *interner[L]) unref(id uint32) {
	if id == 0 {
		return
	}
	if in.refs[id]--; in.refs[id] == 0 {
		delete(in.ids, in.lists[id].Key())
		var empty L
		in.lists[id] = empty
		in.free = append(in.free, id)
	}
}

func (in *interner[L]) len() int { return len(in.ids) }

// appendUint32s packs v as flow.Uint32s does (the key of the list).
func appendUint32s(b []byte, v ...uint32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}

// Route is what Lookup returns: a copy of a route's data.
type Route struct {
	Prefix           netip.Prefix
	NextHop          netip.Addr
	OriginAS         uint32
	ASPath           []uint32
	Communities      []uint32
	LargeCommunities []LargeCommunity
}

// RIB holds the routes of every router and peer: one trie per address
// family mapping prefixes to entries, entries listing each peer's path,
// paths pointing to interned attribute sets. Readers take the read lock
// once per batch of flows.
type RIB struct {
	mu sync.RWMutex

	v4, v6 trie[entry]

	attrIDs   map[attrKey]uint32
	attrs     []attrSet
	freeAttrs []uint32
	asPaths   interner[flow.Uint32s]
	comms     interner[flow.Uint32s]
	lcomms    interner[flow.LargeCommunities]
	keyBuf    []byte // scratch for the interners' keys

	peers     []peer
	looks     []peerLook // by peer index, as peers
	freePeers []uint32
	peerIDs   map[peerKey]uint32 // peers up or down, not yet swept
	routers   []netip.Addr
	routerIDs map[netip.Addr]uint32
	routes    []int // routes by router index
}

// NewRIB returns an empty RIB.
func NewRIB() *RIB {
	return &RIB{
		v4: newTrie[entry](3), v6: newTrie[entry](15),
		attrIDs: map[attrKey]uint32{}, attrs: []attrSet{{}},
		asPaths: newInterner(uint32s), comms: newInterner(uint32s), lcomms: newInterner(largeCommunities),
		peerIDs: map[peerKey]uint32{}, routerIDs: map[netip.Addr]uint32{},
	}
}

func uint32s(key string) flow.Uint32s {
	l, _ := flow.Uint32sFromKey(key)
	return l
}

func largeCommunities(key string) flow.LargeCommunities {
	l, _ := flow.LargeCommunitiesFromKey(key)
	return l
}

// router returns the index of a router, adding it. Caller holds mu.
func (r *RIB) router(a netip.Addr) uint32 {
	if id, ok := r.routerIDs[a]; ok {
		return id
	}
	id := uint32(len(r.routers))
	r.routers = append(r.routers, a)
	r.routes = append(r.routes, 0)
	r.routerIDs[a] = id
	return id
}

// peerUp returns the index of a peer's table fed by session, adding it
// (or replacing a peer that went down by a new index) as up. A peer up
// from another session than the one feeding the table (a router that
// reconnected before its old session was seen dead) starts a new index
// too, the old one down: its routes stay until the new session replaces
// them or keep ends. Caller holds mu.
func (r *RIB) peerUp(k peerKey, as uint32, session uint64, t time.Time) uint32 {
	if id, ok := r.peerIDs[k]; ok {
		if p := &r.peers[id]; p.up {
			if p.session == session {
				return id
			}
			r.peerDown(id, t)
		}
		delete(r.peerIDs, k) // the old index lives on until swept
	}
	p := peer{key: k, router: r.router(k.router), as: as, session: session, up: true}
	var id uint32
	if n := len(r.freePeers); n > 0 {
		id = r.freePeers[n-1]
		r.freePeers = r.freePeers[:n-1]
		r.peers[id], r.looks[id] = p, p.look()
	} else {
		id = uint32(len(r.peers))
		r.peers = append(r.peers, p)
		r.looks = append(r.looks, p.look())
	}
	r.peerIDs[k] = id
	return id
}

// peerDown marks a peer's table down at t. Caller holds mu.
func (r *RIB) peerDown(id uint32, t time.Time) {
	if p := &r.peers[id]; p.up {
		p.up, p.downAt = false, t
		r.looks[id] = p.look()
	}
}

// sessionDown marks down at t the peers a BMP session feeds, and no other:
// another session of the same router keeps its own. Caller holds mu.
func (r *RIB) sessionDown(session uint64, t time.Time) {
	for id := range r.peers {
		if p := &r.peers[id]; !p.gone && p.up && p.session == session {
			r.peerDown(uint32(id), t)
		}
	}
}

// internAttrs returns the index of an attribute set, with a reference.
// Caller holds mu.
func (r *RIB) internAttrs(nh netip.Addr, origin uint32, asPath, comms []uint32, lcomms []LargeCommunity) uint32 {
	k := attrKey{origin: origin}
	if nh.Is4() || nh.Is4In6() {
		a := nh.Unmap().As4()
		copy(k.nextHop[:], a[:])
		k.nh4 = true
	} else if nh.IsValid() {
		k.nextHop = nh.As16()
	}
	// Look the sequences up first without a reference, to find a known set.
	r.keyBuf = appendUint32s(r.keyBuf[:0], asPath...)
	k.asPath = r.asPaths.ref(r.keyBuf)
	r.keyBuf = appendUint32s(r.keyBuf[:0], comms...)
	k.comms = r.comms.ref(r.keyBuf)
	r.keyBuf = r.keyBuf[:0]
	for _, c := range lcomms {
		r.keyBuf = appendUint32s(r.keyBuf, c.ASN, c.Local1, c.Local2)
	}
	k.lcomms = r.lcomms.ref(r.keyBuf)
	if id, ok := r.attrIDs[k]; ok {
		r.asPaths.unref(k.asPath)
		r.comms.unref(k.comms)
		r.lcomms.unref(k.lcomms)
		r.attrs[id].refs++
		return id
	}
	s := attrSet{attrKey: k, refs: 1, pathList: r.asPaths.lists[k.asPath], commList: r.comms.lists[k.comms], lcommList: r.lcomms.lists[k.lcomms]}
	var id uint32
	if n := len(r.freeAttrs); n > 0 {
		id = r.freeAttrs[n-1]
		r.freeAttrs = r.freeAttrs[:n-1]
		r.attrs[id] = s
	} else {
		id = uint32(len(r.attrs))
		r.attrs = append(r.attrs, s)
	}
	r.attrIDs[k] = id
	return id
}

func (r *RIB) unrefAttrs(id uint32) {
	s := &r.attrs[id]
	if s.refs--; s.refs == 0 {
		delete(r.attrIDs, s.attrKey)
		r.asPaths.unref(s.asPath)
		r.comms.unref(s.comms)
		r.lcomms.unref(s.lcomms)
		*s = attrSet{}
		r.freeAttrs = append(r.freeAttrs, id)
	}
}

func (r *RIB) trieOf(p netip.Prefix) (*trie[entry], [16]byte) {
	var a [16]byte
	if p.Addr().Is4() {
		b := p.Addr().As4()
		copy(a[:], b[:])
		return &r.v4, a
	}
	return &r.v6, p.Addr().As16()
}

// add sets peer's route for prefix p (masked) in rd with path identifier
// id to the attribute set attrs, taking over the caller's reference on
// attrs. It returns whether the route is new. Caller holds mu.
func (r *RIB) add(p netip.Prefix, rd uint64, id, peerID, attrs uint32) bool {
	t, a := r.trieOf(p)
	e := t.put(&a, p.Bits())
	rds := splitRD(rd)
	for i := range e.paths {
		if pa := &e.paths[i]; pa.peer == peerID && pa.rd == rds && pa.id == id {
			r.unrefAttrs(pa.attrs)
			k := &r.attrs[attrs].attrKey
			pa.attrs, pa.origin, pa.nhTag = attrs, k.origin, nextHopTag(&k.nextHop, k.nh4)
			return false
		}
	}
	// A route from a peer that came back up replaces the ones its earlier
	// session left.
	r.dropStale(e, peerID, rds)
	if len(e.paths) == cap(e.paths) {
		// Grow by one: most prefixes have a few paths, and exact sizes
		// save memory over doubling.
		np := make([]path, len(e.paths), len(e.paths)+1)
		copy(np, e.paths)
		e.paths = np
	}
	k := &r.attrs[attrs].attrKey
	e.paths = append(e.paths, path{rd: rds, id: id, attrs: attrs, peer: peerID, origin: k.origin, nhTag: nextHopTag(&k.nextHop, k.nh4)})
	r.peers[peerID].routes++
	r.routes[r.peers[peerID].router]++
	return true
}

// withdraw removes peer's route for prefix p in rd with path identifier
// id. It returns whether there was one. Caller holds mu.
func (r *RIB) withdraw(p netip.Prefix, rd uint64, id, peerID uint32) bool {
	t, a := r.trieOf(p)
	e := t.get(&a, p.Bits())
	if e == nil {
		return false
	}
	found := false
	rds := splitRD(rd)
	for i := range e.paths {
		if pa := &e.paths[i]; pa.peer == peerID && pa.rd == rds && pa.id == id {
			r.dropPath(e, i)
			found = true
			break
		}
	}
	// The peer's earlier session's routes go too.
	if r.dropStale(e, peerID, rds) {
		found = true
	}
	if len(e.paths) == 0 {
		t.remove(&a, p.Bits())
	}
	return found
}

// dropStale removes from e the paths in rd (whatever their path
// identifiers) of the earlier sessions (down) of peerID's table. It
// returns whether there was one. Caller holds mu.
func (r *RIB) dropStale(e *entry, peerID uint32, rd [2]uint32) bool {
	dropped := false
	key := &r.peers[peerID].key
	for i := 0; i < len(e.paths); {
		if q := &r.peers[e.paths[i].peer]; e.paths[i].rd == rd && !q.up && e.paths[i].peer != peerID && q.key == *key {
			r.dropPath(e, i)
			dropped = true
			continue
		}
		i++
	}
	return dropped
}

func (r *RIB) dropPath(e *entry, i int) {
	pa := e.paths[i]
	r.unrefAttrs(pa.attrs)
	r.peers[pa.peer].routes--
	r.routes[r.peers[pa.peer].router]--
	e.paths = slices.Delete(e.paths, i, i+1)
}

// sweep removes the routes of peers down since before deadline (or of
// every peer for which gone returns true), and frees their indexes. It
// returns the number of routes removed. Caller holds mu.
func (r *RIB) sweep(deadline time.Time) int {
	var dead []bool
	any := false
	for i := range r.peers {
		p := &r.peers[i]
		if !p.gone && !p.up && !p.downAt.After(deadline) {
			if dead == nil {
				dead = make([]bool, len(r.peers))
			}
			dead[i], any = true, true
		}
	}
	if !any {
		return 0
	}
	removed := 0
	for _, t := range []*trie[entry]{&r.v4, &r.v6} {
		type gonePrefix struct {
			a    [16]byte
			bits int
		}
		var empty []gonePrefix
		t.walk(func(a *[16]byte, bits int, e *entry) {
			for i := 0; i < len(e.paths); {
				if dead[e.paths[i].peer] {
					r.dropPath(e, i)
					removed++
					continue
				}
				i++
			}
			if len(e.paths) == 0 {
				empty = append(empty, gonePrefix{*a, bits})
			}
		})
		for _, g := range empty {
			t.remove(&g.a, g.bits)
		}
	}
	for i, d := range dead {
		if d {
			p := &r.peers[i]
			if id, ok := r.peerIDs[p.key]; ok && id == uint32(i) {
				delete(r.peerIDs, p.key)
			}
			*p = peer{gone: true}
			r.looks[i] = peerLook{router: noRouter - 1, score: -1} // no path refers to it
			r.freePeers = append(r.freePeers, uint32(i))
		}
	}
	return removed
}

// noRouter asks a lookup for routes of every router.
const noRouter = ^uint32(0)

// addrKey returns the trie and key of an address (nil for an invalid one).
func (r *RIB) addrKey(addr netip.Addr, key *[16]byte) *trie[entry] {
	if addr.Is4() || addr.Is4In6() {
		b := addr.Unmap().As4()
		*key = [16]byte{b[0], b[1], b[2], b[3]}
		return &r.v4
	}
	if addr.IsValid() {
		*key = addr.As16()
		return &r.v6
	}
	return nil
}

// nextHopOf returns what a lookup compares paths' next hops with: the
// address as stored in attribute sets, and its tag; want is false without
// a next hop.
func nextHopOf(nextHop netip.Addr) (nh [16]byte, nh4 bool, tag uint32, want bool) {
	if !nextHop.IsValid() || nextHop.IsUnspecified() {
		return nh, false, 0, false
	}
	if nextHop.Is4() || nextHop.Is4In6() {
		b := nextHop.Unmap().As4()
		nh = [16]byte{b[0], b[1], b[2], b[3]}
		return nh, true, binary.BigEndian.Uint32(b[:]), true
	}
	nh = nextHop.As16()
	return nh, false, nextHopTag(&nh, false), true
}

// best returns the index of the path of e a lookup picks: among the paths
// of router (every path with noRouter), the one whose next hop is nh, else
// one of a peer that is up, preferring Loc-RIB over post-policy over
// pre-policy; -1 when router has none. Caller holds the read lock.
func (r *RIB) best(e *entry, router uint32, nh *[16]byte, nh4 bool, tag uint32, wantNH bool) int {
	looks := r.looks
	best, bestScore := -1, int32(-1)
	for i := range e.paths {
		pa := &e.paths[i]
		l := looks[pa.peer]
		if router != noRouter && l.router != router {
			continue
		}
		s := l.score
		if wantNH && pa.nhTag == tag && r.nextHopIs(pa.attrs, nh, nh4) {
			s += 8
		}
		if s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// nextHopIs says whether attribute set id has next hop nh.
func (r *RIB) nextHopIs(id uint32, nh *[16]byte, nh4 bool) bool {
	k := &r.attrs[id].attrKey
	return k.nh4 == nh4 && k.nextHop == *nh
}

// lookup finds the route for addr: the longest prefix holding a path from
// router (or from any router with noRouter), and among its paths the one
// best picks. Caller holds the read lock. It does not allocate.
func (r *RIB) lookup(addr netip.Addr, router uint32, nextHop netip.Addr) (found path, bits int, ok bool) {
	var a [16]byte
	t := r.addrKey(addr, &a)
	if t == nil {
		return path{}, 0, false
	}
	nh, nh4, tag, wantNH := nextHopOf(nextHop)
	ok = t.lookup(&a, func(e *entry, length int) bool {
		if i := r.best(e, router, &nh, nh4, tag, wantNH); i >= 0 {
			found, bits = e.paths[i], length
			return true
		}
		return false
	})
	return found, bits, ok
}

// lookupFast is lookup by the direct index: down from the node of depth 2
// to the deepest node on addr's way, its longest prefix containing addr,
// and the best path there; a query that finds no path it can take there
// walks the whole way as lookup does. Caller holds the read lock.
func (r *RIB) lookupFast(addr netip.Addr, router uint32, nextHop netip.Addr) (path, int, bool) {
	var key [16]byte
	t := r.addrKey(addr, &key)
	if t == nil {
		return path{}, 0, false
	}
	n, d := t.deepest(&key)
	if idx, ok := n.longest(key[d]); ok {
		e := &n.values[n.pfxRank(idx)]
		nh, nh4, tag, wantNH := nextHopOf(nextHop)
		if j := r.best(e, router, &nh, nh4, tag, wantNH); j >= 0 {
			return e.paths[j], d*8 + bits.Len(idx) - 1, true
		}
	}
	return r.lookup(addr, router, nextHop)
}

// query is one address of a batch lookup: what to look up, and the route
// found.
type query struct {
	// In.
	addr, nextHop netip.Addr
	router        uint32

	// Out: the path found and its prefix length, when ok.
	path path
	bits int
	ok   bool

	// The walk.
	key   [16]byte
	t     *trie[entry]
	n     *node[entry] // the deepest node on the address's way down
	d     int          // its depth
	e     *entry       // the longest prefix of n containing the address
	elen  int          // its length
	np    int          // its path count, read ahead
	peer0 uint32       // its first path's peer, read ahead
}

// lookupBatch finds the route of every query, as lookup does, under the
// caller's read lock. It walks the trie one step at a time over all the
// queries (the direct index, then the nodes, then the entries, then their
// paths and the best one's next hop) rather than one query after another,
// so that the memory accesses of different addresses, which miss the
// cache with a full table, overlap instead of waiting for one another:
// each step reads what the step before brought in, and brings in what the
// next one reads. It does not allocate.
func (r *RIB) lookupBatch(qs []query) {
	// The node of depth 2 from the direct index.
	for i := range qs {
		q := &qs[i]
		q.ok, q.e = false, nil
		if q.t = r.addrKey(q.addr, &q.key); q.t == nil {
			q.n = nil
			continue
		}
		q.n = q.t.dir[int(q.key[0])<<8|int(q.key[1])]
	}
	// Down to the deepest node on the address's way, and the longest
	// prefix there containing the address.
	for i := range qs {
		q := &qs[i]
		if q.t == nil {
			continue
		}
		q.n, q.d = q.t.descend(q.n, &q.key)
		if idx, ok := q.n.longest(q.key[q.d]); ok {
			q.e, q.elen = &q.n.values[q.n.pfxRank(idx)], q.d*8+bits.Len(idx)-1
		}
	}
	// The entry: its paths.
	for i := range qs {
		if q := &qs[i]; q.e != nil {
			q.np = len(q.e.paths)
			if q.np > 0 {
				q.peer0 = q.e.paths[0].peer
			}
		}
	}
	// The best path of that entry; a query whose deepest node holds no
	// path it can take walks the whole way (shorter prefixes, up the
	// trie), as lookup does.
	for i := range qs {
		q := &qs[i]
		if q.t == nil {
			continue
		}
		nh, nh4, tag, wantNH := nextHopOf(q.nextHop)
		if q.e != nil {
			if j := r.best(q.e, q.router, &nh, nh4, tag, wantNH); j >= 0 {
				q.path, q.bits, q.ok = q.e.paths[j], q.elen, true
				continue
			}
		}
		q.path, q.bits, q.ok = r.lookup(q.addr, q.router, q.nextHop)
	}
}

// route returns a copy of the data of an attribute set. Caller holds the
// read lock.
func (r *RIB) route(attrs uint32) Route {
	s := &r.attrs[attrs]
	var rt Route
	if s.nh4 {
		rt.NextHop = netip.AddrFrom4([4]byte(s.nextHop[:4]))
	} else if s.nextHop != ([16]byte{}) {
		rt.NextHop = netip.AddrFrom16(s.nextHop)
	}
	rt.OriginAS = s.origin
	rt.ASPath = s.pathList.AppendTo(nil)
	rt.Communities = s.commList.AppendTo(nil)
	rt.LargeCommunities = s.lcommList.AppendTo(nil)
	return rt
}

// Lookup returns the route for addr as seen by the router at routerAddr
// (any router when routerAddr is not a BMP router), with a copy of its
// data. For tests and the API; flows use lookup under one lock per batch.
func (r *RIB) Lookup(addr, routerAddr, nextHop netip.Addr) (Route, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	router := noRouter
	if id, ok := r.routerIDs[routerAddr]; ok {
		router = id
	}
	p, bits, ok := r.lookup(addr, router, nextHop)
	if !ok {
		return Route{}, false
	}
	rt := r.route(p.attrs)
	rt.Prefix = netip.PrefixFrom(addr.Unmap(), bits).Masked()
	return rt, true
}

// Stats are the sizes of a RIB.
type Stats struct {
	Prefixes, Paths, AttrSets, ASPaths, CommunitySets, LargeCommunitySets, Peers int
}

// Stats counts what the RIB holds.
func (r *RIB) Stats() Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := Stats{Prefixes: r.v4.count + r.v6.count, AttrSets: len(r.attrIDs), ASPaths: r.asPaths.len(),
		CommunitySets: r.comms.len(), LargeCommunitySets: r.lcomms.len(), Peers: len(r.peerIDs)}
	for _, n := range r.routes {
		s.Paths += n
	}
	return s
}
