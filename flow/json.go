package flow

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonColumn is a column prepared for the JSON encoder: its key already quoted.
type jsonColumn struct {
	key  []byte // `"Name":` (with a leading comma except for the first)
	kind Kind
	acc  Accessors
}

var jsonColumns = func() []jsonColumn {
	out := make([]jsonColumn, len(Columns))
	for i, c := range Columns {
		key := `,"` + c.Name + `":`
		if i == 0 {
			key = key[1:]
		}
		out[i] = jsonColumn{key: []byte(key), kind: c.Kind, acc: Access(c.Name)}
	}
	return out
}()

// AppendJSON appends r as one JSON object, keys as the column names, followed by
// a newline. Addresses are text (IPv4 never IPv4-mapped), times RFC 3339 UTC,
// absent addresses and times null. It does not allocate when dst has room.
func AppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, '{')
	for i := range jsonColumns {
		c := &jsonColumns[i]
		dst = append(dst, c.key...)
		switch c.kind {
		case KindUint:
			dst = strconv.AppendUint(dst, c.acc.Uint(r), 10)
		case KindString:
			dst = appendJSONString(dst, c.acc.String(r))
		case KindAddr:
			dst = appendJSONAddr(dst, c.acc.Addr(r))
		case KindTime:
			dst = appendJSONTime(dst, c.acc.Time(r))
		case KindMAC:
			dst = appendJSONMAC(dst, c.acc.Uint(r))
		case KindBoundary:
			dst = append(dst, '"')
			dst = append(dst, Boundary(c.acc.Uint(r)).String()...)
			dst = append(dst, '"')
		}
	}
	return append(dst, '}', '\n')
}

func appendJSONTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendJSONAddr(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = a.Unmap().AppendTo(dst)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// AppendMAC appends a 48-bit MAC address held in the low bits of m as text.
func AppendMAC(dst []byte, m uint64) []byte {
	for i := 5; i >= 0; i-- {
		b := byte(m >> (8 * i))
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
		if i > 0 {
			dst = append(dst, ':')
		}
	}
	return dst
}

func appendJSONMAC(dst []byte, m uint64) []byte {
	dst = append(dst, '"')
	dst = AppendMAC(dst, m)
	return append(dst, '"')
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
