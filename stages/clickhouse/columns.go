package clickhouse

import (
	"math"
	"net/netip"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// colBuf accumulates one column of the rows waiting for an INSERT, in the Go
// type clickhouse-go appends column-wise without conversion. Exactly one slice
// is used, according to the column kind and server type.
type colBuf struct {
	col   flow.Column
	acc   flow.Accessors
	fixed bool // addresses as FixedString(16) (servers without IPv6)

	u8    []uint8
	u16   []uint16
	u32   []uint32
	u64   []uint64
	i8    []int8
	str   []string
	tm    []time.Time
	addr  []netip.Addr
	arena []byte   // FixedString(16) addresses, 16 bytes each
	bytes [][]byte // views into arena, built at insert time
}

// rowBuffer holds the rows of several flow batches, column by column, and
// the batches themselves until the INSERT of their rows succeeded.
type rowBuffer struct {
	cols    []*colBuf
	rows    int
	batches []*flow.Batch
}

func newRowBuffer(cols []flow.Column, f features) *rowBuffer {
	rb := &rowBuffer{}
	for _, c := range cols {
		rb.cols = append(rb.cols, &colBuf{col: c, acc: flow.Access(c.Name), fixed: c.Kind == flow.KindAddr && !f.IPv6})
	}
	return rb
}

var maxDateTime = time.Unix(math.MaxUint32, 0)

// clampTime keeps t within the DateTime range: unset times become 1970.
func clampTime(t time.Time) time.Time {
	sec := t.Unix()
	switch {
	case sec <= 0:
		return time.Unix(0, 0)
	case sec > math.MaxUint32:
		return maxDateTime
	}
	return t
}

// append copies the records into the column buffers.
func (rb *rowBuffer) append(recs []flow.Record) {
	for _, cb := range rb.cols {
		cb.append(recs)
	}
	rb.rows += len(recs)
}

func (cb *colBuf) append(recs []flow.Record) {
	c := cb.col
	switch c.Kind {
	case flow.KindTime:
		get := cb.acc.Time
		for i := range recs {
			cb.tm = append(cb.tm, clampTime(get(&recs[i])))
		}
	case flow.KindString:
		get := cb.acc.String
		for i := range recs {
			cb.str = append(cb.str, get(&recs[i]))
		}
	case flow.KindAddr:
		get := cb.acc.Addr
		if cb.fixed {
			for i := range recs {
				a := get(&recs[i]).As16()
				cb.arena = append(cb.arena, a[:]...)
			}
			return
		}
		for i := range recs {
			a := get(&recs[i])
			if !a.IsValid() {
				a = netip.IPv6Unspecified()
			}
			cb.addr = append(cb.addr, a)
		}
	case flow.KindBoundary:
		get := cb.acc.Uint
		for i := range recs {
			cb.i8 = append(cb.i8, int8(get(&recs[i])))
		}
	default: // KindUint, KindMAC
		get := cb.acc.Uint
		switch c.Bits {
		case 8:
			for i := range recs {
				cb.u8 = append(cb.u8, uint8(get(&recs[i])))
			}
		case 16:
			for i := range recs {
				cb.u16 = append(cb.u16, uint16(get(&recs[i])))
			}
		case 32:
			for i := range recs {
				cb.u32 = append(cb.u32, uint32(get(&recs[i])))
			}
		default:
			for i := range recs {
				cb.u64 = append(cb.u64, get(&recs[i]))
			}
		}
	}
}

// slice returns rows [lo, hi) of the column, as a slice clickhouse-go appends.
func (cb *colBuf) slice(lo, hi int) any {
	c := cb.col
	switch c.Kind {
	case flow.KindTime:
		return cb.tm[lo:hi]
	case flow.KindString:
		return cb.str[lo:hi]
	case flow.KindAddr:
		if !cb.fixed {
			return cb.addr[lo:hi]
		}
		n := len(cb.arena) / 16
		if len(cb.bytes) != n {
			cb.bytes = cb.bytes[:0]
			for i := 0; i < n; i++ {
				cb.bytes = append(cb.bytes, cb.arena[16*i:16*i+16:16*i+16])
			}
		}
		return cb.bytes[lo:hi]
	case flow.KindBoundary:
		return cb.i8[lo:hi]
	}
	switch c.Bits {
	case 8:
		return cb.u8[lo:hi]
	case 16:
		return cb.u16[lo:hi]
	case 32:
		return cb.u32[lo:hi]
	}
	return cb.u64[lo:hi]
}

// reset empties the buffer, keeping its memory. Large buffers are let go so
// one burst does not pin memory forever.
func (rb *rowBuffer) reset() {
	for _, cb := range rb.cols {
		cb.tm, cb.str, cb.addr, cb.arena = cb.tm[:0], clearStrings(cb.str), cb.addr[:0], cb.arena[:0]
		cb.u8, cb.u16, cb.u32, cb.u64, cb.i8 = cb.u8[:0], cb.u16[:0], cb.u32[:0], cb.u64[:0], cb.i8[:0]
		cb.bytes = cb.bytes[:0]
	}
	rb.rows = 0
	clear(rb.batches)
	rb.batches = rb.batches[:0]
}

// clearStrings empties s, dropping references so released batches' strings
// can be collected.
func clearStrings(s []string) []string {
	clear(s)
	return s[:0]
}
