package exporterlabel

import (
	"net/netip"
	"sync"
	"testing"
)

func TestSet(t *testing.T) {
	s := New(2)
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.3")
	for _, tc := range []struct {
		addr netip.Addr
		want string
	}{{a, "192.0.2.1"}, {b, "2001:db8::1"}, {c, Other}, {a, "192.0.2.1"}} {
		if got := s.Label(tc.addr); got != tc.want {
			t.Errorf("Label(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if got := s.Release(c); got != "" {
		t.Errorf("Release of an Other exporter = %q", got)
	}
	if got := s.Release(a); got != "192.0.2.1" {
		t.Errorf("Release(a) = %q", got)
	}
	if got := s.Label(c); got != "192.0.2.3" {
		t.Errorf("after a release, Label(c) = %q", got)
	}
	if s.Len() != 2 || New(0).Max() != Default {
		t.Errorf("Len %d, default max %d", s.Len(), New(0).Max())
	}
}

func TestSetConcurrent(t *testing.T) {
	s := New(100)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				s.Label(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
			}
		}()
	}
	wg.Wait()
	if s.Len() != 100 {
		t.Errorf("%d labels given, want 100", s.Len())
	}
}
