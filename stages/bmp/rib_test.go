package bmp

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// naiveLPM is the reference: the longest of the prefixes containing a.
func naiveLPM(set map[netip.Prefix]uint32, a netip.Addr) (netip.Prefix, uint32, bool) {
	best, bv, ok := netip.Prefix{}, uint32(0), false
	for p, v := range set {
		if p.Contains(a) && (!ok || p.Bits() > best.Bits()) {
			best, bv, ok = p, v, true
		}
	}
	return best, bv, ok
}

func randPrefix(rng *rand.Rand, v6 bool) netip.Prefix {
	if v6 {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, byte(rng.IntN(4)), byte(rng.IntN(256))
		for i := 4; i < 16; i++ {
			b[i] = byte(rng.IntN(256))
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), 16+rng.IntN(113)).Masked()
	}
	var b [4]byte
	b[0], b[1], b[2], b[3] = byte(10+rng.IntN(3)), byte(rng.IntN(8)), byte(rng.IntN(256)), byte(rng.IntN(256))
	return netip.PrefixFrom(netip.AddrFrom4(b), rng.IntN(33)).Masked()
}

func TestTrieAgainstNaive(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(1, 2))
		tr := newTrie[uint32](3)
		if v6 {
			tr = newTrie[uint32](15)
		}
		set := map[netip.Prefix]uint32{}
		key := func(p netip.Prefix) [16]byte {
			var a [16]byte
			if p.Addr().Is4() {
				b := p.Addr().As4()
				copy(a[:], b[:])
				return a
			}
			return p.Addr().As16()
		}
		for i := range 3000 {
			p := randPrefix(rng, v6)
			a := key(p)
			if rng.IntN(4) == 0 && len(set) > 0 {
				// Remove a present prefix.
				for q := range set {
					qa := key(q)
					tr.remove(&qa, q.Bits())
					delete(set, q)
					break
				}
				continue
			}
			set[p] = uint32(i + 1)
			*tr.put(&a, p.Bits()) = uint32(i + 1)
		}
		if tr.count != len(set) {
			t.Fatalf("v6=%v: count %d, want %d", v6, tr.count, len(set))
		}
		walked := 0
		tr.walk(func(a *[16]byte, bits int, vp *uint32) {
			v := *vp
			walked++
			var p netip.Prefix
			if v6 {
				p = netip.PrefixFrom(netip.AddrFrom16(*a), bits)
			} else {
				p = netip.PrefixFrom(netip.AddrFrom4([4]byte(a[:4])), bits)
			}
			if set[p] != v {
				t.Errorf("walk: %s = %d, want %d", p, v, set[p])
			}
		})
		if walked != len(set) {
			t.Errorf("walk visited %d, want %d", walked, len(set))
		}
		for range 3000 {
			a := randPrefix(rng, v6).Addr()
			want, wv, wok := naiveLPM(set, a)
			k := key(netip.PrefixFrom(a, a.BitLen()))
			var gotBits int
			var gv uint32
			gok := tr.lookup(&k, func(v *uint32, bits int) bool { gv, gotBits = *v, bits; return true })
			if gok != wok || (wok && (gv != wv || gotBits != want.Bits())) {
				t.Fatalf("v6=%v lookup %s = (%d /%d %v), want (%d %s %v)", v6, a, gv, gotBits, gok, wv, want, wok)
			}
		}
		// Remove everything: the trie is empty again.
		for p := range set {
			a := key(p)
			tr.remove(&a, p.Bits())
		}
		if tr.count != 0 || !tr.root.pfx.empty() || !tr.root.kids.empty() {
			t.Errorf("v6=%v: not empty after removing all: count %d", v6, tr.count)
		}
	}
}

func TestRIBPerRouterAndNextHop(t *testing.T) {
	r := NewRIB()
	r1, r2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	p1 := r.peerUp(peerKey{router: r1, addr: netip.MustParseAddr("198.51.100.1")}, 64501, 1, time.Time{})
	p2 := r.peerUp(peerKey{router: r2, addr: netip.MustParseAddr("198.51.100.2")}, 64502, 1, time.Time{})
	p2b := r.peerUp(peerKey{router: r2, addr: netip.MustParseAddr("198.51.100.3")}, 64503, 1, time.Time{})
	pfx := netip.MustParsePrefix("203.0.113.0/24")
	r.add(pfx, 0, 0, p1, r.internAttrs(netip.MustParseAddr("198.51.100.1"), 65001, []uint32{64501, 65001}, []uint32{100}, nil))
	r.add(pfx, 0, 0, p2, r.internAttrs(netip.MustParseAddr("198.51.100.2"), 65002, []uint32{64502, 65002}, nil, nil))
	r.add(pfx, 0, 0, p2b, r.internAttrs(netip.MustParseAddr("198.51.100.3"), 65003, []uint32{64503, 65003}, nil, nil))
	r.add(netip.MustParsePrefix("203.0.0.0/16"), 0, 0, p1, r.internAttrs(netip.MustParseAddr("198.51.100.1"), 65009, []uint32{65009}, nil, nil))
	a := netip.MustParseAddr("203.0.113.7")
	for _, c := range []struct {
		router, nh netip.Addr
		origin     uint32
	}{
		{r1, netip.Addr{}, 65001},
		{r2, netip.MustParseAddr("198.51.100.3"), 65003},
		{r2, netip.MustParseAddr("198.51.100.2"), 65002},
		{netip.MustParseAddr("192.0.2.99"), netip.MustParseAddr("198.51.100.3"), 65003},
	} {
		rt, ok := r.Lookup(a, c.router, c.nh)
		if !ok || rt.OriginAS != c.origin || rt.Prefix != pfx {
			t.Errorf("Lookup(router %s, nh %s) = %+v %v, want origin %d", c.router, c.nh, rt, ok, c.origin)
		}
	}
	// Router 2 has no /16: a lookup outside the /24 from router 2 misses.
	if rt, ok := r.Lookup(netip.MustParseAddr("203.0.1.1"), r2, netip.Addr{}); ok {
		t.Errorf("router 2 found %+v", rt)
	}
	if rt, ok := r.Lookup(netip.MustParseAddr("203.0.1.1"), r1, netip.Addr{}); !ok || rt.OriginAS != 65009 {
		t.Errorf("router 1 /16 = %+v %v", rt, ok)
	}
	// Withdraw router 1's /24: router 1 falls back to its /16.
	r.withdraw(pfx, 0, 0, p1)
	if rt, ok := r.Lookup(a, r1, netip.Addr{}); !ok || rt.OriginAS != 65009 || rt.Prefix.Bits() != 16 {
		t.Errorf("after withdraw: %+v %v", rt, ok)
	}
	// Peer down: routes stay until swept after keep.
	now := time.Now()
	r.peerDown(p2, now)
	r.peerDown(p2b, now)
	if _, ok := r.Lookup(a, r2, netip.Addr{}); !ok {
		t.Error("routes of a peer down gone before keep")
	}
	if n := r.sweep(now.Add(-time.Minute)); n != 0 {
		t.Errorf("swept %d before keep", n)
	}
	if n := r.sweep(now); n != 2 {
		t.Errorf("swept %d, want 2", n)
	}
	if _, ok := r.Lookup(a, r2, netip.Addr{}); ok {
		t.Error("routes of a peer down still there after keep")
	}
	st := r.Stats()
	if st.Prefixes != 1 || st.Paths != 1 || st.AttrSets != 1 || st.ASPaths != 1 || st.CommunitySets != 0 {
		t.Errorf("stats after sweep = %+v", st)
	}
}

// TestLookupBatchAgainstLookup: the batch lookup and lookupFast (direct
// index, deepest node first) find what the plain walk finds, for random prefixes of
// every length from several routers and peers, some down, as prefixes
// come and go.
func TestLookupBatchAgainstLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := NewRIB()
	routers := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}
	var peers []uint32
	for i := range 6 {
		k := peerKey{router: routers[i%2], addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), table: uint8(i % 3)}
		peers = append(peers, r.peerUp(k, 64500+uint32(i), 1, time.Time{}))
	}
	r.peerDown(peers[5], time.Now())
	nextHops := []netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("2001:db8::1")}
	var present []netip.Prefix
	for round := range 4 {
		for i := range 4000 {
			if rng.IntN(3) == 0 && len(present) > 0 {
				j := rng.IntN(len(present))
				for _, p := range peers {
					r.withdraw(present[j], 0, 0, p)
				}
				present = slices.Delete(present, j, j+1)
				continue
			}
			p := widePrefix(rng)
			for _, pe := range peers {
				if rng.IntN(2) == 0 {
					r.add(p, 0, 0, pe, r.internAttrs(nextHops[rng.IntN(len(nextHops))], uint32(round*10000+i), nil, nil, nil))
				}
			}
			present = append(present, p)
		}
		qs := make([]query, 200)
		for range 20 {
			for i := range qs {
				p := widePrefix(rng)
				router := noRouter
				if n := rng.IntN(3); n < 2 {
					router = r.routerIDs[routers[n]]
				}
				var nh netip.Addr
				if rng.IntN(2) == 0 {
					nh = nextHops[rng.IntN(len(nextHops))]
				}
				qs[i] = query{addr: p.Addr(), nextHop: nh, router: router}
				if i%50 == 0 {
					qs[i].addr = netip.Addr{}
				}
			}
			r.lookupBatch(qs)
			for _, q := range qs {
				p, bits, ok := r.lookup(q.addr, q.router, q.nextHop)
				if ok != q.ok || (ok && (p != q.path || bits != q.bits)) {
					t.Fatalf("round %d: %s (router %d, nh %s): batch %+v /%d %v, lookup %+v /%d %v",
						round, q.addr, q.router, q.nextHop, q.path, q.bits, q.ok, p, bits, ok)
				}
				fp, fbits, fok := r.lookupFast(q.addr, q.router, q.nextHop)
				if ok != fok || (ok && (p != fp || bits != fbits)) {
					t.Fatalf("round %d: %s (router %d, nh %s): lookupFast %+v /%d %v, lookup %+v /%d %v",
						round, q.addr, q.router, q.nextHop, fp, fbits, fok, p, bits, ok)
				}
			}
		}
	}
	// The direct index points where the trie does.
	for _, tr := range []*trie[entry]{&r.v4, &r.v6} {
		for i, n := range tr.dir {
			var want *node[entry]
			if c := tr.root.child(byte(i >> 8)); c != nil {
				want = c.child(byte(i))
			}
			if n != want {
				t.Fatalf("dir[%#x] = %p, want %p", i, n, want)
			}
		}
	}
}

// widePrefix returns a random prefix, half of them as randPrefix does
// (dense), half spread over 32 values of each of the first two octets
// (sparse: nodes come and go).
func widePrefix(rng *rand.Rand) netip.Prefix {
	v6 := rng.IntN(3) == 0
	p := randPrefix(rng, v6)
	if rng.IntN(2) == 0 {
		return p
	}
	if v6 {
		b := p.Addr().As16()
		b[0], b[1] = byte(rng.IntN(32)), byte(rng.IntN(32))
		return netip.PrefixFrom(netip.AddrFrom16(b), p.Bits()).Masked()
	}
	b := p.Addr().As4()
	b[0], b[1] = byte(rng.IntN(32)), byte(rng.IntN(32))
	return netip.PrefixFrom(netip.AddrFrom4(b), p.Bits()).Masked()
}
