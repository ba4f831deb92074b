package flow

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// JSONEncoder writes records as JSON lines. It caches the formatted date
// and time of the last seconds seen, since the records of a batch share their
// timestamps; the zero value is ready to use. It is not safe for concurrent use.
type JSONEncoder struct {
	cache [4]struct {
		sec  int64
		ok   bool
		text [19]byte // "2006-01-02T15:04:05"
	}
}

// AppendJSON appends r as one JSON object, keys as the column names, followed by
// a newline. Addresses are text (IPv4 never IPv4-mapped), times RFC 3339 UTC,
// absent addresses and times null. It does not allocate when dst has room.
func AppendJSON(dst []byte, r *Record) []byte {
	var e JSONEncoder
	return e.Append(dst, r)
}

// Append appends r as one JSON line (see AppendJSON).
func (e *JSONEncoder) Append(dst []byte, r *Record) []byte {
	dst = append(dst, '{')
	dst = e.appendFields(dst, r)
	return append(dst, '}', '\n')
}

func (e *JSONEncoder) appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	sec, nsec := t.Unix(), t.Nanosecond()
	c := &e.cache[sec&3]
	if c.sec != sec || !c.ok {
		c.sec, c.ok = sec, true
		time.Unix(sec, 0).UTC().AppendFormat(c.text[:0], "2006-01-02T15:04:05")
	}
	dst = append(dst, '"')
	dst = append(dst, c.text[:]...)
	if nsec != 0 {
		var frac [10]byte
		frac[0] = '.'
		n := uint32(nsec)
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + n%10)
			n /= 10
		}
		end := 10
		for frac[end-1] == '0' {
			end--
		}
		dst = append(dst, frac[:end]...)
	}
	return append(dst, 'Z', '"')
}

func appendUint(dst []byte, v uint64) []byte {
	if v < 10 {
		return append(dst, byte('0'+v))
	}
	return strconv.AppendUint(dst, v, 10)
}

func appendJSONBoundary(dst []byte, b Boundary) []byte {
	dst = append(dst, '"')
	dst = append(dst, b.String()...)
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
