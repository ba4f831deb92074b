package clickhouse

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/flowengine/flowengine/flow"
)

// colBuf accumulates one column of the rows waiting for an INSERT, in the
// layout of the native protocol where it can: numbers and times as they go
// on the wire, addresses as 16 bytes. Strings are kept as Go strings (the
// batches holding them are not released before the INSERT) and encoded at
// insert time, as String, FixedString or LowCardinality(String) according
// to the server's column. Lists (AS paths, communities) are kept as the
// records hold them, packed and shared, and flattened at insert time into
// an Array column: the offsets, then the values. Exactly one slice is used,
// by column kind.
type colBuf struct {
	col      flow.Column
	pos      int // position of col in flow.Columns, for the batch readers
	fixedLen int // FixedString(n) string columns: n

	u8    []uint8 // UInt8 columns, and Enum8 boundaries
	u16   []uint16
	u32   []uint32 // UInt32 columns, and DateTime as seconds
	u64   []uint64
	str   []string
	addr  [][16]byte
	times []time.Time             // scratch for the times of one batch
	u32l  []flow.Uint32s          // KindASPath, KindCommunities
	lcl   []flow.LargeCommunities // KindLargeCommunities

	// LowCardinality encoding scratch, reused.
	dict map[string]uint32
	keys []string
	idx  []uint32
}

// rowBuffer holds the rows of several flow batches, column by column (the
// inserter.Group holding it keeps the batches until the INSERT of their
// rows succeeded).
type rowBuffer struct {
	cols []*colBuf
	rows int

	// Set as the buffer is handed to its insert, when it closes a rollup
	// group: the group's rollup state and batches, whose rollups it inserts
	// after its flows.
	closeSt      *rollupState
	closeBatches []*flow.Batch
}

func newRowBuffer(cols []flow.Column, _ features) *rowBuffer {
	rb := &rowBuffer{}
	for _, c := range cols {
		pos, ok := flow.ColumnIndex(c.Name)
		if !ok {
			panic("clickhouse: no flow column " + c.Name) // columns come from flow.Columns
		}
		cb := &colBuf{col: c, pos: pos}
		if c.Kind == flow.KindString {
			cb.fixedLen = fixedWidth(clickhouseType(c))
		}
		rb.cols = append(rb.cols, cb)
	}
	return rb
}

// dateTime is t in seconds, clamped to the DateTime range: unset times
// become 1970.
func dateTime(t time.Time) uint32 {
	sec := t.Unix()
	switch {
	case sec <= 0:
		return 0
	case sec > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(sec)
}

// clampTime keeps t within the DateTime range, as dateTime does.
func clampTime(t time.Time) time.Time { return time.Unix(int64(dateTime(t)), 0) }

// append copies the records into the column buffers.
func (rb *rowBuffer) append(recs []flow.Record) {
	for _, cb := range rb.cols {
		cb.append(recs)
	}
	rb.rows += len(recs)
}

// grow makes room for n more elements in s, at least doubling its capacity
// when it must grow (append grows large slices by a quarter, which copies
// and allocates a buffer several times over while it fills the first time).
func grow[T any](s []T, n int) []T {
	if len(s)+n <= cap(s) {
		return s
	}
	return slices.Grow(s, max(n, cap(s)))
}

// append copies column cb.pos of recs into the buffer, with the batch
// readers of package flow.
func (cb *colBuf) append(recs []flow.Record) {
	switch cb.col.Kind {
	case flow.KindTime:
		cb.times = flow.AppendTimes(cb.times[:0], recs, cb.pos)
		cb.u32 = grow(cb.u32, len(recs))
		for _, t := range cb.times {
			cb.u32 = append(cb.u32, dateTime(t))
		}
	case flow.KindString:
		cb.str = flow.AppendStrings(cb.str, recs, cb.pos)
	case flow.KindAddr:
		cb.addr = flow.AppendAddrs16(cb.addr, recs, cb.pos) // absent: ::
	case flow.KindASPath, flow.KindCommunities:
		cb.u32l = flow.AppendUint32Lists(cb.u32l, recs, cb.pos)
	case flow.KindLargeCommunities:
		cb.lcl = flow.AppendLargeCommunityLists(cb.lcl, recs, cb.pos)
	default: // KindUint, KindMAC, KindBoundary
		switch cb.col.Bits {
		case 8:
			cb.u8 = flow.AppendUint8s(cb.u8, recs, cb.pos)
		case 16:
			cb.u16 = flow.AppendUint16s(cb.u16, recs, cb.pos)
		case 32:
			cb.u32 = flow.AppendUint32s(cb.u32, recs, cb.pos)
		default:
			cb.u64 = flow.AppendUint64s(cb.u64, recs, cb.pos)
		}
	}
}

// check reports the rows of [lo, hi) that ClickHouse would reject for
// certain, as a dataError, before anything is sent.
func (rb *rowBuffer) check(lo, hi int) error {
	for _, cb := range rb.cols {
		if cb.fixedLen == 0 {
			continue
		}
		for _, s := range cb.str[lo:hi] {
			if len(s) > cb.fixedLen {
				return dataError{fmt.Errorf("column %s: %q is longer than FixedString(%d)", cb.col.Name, s, cb.fixedLen)}
			}
		}
	}
	return nil
}

// encode appends the data of rows [lo, hi) to b, in the native format of
// the server's column type typ.
func (cb *colBuf) encode(b *proto.Buffer, typ string, lo, hi int) error {
	c := cb.col
	bad := func() error {
		return fmt.Errorf("column %s is %s on the server: the sink cannot write it", c.Name, typ)
	}
	switch c.Kind {
	case flow.KindTime:
		if fixedWidth(typ) != 4 || typ[:4] != "Date" {
			return bad()
		}
		proto.ColUInt32(cb.u32[lo:hi]).EncodeColumn(b)
	case flow.KindAddr:
		if typ != "IPv6" && typ != "FixedString(16)" {
			return bad()
		}
		if hi > lo {
			b.Buf = append(b.Buf, unsafe.Slice(&cb.addr[lo][0], 16*(hi-lo))...)
		}
	case flow.KindBoundary:
		if fixedWidth(typ) != 1 {
			return bad()
		}
		b.Buf = append(b.Buf, cb.u8[lo:hi]...)
	case flow.KindString:
		return cb.encodeStrings(b, typ, lo, hi)
	case flow.KindASPath, flow.KindCommunities:
		if typ != "Array(UInt32)" {
			return bad()
		}
		cb.encodeUint32Lists(b, lo, hi)
	case flow.KindLargeCommunities:
		switch typ {
		case "Array(UInt128)":
			cb.encodeLargeCommunities(b, lo, hi, 16)
		case largeCommunitiesFallback:
			cb.encodeLargeCommunities(b, lo, hi, 12)
		default:
			return bad()
		}
	default:
		if typ != fmt.Sprintf("UInt%d", c.Bits) {
			return bad()
		}
		switch c.Bits {
		case 8:
			proto.ColUInt8(cb.u8[lo:hi]).EncodeColumn(b)
		case 16:
			proto.ColUInt16(cb.u16[lo:hi]).EncodeColumn(b)
		case 32:
			proto.ColUInt32(cb.u32[lo:hi]).EncodeColumn(b)
		default:
			proto.ColUInt64(cb.u64[lo:hi]).EncodeColumn(b)
		}
	}
	return nil
}

// An Array column of a block is the end offset of each row's array (UInt64,
// counted from the block's first row), then the values of every row, one
// after the other.

// extend makes room for n more bytes at the end of b and returns them.
func extend(b *proto.Buffer, n int) []byte {
	start := len(b.Buf)
	b.Buf = grow(b.Buf, n)[:start+n]
	return b.Buf[start:]
}

// encodeUint32Lists appends rows [lo, hi) as Array(UInt32). The packed
// lists are the values in the wire format already (four little-endian
// bytes each).
func (cb *colBuf) encodeUint32Lists(b *proto.Buffer, lo, hi int) {
	lists := cb.u32l[lo:hi]
	offsets := extend(b, 8*len(lists))
	var n uint // bytes of values
	for i, l := range lists {
		n += uint(len(l.Key()))
		binary.LittleEndian.PutUint64(offsets[8*i:8*i+8], uint64(n/4))
	}
	if n == 0 {
		return
	}
	values := extend(b, int(n))
	for _, l := range lists {
		values = values[copy(values, l.Key()):]
	}
}

// encodeLargeCommunities appends rows [lo, hi) as Array(UInt128) (width 16:
// ASN<<64 | Local1<<32 | Local2, little endian) or Array(FixedString(12))
// (width 12: ASN, Local1 and Local2 big endian). The packed lists hold each
// community as ASN, Local1, Local2, four little-endian bytes each.
func (cb *colBuf) encodeLargeCommunities(b *proto.Buffer, lo, hi, width int) {
	lists := cb.lcl[lo:hi]
	offsets := extend(b, 8*len(lists))
	var n int // communities
	for i, l := range lists {
		n += l.Len()
		binary.LittleEndian.PutUint64(offsets[8*i:8*i+8], uint64(n))
	}
	if n == 0 {
		return
	}
	values := extend(b, width*n)
	for _, l := range lists {
		for k := l.Key(); len(k) >= 12; k = k[12:] {
			asn := le32(k[0:4])
			if width == 16 {
				// Low 64 bits: Local2, then Local1; high: ASN, then zeros.
				copy(values[0:4], k[8:12])
				copy(values[4:8], k[4:8])
				binary.LittleEndian.PutUint64(values[8:16], uint64(asn))
				values = values[16:]
				continue
			}
			_ = values[11]
			binary.BigEndian.PutUint32(values[0:4], asn)
			binary.BigEndian.PutUint32(values[4:8], le32(k[4:8]))
			binary.BigEndian.PutUint32(values[8:12], le32(k[8:12]))
			values = values[12:]
		}
	}
}

// le32 reads four little-endian bytes.
func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// LowCardinality serialization (ClickHouse's SerializationLowCardinality):
// a state prefix holding the key version, then for the block a flags word
// (index width, "additional keys" and "update dictionary"), the dictionary
// as a String column, and one index per row.
const (
	lcSharedDictionariesWithAdditionalKeys = 1
	lcHasAdditionalKeys                    = 1 << 9
	lcNeedUpdateDictionary                 = 1 << 10
)

func (cb *colBuf) encodeStrings(b *proto.Buffer, typ string, lo, hi int) error {
	strs := cb.str[lo:hi]
	switch {
	case typ == "String":
		putStrings(b, strs)
	case typ == "LowCardinality(String)":
		if cb.dict == nil {
			cb.dict = make(map[string]uint32)
		}
		cb.keys, cb.idx = cb.keys[:0], cb.idx[:0]
		var prev string
		var prevKey uint32
		for i, s := range strs {
			if i > 0 && s == prev { // runs of one value are common
				cb.idx = append(cb.idx, prevKey)
				continue
			}
			k, ok := cb.dict[s]
			if !ok {
				k = uint32(len(cb.keys))
				cb.dict[s] = k
				cb.keys = append(cb.keys, s)
			}
			cb.idx = append(cb.idx, k)
			prev, prevKey = s, k
		}
		b.PutInt64(lcSharedDictionariesWithAdditionalKeys)
		if len(strs) == 0 {
			break
		}
		width := int64(0) // UInt8 indexes
		switch n := len(cb.keys); {
		case n > math.MaxUint16:
			width = 2
		case n > math.MaxUint8:
			width = 1
		}
		b.PutInt64(lcHasAdditionalKeys | lcNeedUpdateDictionary | width)
		b.PutInt64(int64(len(cb.keys)))
		putStrings(b, cb.keys)
		b.PutInt64(int64(len(cb.idx)))
		switch width {
		case 0:
			for _, k := range cb.idx {
				b.Buf = append(b.Buf, uint8(k))
			}
		case 1:
			for _, k := range cb.idx {
				b.PutUInt16(uint16(k))
			}
		default:
			proto.ColUInt32(cb.idx).EncodeColumn(b)
		}
		clear(cb.dict)
		clear(cb.keys)
	case fixedWidth(typ) > 0 && typ[:5] == "Fixed":
		n := fixedWidth(typ)
		for _, s := range strs {
			if len(s) > n {
				return dataError{fmt.Errorf("column %s: %q is longer than %s", cb.col.Name, s, typ)}
			}
			b.Buf = append(b.Buf, s...)
			for range n - len(s) {
				b.Buf = append(b.Buf, 0)
			}
		}
	default:
		return fmt.Errorf("column %s is %s on the server: the sink cannot write it", cb.col.Name, typ)
	}
	return nil
}

// putStrings appends strs as a String column: each string's length as
// a varint, then its bytes.
func putStrings(b *proto.Buffer, strs []string) {
	for _, s := range strs {
		if len(s) < 0x80 {
			b.Buf = append(b.Buf, byte(len(s)))
		} else {
			b.PutUVarInt(uint64(len(s)))
		}
		b.Buf = append(b.Buf, s...)
	}
}

// value returns row i of the column, for logs.
func (cb *colBuf) value(i int) any {
	switch cb.col.Kind {
	case flow.KindTime:
		return time.Unix(int64(cb.u32[i]), 0).UTC().Format(time.RFC3339)
	case flow.KindString:
		return cb.str[i]
	case flow.KindAddr:
		return netip.AddrFrom16(cb.addr[i]).Unmap()
	case flow.KindBoundary:
		return flow.Boundary(cb.u8[i]).String()
	case flow.KindASPath:
		return cb.u32l[i].String()
	case flow.KindCommunities:
		return cb.u32l[i].CommunityString()
	case flow.KindLargeCommunities:
		return cb.lcl[i].String()
	}
	switch cb.col.Bits {
	case 8:
		return cb.u8[i]
	case 16:
		return cb.u16[i]
	case 32:
		return cb.u32[i]
	}
	return cb.u64[i]
}

// reset empties the buffer, keeping its memory.
func (rb *rowBuffer) reset() {
	for _, cb := range rb.cols {
		clear(cb.str) // let released batches' strings be collected
		clear(cb.u32l)
		clear(cb.lcl)
		cb.str, cb.addr = cb.str[:0], cb.addr[:0]
		cb.u32l, cb.lcl = cb.u32l[:0], cb.lcl[:0]
		cb.u8, cb.u16, cb.u32, cb.u64 = cb.u8[:0], cb.u16[:0], cb.u32[:0], cb.u64[:0]
	}
	rb.rows = 0
	rb.closeSt, rb.closeBatches = nil, nil
}
