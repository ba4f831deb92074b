package duckdb

import (
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// Dialect renders the parts of the query model that are DuckDB's own, for
// the tables this sink writes (types in schema.go). Values reach the SQL as
// bound parameters; only integers computed here (shifts) are written inline.
type Dialect struct{}

var _ store.Dialect = Dialect{}

// Name is "duckdb".
func (Dialect) Name() string { return "duckdb" }

// Ident quotes an identifier.
func (Dialect) Ident(name string) string { return quote(name) }

// Bucket is the Unix time in seconds of the start of the step holding
// TimeReceived, steps aligned on the epoch.
func (Dialect) Bucket(step time.Duration) (string, []any) {
	us := max(int64(step/time.Microsecond), 1)
	secs := max(int64(step/time.Second), 1)
	return `((epoch_us("TimeReceived") // ?) * ?)`, []any{us, secs}
}

// TimeRange is start <= TimeReceived < end.
func (Dialect) TimeRange(start, end time.Time) (string, []any) {
	return `("TimeReceived" >= make_timestamp(?) AND "TimeReceived" < make_timestamp(?))`, []any{start.UnixMicro(), end.UnixMicro()}
}

// Float casts a numeric expression to DOUBLE.
func (Dialect) Float(expr string) string { return "CAST((" + expr + ") AS DOUBLE)" }

// Dimension is column c as text: numbers (MACs too) in decimal, times as
// RFC 3339 with microseconds, addresses as dotted quads (IPv4) or eight
// hexadecimal groups (IPv6), text with NULL read as "" (the flows table
// stores empty text as NULL: see emptyAsNull).
func (Dialect) Dimension(c flow.Column, truncate int) (string, []any) {
	col := quote(c.Name)
	switch c.Kind {
	case flow.KindString:
		return textValue(col), nil
	case flow.KindBoundary:
		return fmt.Sprintf(`(CASE %s WHEN 1 THEN 'external' WHEN 2 THEN 'internal' ELSE '' END)`, col), nil
	case flow.KindTime: // microseconds, UTC
		return fmt.Sprintf(`strftime(%s, '%%Y-%%m-%%dT%%H:%%M:%%S.%%fZ')`, col), nil
	case flow.KindAddr:
		return addrText(col, truncate), nil
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		return listText(c), nil
	}
	return fmt.Sprintf("CAST(%s AS VARCHAR)", col), nil
}

// listText is list column c as text, its elements separated by spaces, as
// the flow package writes them: AS numbers in decimal, communities as
// ASN:value, large communities (UHUGEINT: ASN<<64 | Local1<<32 | Local2)
// as ASN:Local1:Local2; "" for an empty list.
func listText(c flow.Column) string {
	col := quote(c.Name)
	if c.Kind == flow.KindASPath {
		return fmt.Sprintf("COALESCE(array_to_string(%s, ' '), '')", col)
	}
	return fmt.Sprintf("COALESCE(array_to_string(list_transform(%s, lambda x: %s), ' '), '')", col, elementText(c))
}

// elementText is element x of list column c as text.
func elementText(c flow.Column) string {
	switch c.Kind {
	case flow.KindCommunities:
		return "printf('%d:%d', x >> 16, x & 65535)"
	case flow.KindLargeCommunities:
		return "printf('%d:%d:%d', CAST(x >> 64 AS UBIGINT), CAST((x >> 32) & 4294967295 AS UBIGINT), CAST(x & 4294967295 AS UBIGINT))"
	}
	return "CAST(x AS VARCHAR)"
}

// ListElements implements store.Dialect.
func (Dialect) ListElements(c flow.Column) string {
	return fmt.Sprintf("unnest(list_transform(%s, lambda x: %s))", quote(c.Name), elementText(c))
}

// ListElement implements store.Dialect: element i (1 the first, -1 the
// last) of list column c, 0 past its end.
func (Dialect) ListElement(c flow.Column, i int) string {
	return fmt.Sprintf("COALESCE(%s[%d], 0)", quote(c.Name), i)
}

// UintText implements store.Dialect.
func (Dialect) UintText(expr string) string { return "CAST((" + expr + ") AS VARCHAR)" }

// largeParam is large community c as the decimal text of its UHUGEINT.
func largeParam(c flow.LargeCommunity) string {
	hi, lo := c.Uint128()
	return new(big.Int).Or(new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64), new(big.Int).SetUint64(lo)).String()
}

// compareList is one comparison of list column c: HAS an element, or = and
// != with a whole list, one parameter per element.
func compareList(c flow.Column, op string, v any) (string, []any, bool) {
	col := quote(c.Name)
	typ := "UINTEGER"
	if c.Kind == flow.KindLargeCommunities {
		typ = "UHUGEINT"
	}
	var args []any
	switch v := v.(type) {
	case uint64:
		if op != "HAS" || c.Kind == flow.KindLargeCommunities || v > 1<<32-1 {
			return "", nil, false
		}
		return fmt.Sprintf("list_contains(%s, CAST(? AS UINTEGER))", col), []any{v}, true
	case flow.LargeCommunity:
		if op != "HAS" || c.Kind != flow.KindLargeCommunities {
			return "", nil, false
		}
		return fmt.Sprintf("list_contains(%s, CAST(? AS UHUGEINT))", col), []any{largeParam(v)}, true
	case flow.Uint32s:
		if c.Kind == flow.KindLargeCommunities {
			return "", nil, false
		}
		for x := range v.All() {
			args = append(args, uint64(x))
		}
	case flow.LargeCommunities:
		if c.Kind != flow.KindLargeCommunities {
			return "", nil, false
		}
		for x := range v.All() {
			args = append(args, largeParam(x))
		}
	default:
		return "", nil, false
	}
	cmp, ok := map[string]string{"=": "=", "!=": "<>"}[op]
	if !ok {
		return "", nil, false
	}
	if len(args) == 0 {
		return fmt.Sprintf("COALESCE(len(%s), 0) %s 0", col, cmp), nil, true
	}
	elems := strings.TrimSuffix(strings.Repeat("CAST(? AS "+typ+"), ", len(args)), ", ")
	return fmt.Sprintf("%s %s [%s]", col, cmp, elems), args, true
}

// textValue is text column col with NULL read as "": the flows table
// stores empty text as NULL (emptyAsNull), the rollups and files written
// before as "", and both must read, group and compare alike. Comparisons
// too read it so: never NULL, they hold for NULL exactly when they hold for
// "", and NOT keeps the rows it should. (Measured on the raw table, this
// form filters a little faster than NULL tests OR-ed with comparisons.)
func textValue(col string) string { return "COALESCE(" + col + ", '')" }

// Key is column c as stored, addresses truncated as Dimension truncates
// them (IPv4-mapped ones to truncate bits of their 32, others to truncate
// of their 128) with a mask: grouping by it spares formatting every row.
// Text reads NULL as "", so that NULL and "" (a file written before
// emptyAsNull) are one group.
func (Dialect) Key(c flow.Column, truncate int) (string, []any) {
	col := quote(c.Name)
	if c.Kind == flow.KindString {
		return textValue(col), nil
	}
	if c.Kind != flow.KindAddr || truncate <= 0 || truncate >= 128 {
		return col, nil
	}
	v4 := new(big.Int).Lsh(big.NewInt(1), 128)
	v4.Sub(v4, big.NewInt(1))
	v6 := new(big.Int).Set(v4)
	if truncate < 32 {
		v4.Rsh(v4, uint(32-truncate)).Lsh(v4, uint(32-truncate))
	}
	v6.Rsh(v6, uint(128-truncate)).Lsh(v6, uint(128-truncate))
	return fmt.Sprintf("(CASE WHEN (%s >> 32) = 65535 THEN %s & '%s'::UHUGEINT ELSE %s & '%s'::UHUGEINT END)",
		col, col, v4, col, v6), nil
}

// addrText formats the UHUGEINT address col as text, truncated to bits
// first when bits > 0 (IPv4 addresses counting 32 bits): IPv4-mapped
// addresses in dotted quads, others as eight hexadecimal groups. The work is
// done on the two 64-bit halves, far cheaper than 128-bit arithmetic.
func addrText(col string, bits int) string {
	hi := fmt.Sprintf("CAST(%s >> 64 AS UBIGINT)", col)
	lo := fmt.Sprintf("CAST(%s & 18446744073709551615 AS UBIGINT)", col)
	mask4, maskHi, maskLo := uint64(0xffffffff), ^uint64(0), ^uint64(0)
	if bits > 0 {
		if bits < 32 {
			mask4 = (0xffffffff << (32 - bits)) & 0xffffffff
		}
		switch {
		case bits <= 64:
			maskHi, maskLo = ^uint64(0)<<(64-bits), 0
		case bits < 128:
			maskLo = ^uint64(0) << (128 - bits)
		}
	}
	v4 := make([]string, 4)
	for i := range v4 {
		v4[i] = fmt.Sprintf("((%s >> %d) & %d)", lo, 24-8*i, (mask4>>(24-8*i))&255)
	}
	v6 := make([]string, 8)
	for i := range v6 {
		half, mask, shift := hi, maskHi, 48-16*i
		if i >= 4 {
			half, mask, shift = lo, maskLo, 112-16*i
		}
		v6[i] = fmt.Sprintf("((%s >> %d) & %d)", half, shift, (mask>>shift)&0xffff)
	}
	return fmt.Sprintf("(CASE WHEN %s = 0 AND (%s >> 32) = 65535 THEN printf('%%d.%%d.%%d.%%d', %s) ELSE printf('%%x:%%x:%%x:%%x:%%x:%%x:%%x:%%x', %s) END)",
		hi, lo, strings.Join(v4, ", "), strings.Join(v6, ", "))
}

// u128 is the decimal text of the 16 bytes of a, as DuckDB casts it to UHUGEINT.
func u128(a netip.Addr) string {
	b := a.As16()
	return new(big.Int).SetBytes(b[:]).String()
}

var sqlOps = map[string]string{"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

// Compare is one filter comparison, text read as in textValue. LIKE
// patterns escape % and _ with a backslash. An IPv6 prefix covers IPv4
// addresses as IPv4-mapped ones.
func (Dialect) Compare(c flow.Column, op string, v any) (string, []any, error) {
	col := quote(c.Name)
	cmp, ordered := sqlOps[op]
	bad := func() (string, []any, error) {
		return "", nil, fmt.Errorf("%w: %s cannot be compared with %s %v", store.ErrInvalid, c.Name, op, v)
	}
	switch c.Kind {
	case flow.KindUint, flow.KindMAC:
		n, ok := v.(uint64)
		if !ok || !ordered {
			return bad()
		}
		return fmt.Sprintf("%s %s ?", col, cmp), []any{n}, nil
	case flow.KindBoundary:
		b, ok := v.(flow.Boundary)
		if !ok || (op != "=" && op != "!=") {
			return bad()
		}
		return fmt.Sprintf("%s %s ?", col, cmp), []any{uint8(b)}, nil
	case flow.KindTime:
		t, ok := v.(time.Time)
		if !ok || !ordered {
			return bad()
		}
		return fmt.Sprintf("%s %s make_timestamp(?)", col, cmp), []any{t.UnixMicro()}, nil
	case flow.KindString:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		text := textValue(col)
		switch op {
		case "LIKE", "ILIKE":
			return text + " " + op + " ? ESCAPE '\\'", []any{s}, nil
		case "UNLIKE":
			return text + " NOT LIKE ? ESCAPE '\\'", []any{s}, nil
		case "IUNLIKE":
			return text + " NOT ILIKE ? ESCAPE '\\'", []any{s}, nil
		}
		if !ordered {
			return bad()
		}
		return fmt.Sprintf("%s %s ?", text, cmp), []any{s}, nil
	case flow.KindAddr:
		if op == "<<" {
			p, ok := v.(netip.Prefix)
			if !ok || !p.IsValid() {
				return bad()
			}
			p = p.Masked()
			lo := p.Addr()
			bits := p.Bits()
			if lo.Is4() {
				lo = netip.AddrFrom16(lo.As16())
				bits += 96
			}
			hi := lo.As16()
			for i := bits; i < 128; i++ {
				hi[i/8] |= 0x80 >> (i % 8)
			}
			return fmt.Sprintf("%s BETWEEN CAST(? AS UHUGEINT) AND CAST(? AS UHUGEINT)", col),
				[]any{u128(lo), u128(netip.AddrFrom16(hi))}, nil
		}
		a, ok := v.(netip.Addr)
		if !ok || !a.IsValid() || !ordered {
			return bad()
		}
		return fmt.Sprintf("%s %s CAST(? AS UHUGEINT)", col, cmp), []any{u128(a)}, nil
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		if sql, args, ok := compareList(c, op, v); ok {
			return sql, args, nil
		}
	}
	return bad()
}
