package flow

import (
	"iter"
	"strconv"
	"strings"
)

// Uint32s is an immutable list of 32-bit values: an AS path or a set of BGP
// communities. The values are packed in a string, four little-endian bytes
// each, so that a Record copies and shares a list without allocating: whoever
// produces lists (the routing enricher, per BGP attribute set) builds each one
// once and hands the same value to every flow. The zero value is the empty list.
type Uint32s struct{ s string }

// MakeUint32s packs v into a list. It allocates; intern the result when many
// records carry the same list.
func MakeUint32s(v []uint32) Uint32s {
	if len(v) == 0 {
		return Uint32s{}
	}
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return Uint32s{string(b)}
}

// Uint32sFromKey is the inverse of Key. It returns false when k is not a
// whole number of values.
func Uint32sFromKey(k string) (Uint32s, bool) {
	if len(k)%4 != 0 {
		return Uint32s{}, false
	}
	return Uint32s{k}, true
}

// Len is the number of values.
func (l Uint32s) Len() int { return len(l.s) / 4 }

// At returns value i; it panics when i is out of range.
func (l Uint32s) At(i int) uint32 {
	s := l.s[4*i : 4*i+4]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// AppendTo appends the values to dst.
func (l Uint32s) AppendTo(dst []uint32) []uint32 {
	for i := range l.Len() {
		dst = append(dst, l.At(i))
	}
	return dst
}

// All yields the values in order.
func (l Uint32s) All() iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		for i := range l.Len() {
			if !yield(l.At(i)) {
				return
			}
		}
	}
}

// Contains says whether v is in the list.
func (l Uint32s) Contains(v uint32) bool {
	for i := range l.Len() {
		if l.At(i) == v {
			return true
		}
	}
	return false
}

// Key returns the packed bytes: two lists are equal when their keys are. Hash
// or intern on it.
func (l Uint32s) Key() string { return l.s }

// String returns the values separated by spaces, as an AS path is written:
// "64500 64501".
func (l Uint32s) String() string {
	var b []byte
	for i := range l.Len() {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendUint(b, uint64(l.At(i)), 10)
	}
	return string(b)
}

// CommunityString returns the values as standard BGP communities (RFC 1997),
// separated by spaces: "65000:100 65000:200".
func (l Uint32s) CommunityString() string {
	var b []byte
	for i := range l.Len() {
		if i > 0 {
			b = append(b, ' ')
		}
		b = AppendCommunity(b, l.At(i))
	}
	return string(b)
}

// AppendCommunity appends standard community c as "ASN:value".
func AppendCommunity(dst []byte, c uint32) []byte {
	dst = strconv.AppendUint(dst, uint64(c>>16), 10)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(c&0xffff), 10)
}

// ParseCommunity parses a standard community written "ASN:value", both parts
// 16-bit numbers.
func ParseCommunity(s string) (uint32, bool) {
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return uint32(a)<<16 | uint32(b), true
}

// LargeCommunity is a BGP large community (RFC 8092).
type LargeCommunity struct {
	ASN, Local1, Local2 uint32
}

// String returns "ASN:Local1:Local2".
func (c LargeCommunity) String() string { return string(c.Append(nil)) }

// Append appends c as "ASN:Local1:Local2".
func (c LargeCommunity) Append(dst []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(c.ASN), 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, uint64(c.Local1), 10)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(c.Local2), 10)
}

// Uint128 returns c packed in 96 bits, as the stores keep it:
// ASN<<64 | Local1<<32 | Local2, split in its high and low 64 bits.
func (c LargeCommunity) Uint128() (hi, lo uint64) {
	return uint64(c.ASN), uint64(c.Local1)<<32 | uint64(c.Local2)
}

// LargeCommunityFromUint128 is the inverse of LargeCommunity.Uint128; the
// high 32 bits of hi are ignored.
func LargeCommunityFromUint128(hi, lo uint64) LargeCommunity {
	return LargeCommunity{ASN: uint32(hi), Local1: uint32(lo >> 32), Local2: uint32(lo)}
}

// ParseLargeCommunity parses "ASN:Local1:Local2", three 32-bit numbers.
func ParseLargeCommunity(s string) (LargeCommunity, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return LargeCommunity{}, false
	}
	var v [3]uint32
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return LargeCommunity{}, false
		}
		v[i] = uint32(n)
	}
	return LargeCommunity{v[0], v[1], v[2]}, true
}

// LargeCommunities is an immutable list of large communities, packed like
// Uint32s (twelve bytes each: ASN, Local1, Local2). The zero value is the
// empty list.
type LargeCommunities struct{ s string }

// MakeLargeCommunities packs v into a list. It allocates; intern the result.
func MakeLargeCommunities(v []LargeCommunity) LargeCommunities {
	if len(v) == 0 {
		return LargeCommunities{}
	}
	b := make([]byte, 0, 12*len(v))
	for _, c := range v {
		for _, x := range [3]uint32{c.ASN, c.Local1, c.Local2} {
			b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
		}
	}
	return LargeCommunities{string(b)}
}

// LargeCommunitiesFromKey is the inverse of Key. It returns false when k is
// not a whole number of communities.
func LargeCommunitiesFromKey(k string) (LargeCommunities, bool) {
	if len(k)%12 != 0 {
		return LargeCommunities{}, false
	}
	return LargeCommunities{k}, true
}

// Len is the number of communities.
func (l LargeCommunities) Len() int { return len(l.s) / 12 }

// At returns community i; it panics when i is out of range.
func (l LargeCommunities) At(i int) LargeCommunity {
	u := Uint32s{l.s[12*i : 12*i+12]}
	return LargeCommunity{u.At(0), u.At(1), u.At(2)}
}

// AppendTo appends the communities to dst.
func (l LargeCommunities) AppendTo(dst []LargeCommunity) []LargeCommunity {
	for i := range l.Len() {
		dst = append(dst, l.At(i))
	}
	return dst
}

// All yields the communities in order.
func (l LargeCommunities) All() iter.Seq[LargeCommunity] {
	return func(yield func(LargeCommunity) bool) {
		for i := range l.Len() {
			if !yield(l.At(i)) {
				return
			}
		}
	}
}

// Contains says whether c is in the list.
func (l LargeCommunities) Contains(c LargeCommunity) bool {
	for i := range l.Len() {
		if l.At(i) == c {
			return true
		}
	}
	return false
}

// Key returns the packed bytes: two lists are equal when their keys are.
func (l LargeCommunities) Key() string { return l.s }

// String returns the communities separated by spaces: "65000:1:2 65000:1:3".
func (l LargeCommunities) String() string {
	var b []byte
	for i := range l.Len() {
		if i > 0 {
			b = append(b, ' ')
		}
		b = l.At(i).Append(b)
	}
	return string(b)
}

// Equal says whether l and m hold the same values.
func (l Uint32s) Equal(m Uint32s) bool { return l.s == m.s }

// Equal says whether l and m hold the same communities.
func (l LargeCommunities) Equal(m LargeCommunities) bool { return l.s == m.s }
