package duckdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"time"
	"unsafe"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/flowengine/flowengine/flow"
)

// The sink appends through DuckDB's C appender, filling the vectors of a
// data chunk in place: numbers are stored straight into the vectors' memory,
// strings of up to 12 bytes are inlined there too, and only longer strings
// cross into C (once per distinct value and chunk). duckdb-go's AppendRow
// takes a slice of interfaces per row and one C call per string, several
// times slower; so the sink reaches the connection duckdb-go wraps (the
// first field of its Conn, checked below with reflect).

// connField checks that duckdb.Conn starts with its mapping.Connection.
var connField = func() error {
	t := reflect.TypeFor[duckdb.Conn]()
	if t.NumField() == 0 || t.Field(0).Type != reflect.TypeFor[mapping.Connection]() || t.Field(0).Offset != 0 {
		return errors.New("duckdb: this version of duckdb-go does not start its Conn with the C connection; the sink cannot append")
	}
	return nil
}()

// cConn returns the C connection of a duckdb-go driver connection.
func cConn(dc any) (mapping.Connection, error) {
	if connField != nil {
		return mapping.Connection{}, connField
	}
	c, ok := dc.(*duckdb.Conn)
	if !ok || c == nil {
		return mapping.Connection{}, fmt.Errorf("duckdb: unexpected driver connection %T", dc)
	}
	mc := *(*mapping.Connection)(unsafe.Pointer(c))
	if mc.Ptr == nil {
		return mapping.Connection{}, errors.New("duckdb: connection closed")
	}
	return mc, nil
}

// writer kinds: how a value is stored in a vector.
type wkind uint8

const (
	wTime wkind = iota + 1
	wU8
	wU16
	wU32
	wU64
	wAddr
	wString
	wU32List   // AS paths and communities: UINTEGER[]
	wLargeList // large communities: UHUGEINT[]
	wFlows     // the Flows column of rollups
)

type colWriter struct {
	kind   wkind
	col    int // position in flow.Columns
	time   func(*flow.Record) time.Time
	uint   func(*flow.Record) uint64
	str    func(*flow.Record) string
	addr   func(*flow.Record) netip.Addr
	u32s   func(*flow.Record) flow.Uint32s
	large  func(*flow.Record) flow.LargeCommunities
	data   unsafe.Pointer // of a list: its list_entry (offset, length) pairs
	vec    mapping.Vector
	valid  unsafe.Pointer // validity mask, when empty strings are NULL
	child  unsafe.Pointer // a list's elements (moved by reserve)
	elems  int            // elements written in the child vector
	cap    int            // elements the child vector holds
	last   string         // the last long string written in this chunk
	lastST [16]byte       // and its string_t
	hasST  bool
}

// appender appends rows to one table.
type appender struct {
	table string
	app   mapping.Appender
	types []mapping.LogicalType
	chunk mapping.DataChunk
	cols  []colWriter
	n     int // rows in the chunk
	size  int // rows a chunk holds
	rows  int // rows appended since the last flush

	// Scratch columns for the kinds DuckDB stores otherwise than Go.
	times []time.Time
	addrs [][16]byte
	strs  []string
	u32s  []flow.Uint32s
	large []flow.LargeCommunities
}

// newAppender prepares appending to table's columns cols (by name: the live
// table may order them otherwise or have more).
func newAppender(conn mapping.Connection, table string, cols []column) (*appender, error) {
	a := &appender{table: table, size: int(mapping.VectorSize())}
	if mapping.AppenderCreateExt(conn, "", "", table, &a.app) == mapping.StateError {
		err := fmt.Errorf("duckdb: appender on %s: %s", table, mapping.AppenderError(a.app))
		mapping.AppenderDestroy(&a.app)
		return nil, err
	}
	for _, c := range cols {
		if mapping.AppenderAddColumn(a.app, c.Name) == mapping.StateError {
			err := fmt.Errorf("duckdb: appender on %s, column %s: %s", table, c.Name, mapping.AppenderError(a.app))
			mapping.AppenderDestroy(&a.app)
			return nil, err
		}
		w := colWriter{}
		switch c.Type {
		case tTimestamp:
			w.kind = wTime
		case tU8:
			w.kind = wU8
		case tU16:
			w.kind = wU16
		case tU32:
			w.kind = wU32
		case tU64:
			w.kind = wU64
		case tU128:
			w.kind = wAddr
		case tVarchar:
			w.kind = wString
		case tU32List:
			w.kind = wU32List
		case tU128List:
			w.kind = wLargeList
		}
		if c.flow.Name == "" {
			w.kind = wFlows
		} else {
			w.col, _ = flow.ColumnIndex(c.flow.Name)
			acc := flow.ColumnAccessors[w.col]
			w.time, w.uint, w.str, w.addr = acc.Time, acc.Uint, acc.String, acc.Addr
			w.u32s, w.large = acc.Uint32s, acc.LargeCommunities
		}
		a.cols = append(a.cols, w)
		if c.Type.id == mapping.TypeList {
			elem := mapping.CreateLogicalType(c.Type.elem)
			a.types = append(a.types, mapping.CreateListType(elem))
			mapping.DestroyLogicalType(&elem)
		} else {
			a.types = append(a.types, mapping.CreateLogicalType(c.Type.id))
		}
	}
	a.chunk = mapping.CreateDataChunk(a.types)
	a.vectors()
	return a, nil
}

// vectors reads the data pointers of the chunk's vectors (after a reset).
func (a *appender) vectors() {
	for i := range a.cols {
		w := &a.cols[i]
		w.vec = mapping.DataChunkGetVector(a.chunk, mapping.IdxT(i))
		w.data = mapping.VectorGetData(w.vec)
		w.hasST = false
		w.last = ""
		w.valid = nil
		if w.kind == wString && emptyAsNull && a.table == flowsTable {
			mapping.VectorEnsureValidityWritable(w.vec)
			w.valid = mapping.VectorGetValidity(w.vec)
		}
		if w.kind == wU32List || w.kind == wLargeList {
			mapping.ListVectorSetSize(w.vec, 0)
			w.elems, w.cap, w.child = 0, 0, nil
		}
	}
}

// reserve makes room for n more elements in list column w, and returns where
// they go.
func (a *appender) reserve(w *colWriter, n int, size uintptr) (unsafe.Pointer, error) {
	if w.elems+n > w.cap {
		want := max(w.elems+n, 2*w.cap, a.size)
		if mapping.ListVectorReserve(w.vec, mapping.IdxT(want)) == mapping.StateError {
			return nil, fmt.Errorf("duckdb: %s: cannot reserve %d list elements", a.table, want)
		}
		w.cap = want
		w.child = mapping.VectorGetData(mapping.ListVectorGetChild(w.vec))
	}
	return unsafe.Add(w.child, uintptr(w.elems)*size), nil
}

// grown records n elements written after reserve.
func (a *appender) grown(w *colWriter, n int) {
	if n == 0 {
		return
	}
	w.elems += n
	mapping.ListVectorSetSize(w.vec, mapping.IdxT(w.elems))
}

// reserveLists makes room in list column w for the values of lists, rows i
// on, each value size bytes. It returns the rows' list entries (offset,
// length) and the memory of the values; nil memory when the lists are all
// empty, whose entries it has then set.
func reserveLists[L interface{ Len() int }](a *appender, w *colWriter, i int, lists []L, size uintptr) ([][2]uint64, unsafe.Pointer, int, error) {
	total := 0
	for _, l := range lists {
		total += l.Len()
	}
	entries := unsafe.Slice((*[2]uint64)(w.data), a.size)[i:]
	if total == 0 {
		off := uint64(w.elems)
		for j := range lists {
			entries[j] = [2]uint64{off, 0}
		}
		return entries, nil, 0, nil
	}
	p, err := a.reserve(w, total, size)
	return entries, p, total, err
}

// putUint32s writes lists of 32-bit values from row i of list column w on.
func (a *appender) putUint32s(w *colWriter, i int, lists []flow.Uint32s) error {
	entries, p, total, err := reserveLists(a, w, i, lists, 4)
	if err != nil || p == nil {
		return err
	}
	dst := unsafe.Slice((*uint32)(p), total)
	k := 0
	for j, l := range lists {
		entries[j] = [2]uint64{uint64(w.elems + k), uint64(l.Len())}
		key := l.Key()
		for b := 0; b+4 <= len(key); b += 4 {
			dst[k] = uint32(key[b]) | uint32(key[b+1])<<8 | uint32(key[b+2])<<16 | uint32(key[b+3])<<24
			k++
		}
	}
	a.grown(w, total)
	return nil
}

// putLarge writes lists of large communities from row i of list column w on.
func (a *appender) putLarge(w *colWriter, i int, lists []flow.LargeCommunities) error {
	entries, p, total, err := reserveLists(a, w, i, lists, 16)
	if err != nil || p == nil {
		return err
	}
	dst := unsafe.Slice((*[2]uint64)(p), total)
	k := 0
	for j, l := range lists {
		n := l.Len()
		entries[j] = [2]uint64{uint64(w.elems + k), uint64(n)}
		for c := range n {
			hi, lo := l.At(c).Uint128()
			dst[k] = [2]uint64{lo, hi} // lower, upper
			k++
		}
	}
	a.grown(w, total)
	return nil
}

// close frees the appender without flushing.
func (a *appender) close() {
	if a == nil {
		return
	}
	mapping.DestroyDataChunk(&a.chunk)
	for i := range a.types {
		mapping.DestroyLogicalType(&a.types[i])
	}
	mapping.AppenderDestroy(&a.app)
}

// addRecords appends flows, column by column through flow's columnar
// readers: numbers straight into the vectors, the other kinds through a
// scratch column.
func (a *appender) addRecords(recs []flow.Record) error {
	for len(recs) > 0 {
		if a.n == a.size {
			if err := a.appendChunk(); err != nil {
				return err
			}
		}
		part := recs[:min(len(recs), a.size-a.n)]
		n := a.n
		for c := range a.cols {
			w := &a.cols[c]
			switch w.kind {
			case wU8:
				flow.AppendUint8s(unsafe.Slice((*uint8)(w.data), a.size)[:n], part, w.col)
			case wU16:
				flow.AppendUint16s(unsafe.Slice((*uint16)(w.data), a.size)[:n], part, w.col)
			case wU32:
				flow.AppendUint32s(unsafe.Slice((*uint32)(w.data), a.size)[:n], part, w.col)
			case wU64:
				flow.AppendUint64s(unsafe.Slice((*uint64)(w.data), a.size)[:n], part, w.col)
			case wTime:
				a.times = flow.AppendTimes(a.times[:0], part, w.col)
				dst := unsafe.Slice((*int64)(w.data), a.size)[n:]
				for i, t := range a.times {
					var us int64
					if !t.IsZero() {
						us = t.UnixMicro()
					}
					dst[i] = us
				}
			case wAddr:
				a.addrs = flow.AppendAddrs16(a.addrs[:0], part, w.col)
				dst := unsafe.Slice((*[2]uint64)(w.data), a.size)[n:]
				for i := range a.addrs {
					b := &a.addrs[i]
					dst[i] = [2]uint64{binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[:8])} // lower, upper
				}
			case wString:
				a.strs = flow.AppendStrings(a.strs[:0], part, w.col)
				for i, str := range a.strs {
					a.setString(w, uintptr(n+i), str)
				}
				clear(a.strs)
			case wU32List:
				a.u32s = flow.AppendUint32Lists(a.u32s[:0], part, w.col)
				err := a.putUint32s(w, n, a.u32s)
				clear(a.u32s)
				if err != nil {
					return err
				}
			case wLargeList:
				a.large = flow.AppendLargeCommunityLists(a.large[:0], part, w.col)
				err := a.putLarge(w, n, a.large)
				clear(a.large)
				if err != nil {
					return err
				}
			default:
				return fmt.Errorf("duckdb: column %d of %s is not a flow column", c, a.table)
			}
		}
		a.n += len(part)
		a.rows += len(part)
		recs = recs[len(part):]
	}
	return nil
}

// add appends one row: the columns of r, and flows for a rollup's Flows.
func (a *appender) add(r *flow.Record, flows uint64) error {
	if a.n == a.size {
		if err := a.appendChunk(); err != nil {
			return err
		}
	}
	i := uintptr(a.n)
	for c := range a.cols {
		w := &a.cols[c]
		switch w.kind {
		case wTime:
			t := w.time(r)
			var us int64
			if !t.IsZero() {
				us = t.UnixMicro()
			}
			*(*int64)(unsafe.Add(w.data, i*8)) = us
		case wU8:
			*(*uint8)(unsafe.Add(w.data, i)) = uint8(w.uint(r))
		case wU16:
			*(*uint16)(unsafe.Add(w.data, i*2)) = uint16(w.uint(r))
		case wU32:
			*(*uint32)(unsafe.Add(w.data, i*4)) = uint32(w.uint(r))
		case wU64:
			*(*uint64)(unsafe.Add(w.data, i*8)) = w.uint(r)
		case wFlows:
			*(*uint64)(unsafe.Add(w.data, i*8)) = flows
		case wAddr:
			b := w.addr(r).As16()
			p := (*[2]uint64)(unsafe.Add(w.data, i*16))
			p[0] = binary.BigEndian.Uint64(b[8:]) // lower
			p[1] = binary.BigEndian.Uint64(b[:8]) // upper
		case wString:
			a.setString(w, i, w.str(r))
		case wU32List:
			l := [1]flow.Uint32s{w.u32s(r)}
			if err := a.putUint32s(w, int(i), l[:]); err != nil {
				return err
			}
		case wLargeList:
			l := [1]flow.LargeCommunities{w.large(r)}
			if err := a.putLarge(w, int(i), l[:]); err != nil {
				return err
			}
		}
	}
	a.n++
	a.rows++
	return nil
}

// emptyAsNull stores the empty strings of the flows table as NULL, its text
// columns being nullable (see the package comment). DuckDB then skips them
// when it keeps statistics and compresses, which saves a tenth to a sixth
// of the CPU time of an insert; the dialect reads NULL as the empty
// string. Provisioning drops NOT NULL from the text columns of a file made
// without it. Tests turn it off to write a file as it was before; the
// insert benchmark measures both.
var emptyAsNull = true

// setString writes a string_t: up to 12 bytes inline, longer ones copied by
// DuckDB into the vector's heap (once per run of equal values).
func (a *appender) setString(w *colWriter, i uintptr, s string) {
	p := (*[16]byte)(unsafe.Add(w.data, i*16))
	switch n := len(s); {
	case n == 0:
		*(*[2]uint64)(unsafe.Pointer(p)) = [2]uint64{}
		if w.valid != nil {
			m := (*uint64)(unsafe.Add(w.valid, (i/64)*8))
			*m &^= 1 << (i % 64)
		}
		return
	case n <= 12:
		var st [16]byte
		st[0] = byte(n) // little-endian uint32 length, n < 256
		for j := 0; j < n; j++ {
			st[4+j] = s[j]
		}
		*p = st
		return
	}
	if w.hasST && w.last == s {
		*p = w.lastST
		return
	}
	mapping.VectorAssignStringElement(w.vec, mapping.IdxT(i), s)
	w.last, w.lastST, w.hasST = s, *p, true
}

// appendChunk hands the filled chunk to the appender.
func (a *appender) appendChunk() error {
	if a.n == 0 {
		return nil
	}
	mapping.DataChunkSetSize(a.chunk, mapping.IdxT(a.n))
	state := mapping.AppendDataChunk(a.app, a.chunk)
	a.reset()
	if state == mapping.StateError {
		return fmt.Errorf("duckdb: append to %s: %s", a.table, mapping.AppenderError(a.app))
	}
	if flushRows > 0 && a.rows >= flushRows {
		a.rows = 0
		if mapping.AppenderFlush(a.app) == mapping.StateError {
			return fmt.Errorf("duckdb: insert into %s: %s", a.table, mapping.AppenderError(a.app))
		}
	}
	return nil
}

// flushRows is how many rows the C appender buffers before it hands them to
// the transaction's storage. Left to itself it buffers up to 204800 rows, a
// whole transaction here: every row then lives twice in memory (about 600
// bytes per flow, per insert running) until the transaction ends.
var flushRows = 16384

// reset empties the chunk.
func (a *appender) reset() {
	mapping.DataChunkReset(a.chunk)
	a.n = 0
	a.vectors()
}

// flush writes what was appended into the table (in the connection's
// transaction).
func (a *appender) flush() error {
	if err := a.appendChunk(); err != nil {
		return err
	}
	a.rows = 0
	if mapping.AppenderFlush(a.app) == mapping.StateError {
		return fmt.Errorf("duckdb: insert into %s: %s", a.table, mapping.AppenderError(a.app))
	}
	return nil
}
