package clickhouse

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// dialect renders the query model for ClickHouse, for the columns as the
// sink provisioned them on a server with features f: addresses are IPv6
// from 19.3 and FixedString(16) before, and ILIKE exists from 20.6. Every
// value reaches the SQL as a "?" bound by clickhouse-go (client-side: strings
// quoted with ', \ and NUL escaped; numbers as decimal).
type dialect struct{ f features }

var _ store.Dialect = dialect{}

// Name implements store.Dialect.
func (dialect) Name() string { return "clickhouse" }

// Ident implements store.Dialect.
func (dialect) Ident(name string) string { return quote(name) }

// Bucket implements store.Dialect: the start of the step holding
// TimeReceived, in Unix seconds, as Int64. Steps are whole seconds, aligned
// on the epoch (intDiv works on every version; toStartOfInterval does not).
func (dialect) Bucket(step time.Duration) (string, []any) {
	n := max(int64(step/time.Second), 1)
	return fmt.Sprintf("toInt64(intDiv(toUInt32(%s), %d) * %d)", quote("TimeReceived"), n, n), nil
}

// TimeRange implements store.Dialect.
func (dialect) TimeRange(start, end time.Time) (string, []any) {
	c := quote("TimeReceived")
	return fmt.Sprintf("%s >= toDateTime(toUInt32(?)) AND %s < toDateTime(toUInt32(?))", c, c), []any{unixSeconds(start), unixSeconds(end)}
}

// unixSeconds is t in seconds, within the DateTime range.
func unixSeconds(t time.Time) uint32 {
	sec := t.Unix()
	switch {
	case sec < 0:
		return 0
	case sec > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(sec)
}

// Float implements store.Dialect.
func (dialect) Float(expr string) string { return "toFloat64(" + expr + ")" }

// fixedString says whether the string column c is a FixedString on the
// server (zero-padded: compared and shown without its trailing NULs).
func (d dialect) fixedString(c flow.Column) bool {
	return c.Kind == flow.KindString && strings.HasPrefix(d.f.columnType(c), "FixedString(")
}

// text is column c as a String.
func (d dialect) text(c flow.Column) string {
	if d.fixedString(c) {
		return "toStringCutToZero(" + quote(c.Name) + ")"
	}
	return "toString(" + quote(c.Name) + ")"
}

// Dimension implements store.Dialect.
func (d dialect) Dimension(c flow.Column, truncate int) (string, []any) {
	col := quote(c.Name)
	switch c.Kind {
	case flow.KindAddr:
		truncate = min(max(truncate, 0), 128)
		v4 := 96 + min(truncate, 32)
		if d.f.IPv6 {
			if truncate == 0 || truncate == 128 {
				return "toString(" + col + ")", nil
			}
			return fmt.Sprintf("toString(if(%s, IPv6CIDRToRange(%s, %d).1, IPv6CIDRToRange(%s, %d).1))",
				d.isIPv4(col), col, v4, col, truncate), nil
		}
		if truncate == 0 || truncate == 128 {
			return "IPv6NumToString(" + col + ")", nil
		}
		return fmt.Sprintf("IPv6NumToString(if(%s, %s, %s))", d.isIPv4(col), maskBytes(col, v4), maskBytes(col, truncate)), nil
	case flow.KindTime:
		return "toString(toUInt32(" + col + "))", nil
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		return fmt.Sprintf("arrayStringConcat(arrayMap(x -> %s, %s), ' ')", d.elementText(c, "x"), col), nil
	}
	return d.text(c), nil
}

// largeUInt128 says whether DstLargeCommunities is Array(UInt128) on the
// server (ASN<<64 | Local1<<32 | Local2), from 21.6; before, it is
// Array(FixedString(12)): ASN, Local1 and Local2 as four big-endian bytes
// each.
func (d dialect) largeUInt128() bool { return d.f.UInt128 }

// elementText is element x of list column c as text: an AS number in
// decimal, a community as ASN:value, a large community as
// ASN:Local1:Local2. It needs nothing newer than 18.x but for UInt128.
func (d dialect) elementText(c flow.Column, x string) string {
	switch c.Kind {
	case flow.KindCommunities:
		return fmt.Sprintf("concat(toString(intDiv(%[1]s, 65536)), ':', toString(%[1]s %% 65536))", x)
	case flow.KindLargeCommunities:
		if d.largeUInt128() {
			return fmt.Sprintf("concat(toString(bitShiftRight(%[1]s, 64)), ':', toString(bitAnd(bitShiftRight(%[1]s, 32), 4294967295)), ':', toString(bitAnd(%[1]s, 4294967295)))", x)
		}
		return fmt.Sprintf("concat(toString(reinterpretAsUInt32(reverse(substring(%[1]s, 1, 4)))), ':', toString(reinterpretAsUInt32(reverse(substring(%[1]s, 5, 4)))), ':', toString(reinterpretAsUInt32(reverse(substring(%[1]s, 9, 4)))))", x)
	}
	return "toString(" + x + ")"
}

// ListElements implements store.Dialect.
func (d dialect) ListElements(c flow.Column) string {
	return fmt.Sprintf("arrayJoin(arrayMap(x -> %s, %s))", d.elementText(c, "x"), quote(c.Name))
}

// ListElement implements store.Dialect: element i of list column c (1 the
// first, -1 the last); ClickHouse gives 0 past the end.
func (dialect) ListElement(c flow.Column, i int) string {
	return fmt.Sprintf("arrayElement(%s, %d)", quote(c.Name), i)
}

// UintText implements store.Dialect.
func (dialect) UintText(expr string) string { return "toString(" + expr + ")" }

// largeParam is large community c as a bound value and the SQL reading it
// in the column's element type.
func (d dialect) largeParam(c flow.LargeCommunity) (string, any) {
	if d.largeUInt128() {
		hi, lo := c.Uint128()
		v := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		return "toUInt128(?)", v.Or(v, new(big.Int).SetUint64(lo)).String()
	}
	return "toFixedString(unhex(?), 12)", fmt.Sprintf("%08X%08X%08X", c.ASN, c.Local1, c.Local2)
}

// compareList is one comparison of list column c: has() an element, or =
// and != with a whole list, one parameter per element.
func (d dialect) compareList(c flow.Column, op string, v any) (string, []any, string) {
	col := quote(c.Name)
	large := c.Kind == flow.KindLargeCommunities
	var elems []string
	var args []any
	switch v := v.(type) {
	case uint64:
		if op != "HAS" || large || v > math.MaxUint32 {
			return "", nil, "want HAS and a 32-bit value"
		}
		return fmt.Sprintf("has(%s, toUInt32(?))", col), []any{v}, ""
	case flow.LargeCommunity:
		if op != "HAS" || !large {
			return "", nil, "want HAS on large communities"
		}
		sql, arg := d.largeParam(v)
		return fmt.Sprintf("has(%s, %s)", col, sql), []any{arg}, ""
	case flow.Uint32s:
		if large {
			return "", nil, "want large communities"
		}
		for x := range v.All() {
			elems, args = append(elems, "toUInt32(?)"), append(args, uint64(x))
		}
	case flow.LargeCommunities:
		if !large {
			return "", nil, "want a list of 32-bit values"
		}
		for x := range v.All() {
			sql, arg := d.largeParam(x)
			elems, args = append(elems, sql), append(args, arg)
		}
	default:
		return "", nil, "want a list or an element"
	}
	if op != "=" && op != "!=" {
		return "", nil, "lists take HAS, = and !="
	}
	if len(elems) == 0 {
		if op == "=" {
			return "empty(" + col + ")", nil, ""
		}
		return "notEmpty(" + col + ")", nil, ""
	}
	return fmt.Sprintf("%s %s [%s]", col, op, strings.Join(elems, ", ")), args, ""
}

// Key implements store.Dialect: column c as stored, addresses truncated as
// Dimension truncates them.
func (d dialect) Key(c flow.Column, truncate int) (string, []any) {
	col := quote(c.Name)
	if c.Kind != flow.KindAddr || truncate <= 0 || truncate >= 128 {
		return col, nil
	}
	v4 := 96 + min(truncate, 32)
	if d.f.IPv6 {
		return fmt.Sprintf("if(%s, IPv6CIDRToRange(%s, %d).1, IPv6CIDRToRange(%s, %d).1)",
			d.isIPv4(col), col, v4, col, truncate), nil
	}
	return fmt.Sprintf("if(%s, %s, %s)", d.isIPv4(col), maskBytes(col, v4), maskBytes(col, truncate)), nil
}

// isIPv4 is the condition that address column col holds an IPv4 address
// (IPv4-mapped).
func (d dialect) isIPv4(col string) string {
	if d.f.IPv6 {
		return fmt.Sprintf("(%s >= toIPv6('::ffff:0.0.0.0') AND %s <= toIPv6('::ffff:255.255.255.255'))", col, col)
	}
	return fmt.Sprintf("substring(%s, 1, 12) = unhex('00000000000000000000FFFF')", col)
}

// maskBytes keeps the first bits of the FixedString(16) address col and
// zeroes the rest: the whole bytes are kept with substring, the byte cut
// in the middle is masked with bitAnd, and toFixedString pads with zeros.
// It needs nothing newer than 18.x.
func maskBytes(col string, bits int) string {
	whole, rest := bits/8, bits%8
	if rest == 0 {
		return fmt.Sprintf("toFixedString(substring(%s, 1, %d), 16)", col, whole)
	}
	mask := 0xff << (8 - rest) & 0xff
	return fmt.Sprintf("toFixedString(concat(substring(%s, 1, %d), toFixedString(reinterpretAsString(bitAnd(reinterpretAsUInt8(substring(%s, %d, 1)), %d)), 1)), 16)",
		col, whole, col, whole+1, mask)
}

// errInvalid is returned for comparisons the filter language should not
// have let through.
var errInvalid = errors.New("invalid comparison")

// Compare implements store.Dialect.
func (d dialect) Compare(c flow.Column, op string, v any) (string, []any, error) {
	bad := func(why string) (string, []any, error) {
		return "", nil, fmt.Errorf("%w: %s %s %v: %s", errInvalid, c.Name, op, v, why)
	}
	col := quote(c.Name)
	switch op {
	case "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "UNLIKE", "IUNLIKE", "<<", "HAS":
	default:
		return bad("unknown operator")
	}
	if op == "HAS" && !c.Kind.IsList() {
		return bad("HAS applies to list columns only")
	}
	like := strings.HasSuffix(op, "LIKE")
	if like && c.Kind != flow.KindString {
		return bad(op + " applies to text columns only")
	}
	if op == "<<" && c.Kind != flow.KindAddr {
		return bad("<< applies to address columns only")
	}
	switch c.Kind {
	case flow.KindUint, flow.KindMAC:
		n, ok := v.(uint64)
		if !ok {
			return bad("want a number")
		}
		return fmt.Sprintf("%s %s ?", col, op), []any{n}, nil
	case flow.KindString:
		s, ok := v.(string)
		if !ok {
			return bad("want text")
		}
		text := col
		if d.fixedString(c) || like {
			text = d.text(c)
		}
		switch op {
		case "LIKE":
			return text + " LIKE ?", []any{s}, nil
		case "UNLIKE":
			return text + " NOT LIKE ?", []any{s}, nil
		case "ILIKE", "IUNLIKE":
			not := ""
			if op == "IUNLIKE" {
				not = "NOT "
			}
			if d.f.ILike {
				return fmt.Sprintf("%s %sILIKE ?", text, not), []any{s}, nil
			}
			return fmt.Sprintf("lowerUTF8(%s) %sLIKE lowerUTF8(?)", text, not), []any{s}, nil
		}
		return fmt.Sprintf("%s %s ?", text, op), []any{s}, nil
	case flow.KindBoundary:
		b, ok := v.(flow.Boundary)
		if !ok {
			return bad("want a boundary")
		}
		if b != flow.BoundaryExternal && b != flow.BoundaryInternal && b != flow.BoundaryUndefined {
			return bad("unknown boundary")
		}
		return fmt.Sprintf("%s %s ?", col, op), []any{b.String()}, nil
	case flow.KindTime:
		t, ok := v.(time.Time)
		if !ok {
			return bad("want a time")
		}
		return fmt.Sprintf("%s %s toDateTime(toUInt32(?))", col, op), []any{unixSeconds(t)}, nil
	case flow.KindAddr:
		if op == "<<" {
			p, ok := v.(netip.Prefix)
			if !ok || !p.IsValid() {
				return bad("want a prefix")
			}
			lo, hi := prefixRange(p)
			return fmt.Sprintf("%s BETWEEN %s AND %s", col, d.addrParam(), d.addrParam()), []any{lo, hi}, nil
		}
		a, ok := v.(netip.Addr)
		if !ok {
			return bad("want an address")
		}
		return fmt.Sprintf("%s %s %s", col, op, d.addrParam()), []any{addrText(a)}, nil
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		sql, args, why := d.compareList(c, op, v)
		if why != "" {
			return bad(why)
		}
		return sql, args, nil
	}
	return bad("unsupported column")
}

// addrParam is a bound address, given as text, of the address columns' type.
func (d dialect) addrParam() string {
	if d.f.IPv6 {
		return "toIPv6(?)"
	}
	return "IPv6StringToNum(?)"
}

// addrText is a as stored: IPv4 addresses IPv4-mapped, the zero Addr as ::.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "::"
	}
	return netip.AddrFrom16(a.As16()).String()
}

// prefixRange is the first and last address of p as stored (IPv4 prefixes
// as IPv4-mapped ranges), as text.
func prefixRange(p netip.Prefix) (string, string) {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	lo := p.Addr().As16()
	hi := lo
	for i := bits; i < 128; i++ {
		hi[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(lo).String(), netip.AddrFrom16(hi).String()
}
