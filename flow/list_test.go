package flow

import (
	"slices"
	"testing"
)

func TestUint32s(t *testing.T) {
	var empty Uint32s
	if empty.Len() != 0 || empty.String() != "" || empty.Contains(0) || MakeUint32s(nil) != empty {
		t.Fatalf("empty list misbehaves: %+v", empty)
	}
	v := []uint32{64500, 0, 4294967295, 174}
	l := MakeUint32s(v)
	if l.Len() != 4 || !slices.Equal(l.AppendTo(nil), v) || !slices.Equal(slices.Collect(l.All()), v) {
		t.Fatalf("list %v holds %v", v, l.AppendTo(nil))
	}
	if got := l.String(); got != "64500 0 4294967295 174" {
		t.Errorf("String = %q", got)
	}
	if !l.Contains(174) || l.Contains(175) {
		t.Error("Contains")
	}
	back, ok := Uint32sFromKey(l.Key())
	if !ok || !back.Equal(l) || !MakeUint32s(v).Equal(l) {
		t.Error("Key round trip")
	}
	if _, ok := Uint32sFromKey("abc"); ok {
		t.Error("a key of 3 bytes was accepted")
	}
	c := MakeUint32s([]uint32{65000<<16 | 100, 0xffffffff, 0})
	if got := c.CommunityString(); got != "65000:100 65535:65535 0:0" {
		t.Errorf("CommunityString = %q", got)
	}
}

func TestParseCommunities(t *testing.T) {
	for in, want := range map[string]uint32{"65000:100": 65000<<16 | 100, "0:0": 0, "65535:65535": 0xffffffff} {
		if got, ok := ParseCommunity(in); !ok || got != want {
			t.Errorf("ParseCommunity(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "65536:1", "1:65536", "1", "a:b", "1:2:3", "-1:2", " 1:2"} {
		if _, ok := ParseCommunity(in); ok {
			t.Errorf("ParseCommunity(%q) accepted", in)
		}
	}
	lc, ok := ParseLargeCommunity("4200000000:1:4294967295")
	if !ok || lc != (LargeCommunity{4200000000, 1, 4294967295}) || lc.String() != "4200000000:1:4294967295" {
		t.Errorf("ParseLargeCommunity = %v, %v", lc, ok)
	}
	for _, in := range []string{"", "1:2", "1:2:3:4", "4294967296:1:1", "a:1:1"} {
		if _, ok := ParseLargeCommunity(in); ok {
			t.Errorf("ParseLargeCommunity(%q) accepted", in)
		}
	}
	hi, lo := lc.Uint128()
	if hi != 4200000000 || lo != 1<<32|4294967295 || LargeCommunityFromUint128(hi, lo) != lc {
		t.Errorf("Uint128 = %x %x", hi, lo)
	}
}

func TestLargeCommunities(t *testing.T) {
	v := []LargeCommunity{{65000, 1, 2}, {4294967295, 0, 4294967295}}
	l := MakeLargeCommunities(v)
	if l.Len() != 2 || !slices.Equal(l.AppendTo(nil), v) || !slices.Equal(slices.Collect(l.All()), v) {
		t.Fatalf("list holds %v", l.AppendTo(nil))
	}
	if l.String() != "65000:1:2 4294967295:0:4294967295" || !l.Contains(v[1]) || l.Contains(LargeCommunity{}) {
		t.Errorf("String/Contains: %q", l.String())
	}
	if back, ok := LargeCommunitiesFromKey(l.Key()); !ok || !back.Equal(l) {
		t.Error("Key round trip")
	}
	if _, ok := LargeCommunitiesFromKey("12345678"); ok {
		t.Error("a key of 8 bytes was accepted")
	}
}

// Copying a list into records allocates nothing: they share it.
func TestListCopyAllocs(t *testing.T) {
	path := MakeUint32s([]uint32{1, 2, 3})
	recs := make([]Record, 64)
	if n := testing.AllocsPerRun(100, func() {
		for i := range recs {
			recs[i].DstASPath = path
			recs[i].DstCommunities = path
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
