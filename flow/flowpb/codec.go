// Package flowpb is the protobuf wire schema of flows: the proto3 message
// generated from the column schema of package flow, and a hand-written,
// allocation-free encoder and decoder of flow.Record for it. Kafka topics carry
// one such message per flow, and the topic name carries the schema version.
//
// Wire mapping of the column kinds:
//
//   - times: fixed64, nanoseconds since the Unix epoch (UTC); the zero time is
//     omitted (0), and decodes back as the zero time.Time;
//   - unsigned integers: uint32 (8, 16 and 32 bits) or uint64 varints;
//   - MAC addresses: uint64, the 48 bits in the low bits;
//   - strings: string;
//   - addresses: bytes, 4 bytes for IPv4 (IPv4-mapped IPv6 addresses are
//     written as IPv4), 16 bytes for IPv6, absent for no address; the decoder
//     accepts 4 or 16 bytes (a 16-byte IPv4-mapped address decodes as IPv4)
//     and rejects other lengths; IPv6 zones are not carried;
//   - boundaries: the enum Boundary;
//   - AS paths and communities: packed repeated uint32 (a community is
//     ASN<<16 | value); large communities: packed repeated uint32, three
//     values (ASN, local1, local2) per community. Empty lists are omitted;
//     the decoder also takes unpacked values, and interns lists like
//     strings.
//
// Zero values are omitted, as proto3 does, and unknown fields are skipped by
// the decoder, so adding a column is compatible; anything else bumps
// flow.SchemaVersion, and with it the topic name.
package flowpb

//go:generate go run gen.go

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowengine/flowengine/flow"
)

// ErrInvalid is wrapped by every error DecodeRecord returns.
var ErrInvalid = errors.New("invalid flow message")

func wireError(num protowire.Number, n int) error {
	if n == errWireType {
		return fmt.Errorf("%w: field %d: unexpected wire type", ErrInvalid, num)
	}
	return fmt.Errorf("%w: field %d: %v", ErrInvalid, num, protowire.ParseError(n))
}

func addrError(num protowire.Number, n int) error {
	return fmt.Errorf("%w: field %d: address of %d bytes", ErrInvalid, num, n)
}

// errWireType is the negative length returned by the consume helpers on a
// wire type that does not match the column.
const errWireType = -100

func appendTime(dst []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return dst
	}
	ns := t.UnixNano()
	if ns <= 0 {
		return dst // not representable: before the epoch
	}
	// Fields 1 to 15 have a one-byte tag: the tag and value in one append.
	if num < 16 {
		v := uint64(ns)
		return append(dst, byte(num)<<3|byte(protowire.Fixed64Type),
			byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
	}
	dst = protowire.AppendTag(dst, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(dst, uint64(ns))
}

func consumeFixed64(typ protowire.Type, b []byte) (uint64, int) {
	if typ != protowire.Fixed64Type {
		return 0, errWireType
	}
	return protowire.ConsumeFixed64(b)
}

func appendAddr(dst []byte, num protowire.Number, a netip.Addr) []byte {
	if !a.IsValid() {
		return dst
	}
	if num < 16 { // a one-byte tag
		dst = append(dst, byte(num)<<3|byte(protowire.BytesType))
	} else {
		dst = protowire.AppendTag(dst, num, protowire.BytesType)
	}
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return append(dst, 4, b[0], b[1], b[2], b[3])
	}
	b := a.As16()
	return append(dst, 16, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
		b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
}

func nanosToTime(v uint64) time.Time {
	if v == 0 || v > 1<<63-1 {
		return time.Time{}
	}
	return time.Unix(0, int64(v)).UTC()
}

func bytesToAddr(b []byte) (netip.Addr, bool) {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)), true
	case 16:
		return netip.AddrFrom16([16]byte(b)).Unmap(), true
	case 0:
		return netip.Addr{}, true
	}
	return netip.Addr{}, false
}

// The intern table makes decoding strings allocation-free in steady state:
// every string column of a flow is low-cardinality (names, countries,
// classifier labels), so a direct-mapped cache of recently seen strings
// answers nearly every lookup. Entries are replaced on collision; the table is
// safe for concurrent decoders.
const (
	internSize   = 1 << 13
	internMaxLen = 256
)

var (
	internSeed  = maphash.MakeSeed()
	internTable [internSize]atomic.Pointer[string]
)

// Decoder decodes flow messages like DecodeRecord, remembering the recent
// strings of every column: consecutive flows draw them from a few values (a
// few exporters, interfaces and countries), and a hit costs a few word
// comparisons instead of a hash lookup. A Decoder is about 80 KB: keep one per goroutine
// for its lifetime. It is not safe for concurrent use.
type Decoder struct {
	memo stringMemo
}

// A Decoder remembers memoWays recent strings per column: the table is
// large, but only the entries of the strings seen are touched.
const (
	memoBits = 6
	memoWays = 1 << memoBits
)

// stringMemo holds, per string column, recent strings in slots chosen from
// their first 16 bytes.
type stringMemo struct {
	cols [stringColumns][memoWays]memoEntry
	// lists holds, per list column, recent lists by their wire bytes.
	lists [listColumns][memoWays]listEntry
}

// listEntry is a list's packed varints, as on the wire, and the interned
// list they decode to.
type listEntry struct {
	wire, list string
}

// memoEntry is a string and its first 16 bytes as two little-endian words,
// zero-padded, so that a short string compares in three word comparisons.
type memoEntry struct {
	s      string
	k0, k1 uint64
}

// Decode resets r and fills it from one flow message, as DecodeRecord does.
func (d *Decoder) Decode(data []byte, r *flow.Record) error {
	return decode(data, r, &d.memo)
}

// DecodeRecord resets r and fills it from one flow message. Unknown fields are
// skipped, so a consumer reads messages written by a newer producer of the
// same schema version. Strings are interned: decoding does not allocate once
// the distinct strings have been seen. A Decoder is faster for a stream.
func DecodeRecord(data []byte, r *flow.Record) error {
	return decode(data, r, nil)
}

// decode resets r and fills it from one flow message, interning strings
// through memo when it is not nil. Messages from AppendRecord take the
// ordered path alone; others finish on, or fall back to, the generic one.
func decode(data []byte, r *flow.Record, memo *stringMemo) error {
	rest, ok := decodeOrdered(data, r, memo)
	if !ok {
		*r = flow.Record{}
		return decodeFields(data, r, memo)
	}
	if len(rest) > 0 {
		return decodeFields(rest, r, memo)
	}
	return nil
}

// internColumn returns the string of column k (a string column number) in
// b, through memo when it is not nil.
func internColumn(memo *stringMemo, k int, b []byte) string {
	n := len(b)
	if memo == nil || n == 0 || n > internMaxLen { // the memo holds short strings only
		return intern(b)
	}
	// The key: the first 16 bytes as two little-endian words, zero-padded.
	var k0, k1 uint64
	if cap(b) >= 16 {
		w := b[:16:16]
		k0, k1 = binary.LittleEndian.Uint64(w[:8]), binary.LittleEndian.Uint64(w[8:])
	} else {
		var w [16]byte
		copy(w[:], b)
		k0, k1 = binary.LittleEndian.Uint64(w[:8]), binary.LittleEndian.Uint64(w[8:])
	}
	switch {
	case n < 8:
		k0, k1 = k0&(1<<(8*n)-1), 0
	case n < 16:
		k1 &= 1<<(8*(n-8)) - 1
	}
	// Two-way: a string lives in slot i or i^1; the newest goes to i and
	// pushes the previous one to i^1, so that two strings that share a slot
	// do not evict each other.
	i := ((k0+uint64(n))*0x9e3779b97f4a7c15 ^ k1*0xc2b2ae3d27d4eb4f) >> (64 - memoBits)
	set := &memo.cols[k]
	e := &set[i]
	if e.k0 == k0 && e.k1 == k1 && len(e.s) == n && (n <= 16 || e.s == string(b)) {
		return e.s
	}
	if o := &set[i^1]; o.k0 == k0 && o.k1 == k1 && len(o.s) == n && (n <= 16 || o.s == string(b)) {
		return o.s
	}
	set[i^1] = *e
	e.s, e.k0, e.k1 = intern(b), k0, k1
	return e.s
}

func intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	// Two-way: a string lives in slot h or h^1, so that two frequent
	// strings hashing to one slot do not evict each other forever.
	h := maphash.Bytes(internSeed, b) & (internSize - 1)
	first, second := &internTable[h], &internTable[h^1]
	p1 := first.Load()
	if p1 != nil && *p1 == string(b) {
		return *p1
	}
	p2 := second.Load()
	if p2 != nil && *p2 == string(b) {
		return *p2
	}
	s := string(b)
	switch {
	case p1 == nil:
		first.Store(&s)
	case p2 == nil:
		second.Store(&s)
	default:
		// Evict from the second slot: the first holds the earlier
		// arrival, likely the more frequent string.
		second.Store(&s)
	}
	return s
}

// appendUint32s appends l as a packed repeated uint32 field; an empty list
// is omitted.
func appendUint32s(dst []byte, num protowire.Number, l flow.Uint32s) []byte {
	return appendPackedKey(dst, num, l.Key())
}

// appendLargeCommunities appends l as a packed repeated uint32 field, three
// values (ASN, Local1, Local2) per community; an empty list is omitted.
func appendLargeCommunities(dst []byte, num protowire.Number, l flow.LargeCommunities) []byte {
	return appendPackedKey(dst, num, l.Key()) // the key holds the three values of each in order
}

// appendPackedKey appends the little-endian 32-bit values of key (a list's
// Key) as a packed repeated uint32 field; nothing when key is empty.
func appendPackedKey(dst []byte, num protowire.Number, key string) []byte {
	if len(key) == 0 {
		return dst
	}
	size := 0
	for i := 0; i+4 <= len(key); i += 4 {
		v := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		size += protowire.SizeVarint(uint64(v))
	}
	if num < 16 {
		dst = append(dst, byte(num)<<3|byte(protowire.BytesType))
	} else {
		dst = protowire.AppendTag(dst, num, protowire.BytesType)
	}
	dst = protowire.AppendVarint(dst, uint64(size))
	for i := 0; i+4 <= len(key); i += 4 {
		v := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		if v < 0x80 {
			dst = append(dst, byte(v))
		} else {
			dst = protowire.AppendVarint(dst, uint64(v))
		}
	}
	return dst
}

// unpackList decodes the payload of packed list column k (its number among
// the list columns), through memo when it is not nil: consecutive flows
// towards the same routes carry the same lists, and a hit costs a hash of
// the wire bytes and one comparison.
func unpackList(memo *stringMemo, k int, b []byte) (string, bool) {
	if memo == nil || len(b) > internMaxLen {
		return unpackUint32s("", b)
	}
	h := uint64(len(b))
	for w := b; len(w) > 0; {
		if len(w) >= 8 {
			h = (h ^ binary.LittleEndian.Uint64(w)) * 0x9e3779b97f4a7c15
			w = w[8:]
		} else {
			h = (h ^ uint64(w[0])) * 0xc2b2ae3d27d4eb4f
			w = w[1:]
		}
	}
	e := &memo.lists[k][h>>(64-memoBits)]
	if e.wire == string(b) && (len(b) > 0 || e.list == "") {
		return e.list, true
	}
	list, ok := unpackUint32s("", b)
	if ok {
		e.wire, e.list = string(b), list
	}
	return list, ok
}

// maxListValues bounds the values of one list field: a longer list is
// refused rather than interned.
const maxListValues = 1024

// unpackUint32s decodes the payload of a packed repeated uint32 field into
// the packed little-endian form of flow lists, appended to prev (a repeated
// field may come in several pieces), interned. It returns false on a
// malformed payload, a value over 32 bits or more than maxListValues values.
func unpackUint32s(prev string, b []byte) (string, bool) {
	var stack [256]byte
	buf := append(stack[:0], prev...)
	for len(b) > 0 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 || v > 0xffffffff || len(buf) >= 4*maxListValues {
			return "", false
		}
		b = b[n:]
		buf = append(buf, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return intern(buf), true
}

// appendUint32Value appends one unpacked value to a packed list.
func appendUint32Value(prev string, v uint64) (string, bool) {
	if v > 0xffffffff || len(prev) >= 4*maxListValues {
		return "", false
	}
	var b [4]byte
	b = [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	return intern(append([]byte(prev), b[:]...)), true
}

// decodeUint32List decodes one field of a repeated uint32 column, packed or
// not, appending to prev.
func decodeUint32List(num protowire.Number, typ protowire.Type, data []byte, prev string) (string, int, error) {
	switch typ {
	case protowire.BytesType:
		v, n := protowire.ConsumeBytes(data)
		if n < 0 {
			return "", n, wireError(num, n)
		}
		s, ok := unpackUint32s(prev, v)
		if !ok {
			return "", n, listError(num)
		}
		return s, n, nil
	case protowire.VarintType:
		v, n := protowire.ConsumeVarint(data)
		if n < 0 {
			return "", n, wireError(num, n)
		}
		s, ok := appendUint32Value(prev, v)
		if !ok {
			return "", n, listError(num)
		}
		return s, n, nil
	}
	return "", errWireType, wireError(num, errWireType)
}

func listError(num protowire.Number) error {
	return fmt.Errorf("%w: field %d: list value over 32 bits or more than %d values", ErrInvalid, num, maxListValues)
}

func setUint32s(dst *flow.Uint32s, s string) {
	*dst, _ = flow.Uint32sFromKey(s)
}

// setLargeCommunities sets dst from packed values, which must be whole
// communities (three values each).
func setLargeCommunities(num protowire.Number, dst *flow.LargeCommunities, s string) error {
	l, ok := flow.LargeCommunitiesFromKey(s)
	if !ok {
		return fmt.Errorf("%w: field %d: large communities need three values each", ErrInvalid, num)
	}
	*dst = l
	return nil
}
