package flow

import (
	"net/netip"
	"time"
	"unicode/utf8"
)

// JSONEncoder writes records as JSON lines. It caches the formatted date and
// time of the last second seen in each time column, since the records of a
// batch share their timestamps; the zero value is ready to use. It is not safe
// for concurrent use.
type JSONEncoder struct {
	times [jsonTimeColumns]timeText
	// The date of the last day formatted, for misses within one day.
	day     int64
	dayOK   bool
	dayText [10]byte // "2006-01-02"
}

// timeText is a second formatted as "2006-01-02T15:04:05".
type timeText struct {
	sec  int64
	ok   bool
	text [19]byte
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
	return e.appendFields(dst, r)
}

// appendTime appends t as a quoted RFC 3339 UTC time, or null for the zero
// time, through the cache slot of its column.
func (e *JSONEncoder) appendTime(dst []byte, t time.Time, slot int) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	sec, nsec := t.Unix(), uint32(t.Nanosecond())
	c := &e.times[slot]
	if !c.ok || c.sec != sec {
		e.fillTime(c, sec)
	}
	var buf [32]byte // `"2006-01-02T15:04:05.999999999Z"`
	buf[0] = '"'
	*(*[19]byte)(buf[1:20]) = c.text
	n := 20
	if nsec != 0 {
		// A dot and up to 9 digits, trailing zeros trimmed.
		w := 9
		switch {
		case nsec%1_000_000 == 0:
			nsec, w = nsec/1_000_000, 3
		case nsec%1000 == 0:
			nsec, w = nsec/1000, 6
		}
		for nsec%10 == 0 {
			nsec /= 10
			w--
		}
		buf[n] = '.'
		for i := n + w; i > n; i-- {
			buf[i] = byte('0' + nsec%10)
			nsec /= 10
		}
		n += w + 1
	}
	buf[n], buf[n+1] = 'Z', '"'
	return append(dst, buf[:n+2]...)
}

// maxFastSec is the first second of the year 10000: below it, and from the
// epoch, times are formatted by hand.
const maxFastSec = 253402300800

// fillTime formats sec into c, from another column's slot when one holds
// the same second.
func (e *JSONEncoder) fillTime(c *timeText, sec int64) {
	c.sec, c.ok = sec, true
	for i := range e.times {
		if o := &e.times[i]; o != c && o.ok && o.sec == sec {
			c.text = o.text
			return
		}
	}
	if sec < 0 || sec >= maxFastSec {
		time.Unix(sec, 0).UTC().AppendFormat(c.text[:0], "2006-01-02T15:04:05")
		return
	}
	day, tod := sec/86400, sec%86400
	if !e.dayOK || e.day != day {
		e.day, e.dayOK = day, true
		y, m, d := civil(day)
		put4(e.dayText[0:4], y)
		e.dayText[4] = '-'
		put2(e.dayText[5:7], m)
		e.dayText[7] = '-'
		put2(e.dayText[8:10], d)
	}
	*(*[10]byte)(c.text[0:10]) = e.dayText
	c.text[10] = 'T'
	put2(c.text[11:13], int(tod/3600))
	c.text[13] = ':'
	put2(c.text[14:16], int(tod/60%60))
	c.text[16] = ':'
	put2(c.text[17:19], int(tod%60))
}

// civil returns the proleptic Gregorian date of a day counted from
// 1970-01-01 (day >= 0).
func civil(day int64) (year, month, dayOfMonth int) {
	z := day + 719468 // days since 0000-03-01
	era := z / 146097
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1
	mp := (5*doy + 2) / 153                                // [0, 11], March is 0
	dayOfMonth = int(doy - (153*mp+2)/5 + 1)
	year = int(yoe + era*400)
	if mp < 10 {
		month = int(mp + 3)
	} else {
		month = int(mp - 9)
		year++
	}
	return year, month, dayOfMonth
}

func put2(b []byte, v int) {
	_ = b[1]
	b[0], b[1] = byte('0'+v/10), byte('0'+v%10)
}

func put4(b []byte, v int) {
	put2(b[0:2], v/100)
	put2(b[2:4], v%100)
}

// digits2 holds the two-digit decimals 00 to 99.
const digits2 = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

func appendUint(dst []byte, v uint64) []byte {
	// Up to 4 digits (ports, masks, protocols) in one append of known size.
	switch {
	case v < 10:
		return append(dst, byte('0'+v))
	case v < 100:
		return append(dst, digits2[v*2], digits2[v*2+1])
	case v < 1000:
		q, r := v/100, v%100
		return append(dst, byte('0'+q), digits2[r*2], digits2[r*2+1])
	case v < 10000:
		q, r := v/100, v%100
		return append(dst, digits2[q*2], digits2[q*2+1], digits2[r*2], digits2[r*2+1])
	}
	var buf [20]byte
	i := len(buf)
	for v >= 100 {
		q := v / 100
		r := (v - q*100) * 2
		i -= 2
		buf[i], buf[i+1] = digits2[r], digits2[r+1]
		v = q
	}
	if v >= 10 {
		i -= 2
		buf[i], buf[i+1] = digits2[v*2], digits2[v*2+1]
	} else {
		i--
		buf[i] = byte('0' + v)
	}
	return append(dst, buf[i:]...)
}

// appendJSONAddr appends a valid address as quoted text, IPv4-mapped IPv6
// addresses as IPv4.
func appendJSONAddr(dst []byte, a netip.Addr) []byte {
	if !a.Is4() && !a.Is4In6() {
		if a.Zone() == "" {
			return appendJSONAddr6(dst, a.As16())
		}
		dst = append(dst, '"')
		dst = a.AppendTo(dst)
		return append(dst, '"')
	}
	b := a.As16()
	var buf [17]byte // `"255.255.255.255"`
	buf[0] = '"'
	n := 1
	for i := 12; i < 16; i++ {
		v := b[i]
		switch {
		case v >= 100:
			buf[n] = '0' + v/100
			buf[n+1] = digits2[v%100*2]
			buf[n+2] = digits2[v%100*2+1]
			n += 3
		case v >= 10:
			buf[n] = digits2[v*2]
			buf[n+1] = digits2[v*2+1]
			n += 2
		default:
			buf[n] = '0' + v
			n++
		}
		buf[n] = '.'
		n++
	}
	buf[n-1] = '"'
	return append(dst, buf[:n]...)
}

// appendJSONAddr6 appends an IPv6 address as quoted text, as
// netip.Addr.AppendTo writes it (RFC 5952: lower case, no leading zeros, the
// first longest run of two or more zero groups as "::").
func appendJSONAddr6(dst []byte, b [16]byte) []byte {
	var groups [8]uint16
	for i := range groups {
		groups[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	zeroStart, zeroLen := 8, 1
	for i := 0; i < 8; {
		if groups[i] != 0 {
			i++
			continue
		}
		j := i + 1
		for j < 8 && groups[j] == 0 {
			j++
		}
		if j-i > zeroLen {
			zeroStart, zeroLen = i, j-i
		}
		i = j
	}
	var buf [42]byte // `"` + 8 groups of up to 4 digits and 7 colons + `"`
	buf[0] = '"'
	n := 1
	for i := 0; i < 8; i++ {
		if i == zeroStart {
			buf[n], buf[n+1] = ':', ':'
			n += 2
			i += zeroLen - 1
			continue
		}
		if i > 0 && i != zeroStart+zeroLen {
			buf[n] = ':'
			n++
		}
		g := groups[i]
		switch {
		case g >= 0x1000:
			buf[n], buf[n+1], buf[n+2], buf[n+3] = hexDigits[g>>12], hexDigits[g>>8&0xf], hexDigits[g>>4&0xf], hexDigits[g&0xf]
			n += 4
		case g >= 0x100:
			buf[n], buf[n+1], buf[n+2] = hexDigits[g>>8], hexDigits[g>>4&0xf], hexDigits[g&0xf]
			n += 3
		case g >= 0x10:
			buf[n], buf[n+1] = hexDigits[g>>4], hexDigits[g&0xf]
			n += 2
		default:
			buf[n] = hexDigits[g]
			n++
		}
	}
	buf[n] = '"'
	return append(dst, buf[:n+1]...)
}

const hexDigits = "0123456789abcdef"

// AppendMAC appends a 48-bit MAC address held in the low bits of m as text.
func AppendMAC(dst []byte, m uint64) []byte {
	var buf [17]byte
	putMAC(&buf, m)
	return append(dst, buf[:]...)
}

func putMAC(buf *[17]byte, m uint64) {
	for i := 0; i < 6; i++ {
		b := byte(m >> (40 - 8*i))
		buf[3*i], buf[3*i+1] = hexDigits[b>>4], hexDigits[b&0xf]
		if i < 5 {
			buf[3*i+2] = ':'
		}
	}
}

func appendJSONMAC(dst []byte, m uint64) []byte {
	var buf [19]byte
	buf[0], buf[18] = '"', '"'
	putMAC((*[17]byte)(buf[1:18]), m)
	return append(dst, buf[:]...)
}

// jsonSafe marks the bytes written as they are in a JSON string: printable
// ASCII but the quote and the backslash.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s)
	return append(dst, '"')
}

// appendJSONStringBody appends s escaped for a JSON string, without quotes.
func appendJSONStringBody(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonSafe[s[i]] {
			return appendJSONEscaped(dst, s, i)
		}
	}
	return append(dst, s...)
}

// appendJSONEscaped is appendJSONStringBody past the safe prefix s[:i]:
// quotes, backslashes and control characters are escaped, invalid UTF-8
// bytes replaced by \ufffd, other text copied.
func appendJSONEscaped(dst []byte, s string, i int) []byte {
	start := 0
	for i < len(s) {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
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
	return append(dst, s[start:]...)
}

// appendJSONASPath appends l as an array of numbers: [64500,64501].
func appendJSONASPath(dst []byte, l Uint32s) []byte {
	dst = append(dst, '[')
	for i := range l.Len() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendUint(dst, uint64(l.At(i)))
	}
	return append(dst, ']')
}

// appendJSONCommunities appends l as an array of strings: ["65000:100"].
func appendJSONCommunities(dst []byte, l Uint32s) []byte {
	return appendJSONTexts(dst, l.Len(), func(dst []byte, i int) []byte { return AppendCommunity(dst, l.At(i)) })
}

// appendJSONLargeCommunities appends l as an array of strings: ["65000:1:2"].
func appendJSONLargeCommunities(dst []byte, l LargeCommunities) []byte {
	return appendJSONTexts(dst, l.Len(), func(dst []byte, i int) []byte { return l.At(i).Append(dst) })
}

// appendJSONTexts appends an array of n strings that need no escaping,
// element i written by appendText.
func appendJSONTexts(dst []byte, n int, appendText func(dst []byte, i int) []byte) []byte {
	dst = append(dst, '[')
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = appendText(dst, i)
		dst = append(dst, '"')
	}
	return append(dst, ']')
}
