package iptable

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

type pv struct {
	prefix string
	val    string
}

func build(t testing.TB, entries []pv, inherit func(v, parent string) string) *Table[string] {
	t.Helper()
	b := Builder[string]{Inherit: inherit}
	for _, e := range entries {
		b.Add(netip.MustParsePrefix(e.prefix), e.val)
	}
	return b.Build()
}

func TestLookup(t *testing.T) {
	entries := []pv{
		{"0.0.0.0/0", "v4-default"},
		{"10.0.0.0/8", "ten"},
		{"10.1.0.0/16", "ten-one"},
		{"10.1.2.0/24", "ten-one-two"},
		{"10.1.2.128/25", "upper"},
		{"10.1.3.0/24", "ten-one-three"}, // adjacent to 10.1.2.0/24
		{"10.1.2.3/32", "host"},
		{"192.0.2.1/24", "doc"}, // host bits: masked
		{"255.255.255.255/32", "broadcast"},
		{"::ffff:198.51.100.0/120", "mapped"}, // added as 198.51.100.0/24
		{"2001:db8::/32", "doc6"},
		{"2001:db8:1::/48", "doc6-1"},
		{"2001:db8:1::1/128", "doc6-host"},
		{"2001:db8:2::/48", "doc6-2"}, // adjacent to 2001:db8:1::/48
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "all-ones"},
		{"fe80::/10", "link-local"},
		{"10.9.0.0/16", "first"},
		{"10.9.0.0/16", "replaced"}, // added again: the later value wins
	}
	tbl := build(t, entries, nil)
	cases := []struct {
		addr string
		want string // "" for no match
	}{
		{"0.0.0.0", "v4-default"},
		{"9.255.255.255", "v4-default"},
		{"10.0.0.0", "ten"},
		{"10.1.0.0", "ten-one"},
		{"10.1.1.255", "ten-one"},
		{"10.1.2.0", "ten-one-two"},
		{"10.1.2.2", "ten-one-two"},
		{"10.1.2.3", "host"},
		{"10.1.2.4", "ten-one-two"},
		{"10.1.2.127", "ten-one-two"},
		{"10.1.2.128", "upper"},
		{"10.1.2.255", "upper"},
		{"10.1.3.0", "ten-one-three"},
		{"10.1.3.255", "ten-one-three"},
		{"10.1.4.0", "ten-one"},
		{"10.2.0.0", "ten"},
		{"10.9.1.1", "replaced"},
		{"10.255.255.255", "ten"},
		{"11.0.0.0", "v4-default"},
		{"192.0.2.200", "doc"},
		{"198.51.100.7", "mapped"},
		{"255.255.255.254", "v4-default"},
		{"255.255.255.255", "broadcast"},
		{"::ffff:10.1.2.3", "host"}, // IPv4-mapped: looked up as IPv4
		{"::ffff:255.255.255.255", "broadcast"},
		{"::", ""},
		{"::1", ""},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", ""},
		{"2001:db8::", "doc6"},
		{"2001:db8:0:ffff::1", "doc6"},
		{"2001:db8:1::", "doc6-1"},
		{"2001:db8:1::1", "doc6-host"},
		{"2001:db8:1::2", "doc6-1"},
		{"2001:db8:2::", "doc6-2"},
		{"2001:db8:3::", "doc6"},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "doc6"},
		{"2001:db9::", ""},
		{"fe80::1%eth0", "link-local"}, // the zone does not matter
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", ""},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "all-ones"},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			got, ok := tbl.Lookup(netip.MustParseAddr(tc.addr))
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("Lookup = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
	if got, ok := tbl.Lookup(netip.Addr{}); ok {
		t.Errorf("Lookup(invalid) = %q, want no match", got)
	}
}

func TestEdgeTables(t *testing.T) {
	cases := []struct {
		name    string
		entries []pv
		want    map[string]string // address -> value, "" for no match
		ranges  int
	}{
		{"empty", nil, map[string]string{"0.0.0.0": "", "255.255.255.255": "", "::": "", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": ""}, 2},
		{"only defaults", []pv{{"0.0.0.0/0", "4"}, {"::/0", "6"}},
			map[string]string{"0.0.0.0": "4", "255.255.255.255": "4", "::ffff:1.2.3.4": "4", "::": "6", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "6"}, 2},
		{"::/0 does not hold IPv4", []pv{{"::/0", "6"}}, map[string]string{"1.2.3.4": "", "::1.2.3.4": "6"}, 2},
		{"equal neighbours merge", []pv{{"10.0.0.0/25", "x"}, {"10.0.0.128/25", "x"}, {"10.0.1.0/24", "x"}, {"10.0.2.0/24", "y"}},
			map[string]string{"10.0.0.0": "x", "10.0.1.255": "x", "10.0.2.0": "y", "10.0.3.0": ""}, 4 + 1},
		{"nested equal value", []pv{{"10.0.0.0/8", "x"}, {"10.1.0.0/16", "x"}}, map[string]string{"10.1.0.0": "x", "11.0.0.0": ""}, 3 + 1},
		{"last addresses", []pv{{"255.255.255.255/32", "b"}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "o"}, {"ffff::/16", "f"}},
			map[string]string{"255.255.255.255": "b", "255.255.255.254": "", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "o", "ffff::": "f", "fffe::": ""}, 2 + 3},
		{"first addresses", []pv{{"0.0.0.0/32", "z"}, {"::/128", "z6"}},
			map[string]string{"0.0.0.0": "z", "0.0.0.1": "", "::": "z6", "::1": ""}, 2 + 2},
		{"invalid prefix ignored", []pv{{"10.0.0.0/8", "x"}}, map[string]string{"10.0.0.1": "x"}, 3 + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder[string]
			for _, e := range tc.entries {
				b.Add(netip.MustParsePrefix(e.prefix), e.val)
			}
			b.Add(netip.Prefix{}, "invalid")
			tbl := b.Build()
			for addr, want := range tc.want {
				got, ok := tbl.Lookup(netip.MustParseAddr(addr))
				if ok != (want != "") || got != want {
					t.Errorf("Lookup(%s) = %q, %v; want %q", addr, got, ok, want)
				}
			}
			if got := tbl.Len(); got != tc.ranges {
				t.Errorf("Len = %d, want %d", got, tc.ranges)
			}
		})
	}
}

// attrs is a value with fields a nested prefix inherits when it leaves them
// empty.
type attrs struct{ name, site, region string }

func inheritAttrs(v, p attrs) attrs {
	if v.name == "" {
		v.name = p.name
	}
	if v.site == "" {
		v.site = p.site
	}
	if v.region == "" {
		v.region = p.region
	}
	return v
}

func TestInherit(t *testing.T) {
	b := Builder[attrs]{Inherit: inheritAttrs}
	for p, v := range map[string]attrs{
		"10.0.0.0/8":      {name: "corp", region: "eu"},
		"10.1.0.0/16":     {site: "paris"},
		"10.1.2.0/24":     {name: "customers"},
		"10.2.0.0/16":     {region: "us"},
		"192.0.2.0/24":    {name: "doc"},
		"2001:db8::/32":   {region: "eu6"},
		"2001:db8:1::/48": {site: "paris6"},
		"::/0":            {name: "internet6"},
	} {
		b.Add(netip.MustParsePrefix(p), v)
	}
	tbl := b.Build()
	cases := []struct {
		addr string
		want attrs
		ok   bool
	}{
		{"10.0.0.1", attrs{"corp", "", "eu"}, true},
		{"10.1.0.1", attrs{"corp", "paris", "eu"}, true},
		{"10.1.2.1", attrs{"customers", "paris", "eu"}, true},
		{"10.1.3.1", attrs{"corp", "paris", "eu"}, true},
		{"10.2.0.1", attrs{"corp", "", "us"}, true},
		{"10.3.0.1", attrs{"corp", "", "eu"}, true},
		{"192.0.2.1", attrs{"doc", "", ""}, true},
		{"192.0.3.1", attrs{}, false},
		{"2001:db8:1::1", attrs{"internet6", "paris6", "eu6"}, true},
		{"2001:db8:2::1", attrs{"internet6", "", "eu6"}, true},
		{"2001:db9::1", attrs{"internet6", "", ""}, true},
	}
	for _, tc := range cases {
		got, ok := tbl.Lookup(netip.MustParseAddr(tc.addr))
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v, %v", tc.addr, got, ok, tc.want, tc.ok)
		}
	}
}

// naive is the specification: a linear scan for the longest prefix holding
// an address, with the values combined along the chain of enclosing prefixes.
type naive[V comparable] struct {
	prefixes []netip.Prefix
	values   map[netip.Prefix]V
	inherit  func(v, parent V) V
}

func (n *naive[V]) add(p netip.Prefix, v V) {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if _, ok := n.values[p]; !ok {
		n.prefixes = append(n.prefixes, p)
	}
	n.values[p] = v
}

// longest returns the longest prefix holding a with fewer than maxBits bits.
func (n *naive[V]) longest(a netip.Addr, maxBits int) (netip.Prefix, bool) {
	a = a.Unmap()
	var best netip.Prefix
	found := false
	for _, p := range n.prefixes {
		if p.Contains(a) && p.Bits() < maxBits && (!found || p.Bits() > best.Bits()) {
			best, found = p, true
		}
	}
	return best, found
}

func (n *naive[V]) valueOf(p netip.Prefix) V {
	v := n.values[p]
	if n.inherit != nil {
		if parent, ok := n.longest(p.Addr(), p.Bits()); ok {
			v = n.inherit(v, n.valueOf(parent))
		}
	}
	return v
}

func (n *naive[V]) lookup(a netip.Addr) (V, bool) {
	p, ok := n.longest(a, 129)
	if !ok {
		var zero V
		return zero, false
	}
	return n.valueOf(p), true
}

// randAddr returns addresses clustered around a few bases and around the
// ends of the address space, so that random prefixes nest and touch.
func randAddr(rng *rand.Rand, v6 bool) netip.Addr {
	pick := func() byte {
		switch rng.IntN(6) {
		case 0:
			return 0
		case 1:
			return 255
		case 2:
			return byte(rng.IntN(4))
		case 3:
			return 128 + byte(rng.IntN(2))
		}
		return byte(rng.IntN(256))
	}
	if !v6 {
		return netip.AddrFrom4([4]byte{[]byte{0, 10, 255}[rng.IntN(3)], pick(), pick(), pick()})
	}
	var b [16]byte
	switch rng.IntN(4) {
	case 0: // all zeros or all ones, a few bits changed
		if rng.IntN(2) == 0 {
			for i := range b {
				b[i] = 255
			}
		}
	case 1:
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
	case 2: // IPv4-mapped
		b[10], b[11] = 255, 255
	default:
		b[0], b[1] = 0x2a, 0x01
	}
	for _, i := range []int{4, 7, 8, 12, 15} {
		if rng.IntN(2) == 0 {
			b[i] = pick()
		}
	}
	return netip.AddrFrom16(b)
}

func randPrefix(rng *rand.Rand) netip.Prefix {
	v6 := rng.IntN(2) == 0
	a := randAddr(rng, v6)
	var bits int
	switch rng.IntN(8) {
	case 0:
		bits = 0
	case 1:
		bits = a.BitLen()
	default:
		bits = rng.IntN(a.BitLen() + 1)
	}
	return netip.PrefixFrom(a, bits)
}

// near returns the first and last address of p and their neighbours.
func near(p netip.Prefix) []netip.Addr {
	first := p.Masked().Addr()
	b := first.AsSlice()
	for i := p.Bits(); i < first.BitLen(); i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	return []netip.Addr{first, first.Prev(), last, last.Next()}
}

func TestAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for round := range 40 {
		inherit := round%2 == 1
		var b Builder[attrs]
		n := naive[attrs]{values: map[netip.Prefix]attrs{}}
		if inherit {
			b.Inherit, n.inherit = inheritAttrs, inheritAttrs
		}
		count := 1 + rng.IntN(150)
		var probes []netip.Addr
		for i := range count {
			p := randPrefix(rng)
			v := attrs{name: fmt.Sprintf("n%d", i%(1+rng.IntN(20)))}
			if rng.IntN(3) == 0 {
				v.site = fmt.Sprintf("s%d", i)
			}
			if rng.IntN(4) == 0 {
				v.name = ""
			}
			b.Add(p, v)
			n.add(p, v)
			probes = append(probes, near(p)...)
		}
		tbl := b.Build()
		probes = append(probes, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), netip.IPv6Unspecified(),
			netip.AddrFrom16([16]byte{0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 255, 8: 255, 9: 255, 10: 255, 11: 255, 12: 255, 13: 255, 14: 255, 15: 255}))
		for range 3000 {
			probes = append(probes, randAddr(rng, rng.IntN(2) == 0))
		}
		for _, a := range probes {
			if !a.IsValid() {
				continue
			}
			want, wantOK := n.lookup(a)
			got, ok := tbl.Lookup(a)
			if got != want || ok != wantOK {
				t.Fatalf("round %d (inherit %v, %d prefixes): Lookup(%s) = %+v, %v; want %+v, %v", round, inherit, count, a, got, ok, want, wantOK)
			}
		}
	}
}

// TestRebuild checks that a builder can be reused and that a built table
// does not change with later additions.
func TestRebuild(t *testing.T) {
	var b Builder[string]
	b.Add(netip.MustParsePrefix("10.0.0.0/8"), "a")
	first := b.Build()
	b.Add(netip.MustParsePrefix("10.0.0.0/16"), "b")
	b.Add(netip.MustParsePrefix("10.0.0.0/8"), "c")
	second := b.Build()
	a := netip.MustParseAddr("10.0.0.1")
	if got, _ := first.Lookup(a); got != "a" {
		t.Errorf("first table: %q, want a", got)
	}
	if got, _ := second.Lookup(a); got != "b" {
		t.Errorf("second table: %q, want b", got)
	}
	if got, _ := second.Lookup(netip.MustParseAddr("10.1.0.0")); got != "c" {
		t.Errorf("second table: %q, want c", got)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tbl := build(t, []pv{{"10.0.0.0/8", "a"}, {"2001:db8::/32", "b"}}, nil)
	addrs := []netip.Addr{netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.0.0.1")}
	if n := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			tbl.Lookup(a)
		}
	}); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

// benchTable builds a table of n random prefixes (the given share of them
// IPv6) and 1<<20 addresses to look up, most of them inside the prefixes:
// more than a branch predictor learns when a benchmark repeats them.
func benchTable(n int, v6Share float64, clustered bool) (*Table[int32], []netip.Addr) {
	rng := rand.New(rand.NewPCG(1, 2))
	var b Builder[int32]
	var prefixes []netip.Prefix
	for i := range n {
		var p netip.Prefix
		switch {
		case rng.Float64() < v6Share:
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x2a, 0x01, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}), 24+rng.IntN(25))
		case clustered:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256))}), 16+rng.IntN(9))
		default:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256))}), 16+rng.IntN(9))
		}
		p = p.Masked()
		b.Add(p, int32(i))
		prefixes = append(prefixes, p)
	}
	addrs := make([]netip.Addr, 1<<20)
	for i := range addrs {
		if i%5 == 0 { // a miss, most likely
			addrs[i] = netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), 1})
			continue
		}
		p := prefixes[rng.IntN(len(prefixes))]
		a := p.Addr().AsSlice()
		a[len(a)-1], a[len(a)-3] = byte(rng.IntN(256)), byte(rng.IntN(256))
		addrs[i] = p.Masked().Addr() // keeps the zone-free, masked base
		if ad, ok := netip.AddrFromSlice(a); ok && p.Contains(ad) {
			addrs[i] = ad
		}
	}
	return b.Build(), addrs
}

func BenchmarkLookup(b *testing.B) {
	for _, bc := range []struct {
		name      string
		n         int
		v6        float64
		clustered bool
	}{
		{"v4-1k-clustered", 1000, 0, true},
		{"v4-100k", 100000, 0, false},
		{"v6-10k", 10000, 1, false},
		{"mixed-100k", 100000, 0.2, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tbl, addrs := benchTable(bc.n, bc.v6, bc.clustered)
			b.ReportAllocs()
			b.ResetTimer()
			var sum int32
			for i := range b.N {
				v, _ := tbl.Lookup(addrs[i&(len(addrs)-1)])
				sum += v
			}
			_ = sum
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var prefixes []netip.Prefix
	for range 100000 {
		prefixes = append(prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}), 8+rng.IntN(17)).Masked())
	}
	b.ReportAllocs()
	for range b.N {
		var tb Builder[int32]
		for i, p := range prefixes {
			tb.Add(p, int32(i%1000))
		}
		tb.Build()
	}
}

// TestJump checks that the slot of an address holds its range, for start
// lists spread over the whole key space, clustered, or sharing their upper
// half (IPv6 starts that differ in their lower 64 bits only).
func TestJump(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gens := []struct {
		name string
		gen  func() u128 // IPv4 in lo, with hi 0: their key is lo
	}{
		{"v4 spread", func() u128 { return u128{0, uint64(rng.Uint32())} }},
		{"v4 clustered", func() u128 { return u128{0, 10<<24 | uint64(rng.IntN(1<<18))} }},
		{"v4 top", func() u128 { return u128{0, math.MaxUint32 - uint64(rng.IntN(1000))} }},
		{"v6 spread", func() u128 { return u128{rng.Uint64(), rng.Uint64()} }},
		{"v6 top", func() u128 { return u128{math.MaxUint64 - uint64(rng.IntN(1000)), rng.Uint64()} }},
		{"v6 one upper half", func() u128 { return u128{0x20010db8 << 32, rng.Uint64()} }},
		{"v6 few upper halves", func() u128 { return u128{uint64(rng.IntN(3)), uint64(rng.IntN(3)) << 62} }},
	}
	for _, g := range gens {
		for _, n := range []int{0, 1, 2, 3, 17, 1000, 70000} {
			t.Run(fmt.Sprintf("%s/%d", g.name, n), func(t *testing.T) {
				starts := []u128{{}}
				for range n {
					starts = append(starts, g.gen())
				}
				slices.SortFunc(starts, u128.compare)
				starts = slices.Compact(starts)
				v4 := starts[len(starts)-1].hi == 0
				key := func(a u128) uint64 { return a.hi }
				if v4 {
					key = func(a u128) uint64 { return a.lo }
				}
				j := makeJump(len(starts), func(i int) (uint64, bool) { return key(starts[i]), v4 || starts[i].lo == 0 })
				var probes []u128
				for _, s := range starts[len(starts)-min(len(starts), 200):] {
					next, _ := s.next()
					probes = append(probes, s, u128{s.hi, s.lo - 1}, next)
				}
				for range 2000 {
					probes = append(probes, g.gen())
				}
				probes = append(probes, u128{}, u128{math.MaxUint64, math.MaxUint64})
				if v4 {
					probes = append(probes, u128{0, math.MaxUint32})
				}
				for _, x := range probes {
					if v4 && (x.hi != 0 || x.lo > math.MaxUint32) {
						continue
					}
					// The last start <= x.
					want, found := slices.BinarySearchFunc(starts, x, u128.compare)
					if !found {
						want--
					}
					lo, hi := j.slot(key(x))
					if lo > want || want >= hi {
						t.Fatalf("%d starts: slot of %x = [%d, %d), want it to hold %d", len(starts), x, lo, hi, want)
					}
				}
			})
		}
	}
}
