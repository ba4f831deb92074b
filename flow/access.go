package flow

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

//go:generate go run gen.go

// Accessors read and write one column of a Record without reflection. Exactly
// one pair is set, according to the column kind. ColumnAccessors holds them
// by column position; the Append… batch readers copy one column of many
// records at once, which is what columnar encoders want.
type Accessors struct {
	Time      func(*Record) time.Time
	SetTime   func(*Record, time.Time)
	Uint      func(*Record) uint64
	SetUint   func(*Record, uint64)
	String    func(*Record) string
	SetString func(*Record, string)
	Addr      func(*Record) netip.Addr
	SetAddr   func(*Record, netip.Addr)
	// Uint32s for KindASPath and KindCommunities.
	Uint32s    func(*Record) Uint32s
	SetUint32s func(*Record, Uint32s)
	// LargeCommunities for KindLargeCommunities.
	LargeCommunities    func(*Record) LargeCommunities
	SetLargeCommunities func(*Record, LargeCommunities)
}

var columnIndex = func() map[string]int {
	m := make(map[string]int, len(Columns))
	for i, c := range Columns {
		m[c.Name] = i
	}
	return m
}()

// ColumnIndex returns the position of column name in Columns.
func ColumnIndex(name string) (int, bool) {
	i, ok := columnIndex[name]
	return i, ok
}

// Access returns the accessors of column name; it panics for an unknown column,
// which is a programming error. ColumnAccessors[i] avoids the lookup.
func Access(name string) Accessors {
	i, ok := columnIndex[name]
	if !ok {
		panic("flow: no column " + name)
	}
	return ColumnAccessors[i]
}

func badColumn(reader string, col int) string {
	if col >= 0 && col < len(Columns) {
		c := Columns[col]
		return fmt.Sprintf("flow: %s cannot read column %s (kind %d, %d bits)", reader, c.Name, c.Kind, c.Bits)
	}
	return fmt.Sprintf("flow: %s: no column %d", reader, col)
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

// ColumnDiffs compares every column of a and b and returns, for each column
// that differs, the two values as "a vs b". Times compare as instants.
func ColumnDiffs(a, b *Record) map[string]string {
	out := map[string]string{}
	for i, c := range Columns {
		acc := ColumnAccessors[i]
		var x, y any
		var same bool
		switch {
		case acc.Time != nil:
			tx, ty := acc.Time(a), acc.Time(b)
			x, y, same = tx, ty, tx.Equal(ty)
		case acc.Uint != nil:
			x, y = acc.Uint(a), acc.Uint(b)
			same = x == y
		case acc.String != nil:
			x, y = acc.String(a), acc.String(b)
			same = x == y
		case acc.Addr != nil:
			x, y = acc.Addr(a), acc.Addr(b)
			same = x == y
		case acc.Uint32s != nil:
			lx, ly := acc.Uint32s(a), acc.Uint32s(b)
			x, y, same = "["+lx.String()+"]", "["+ly.String()+"]", lx.Equal(ly)
		case acc.LargeCommunities != nil:
			lx, ly := acc.LargeCommunities(a), acc.LargeCommunities(b)
			x, y, same = "["+lx.String()+"]", "["+ly.String()+"]", lx.Equal(ly)
		}
		if !same {
			out[c.Name] = fmt.Sprintf("%v vs %v", x, y)
		}
	}
	return out
}
