// Package filter parses the filter language of the console: SQL-like
// comparisons of flow columns joined by AND, OR, NOT and parentheses, such as
//
//	InIfBoundary = external AND SrcAS IN (AS15169, 13335) AND NOT DstPort = 443
//
// Values are typed against the column they are compared with (numbers, AS
// numbers, protocol names, addresses and prefixes, MACs, boundaries, times,
// text), and every error carries its position and says what was expected. The
// parser yields a tree of typed comparisons; it never produces SQL (package
// store renders the tree through a store's dialect, with bound parameters).
//
// Grammar (keywords and column names in any case):
//
//	filter     = [ or ] .
//	or         = and { "OR" and } .
//	and        = not { "AND" not } .
//	not        = "NOT" not | "(" or ")" | comparison .
//	comparison = column operator value
//	           | column [ "NOT" ] "IN" "(" value { "," value } ")" .
//	operator   = "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "<<"
//	           | "LIKE" | "ILIKE" | "UNLIKE" | "IUNLIKE" | [ "NOT" ] "HAS" .
//	value      = word | 'text' | "text" .
//
// A word is a run of characters other than blanks, parentheses, commas,
// quotes and = ! < >, such as 443, AS15169, tcp, 192.0.2.0/24, 2001:db8::1,
// 00:11:22:33:44:55 or ge-0/0/1. In quoted text, a backslash escapes the
// next character and a doubled quote stands for one. Comments run from --
// to the end of the line, or between /* and */. LIKE patterns take % (any
// text) and _ (one character); a backslash escapes %, _ and itself.
//
// Operators by kind of column: numbers and times take = != < <= > >=; text
// takes = != LIKE ILIKE UNLIKE IUNLIKE; addresses take = != and << (within
// a prefix); MACs and boundaries take = and !=; lists (DstASPath,
// DstCommunities, DstLargeCommunities) take HAS and NOT HAS (the list holds,
// or does not hold, an element: DstASPath HAS AS3356, DstCommunities HAS
// 65000:100, DstLargeCommunities HAS 65000:1:2), and = and != on the whole
// list, written as text ('64500 64501', '65000:100 65000:200', an empty
// quoted string for an empty list); every kind takes IN and NOT IN. The derived columns
// DstFirstAS and DstLastAS (first and last AS of DstASPath, 0 when it is
// empty) are AS numbers. Numbers are decimal or 0x hexadecimal; AS numbers may be written
// AS15169; Proto takes IANA protocol names (tcp, udp, icmp, ipv6-icmp...),
// EType ipv4, ipv6, arp, vlan, mpls, FlowDirection ingress and egress;
// boundaries are external, internal or an empty quoted string (none); times are RFC 3339,
// "2006-01-02 15:04:05" (UTC) or a date.
package filter

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokWord           // a bare word: column, keyword, number, address, name...
	tokString         // a quoted string; text holds the unquoted value
	tokOp             // = != <> < <= > >= <<
	tokLParen
	tokRParen
	tokComma
	tokError // a lexical error; text holds the message
)

type token struct {
	kind  tokKind
	text  string // the word, the unquoted string, the operator
	start int    // byte offset of the first byte
	end   int    // byte offset past the last byte
	// unterminated marks a quoted string missing its closing quote (kind
	// tokError); completion treats it as a value being typed.
	unterminated bool
	quote        byte
}

// lexer splits a filter into tokens, skipping blanks and comments.
type lexer struct {
	src string
	pos int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// wordStop reports whether the byte at i ends a bare word.
func (l *lexer) wordStop(i int) bool {
	c := l.src[i]
	switch c {
	case '(', ')', ',', '=', '!', '<', '>', '\'', '"':
		return true
	case '-':
		return i+1 < len(l.src) && l.src[i+1] == '-'
	case '/':
		return i+1 < len(l.src) && l.src[i+1] == '*'
	}
	return isSpace(c)
}

// skip passes blanks and comments; it returns an error token for a comment
// left open.
func (l *lexer) skip() (token, bool) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '-' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '-':
			nl := strings.IndexByte(l.src[l.pos:], '\n')
			if nl < 0 {
				l.pos = len(l.src)
			} else {
				l.pos += nl + 1
			}
		case c == '/' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '*':
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				t := token{kind: tokError, start: l.pos, end: len(l.src), text: "unterminated comment: expected */ to close the /* comment"}
				l.pos = len(l.src)
				return t, true
			}
			l.pos += 2 + end + 2
		default:
			return token{}, false
		}
	}
	return token{}, false
}

func (l *lexer) next() token {
	if t, bad := l.skip(); bad {
		return t
	}
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, start: len(l.src), end: len(l.src)}
	}
	start := l.pos
	c := l.src[start]
	switch c {
	case '(':
		l.pos++
		return token{kind: tokLParen, text: "(", start: start, end: l.pos}
	case ')':
		l.pos++
		return token{kind: tokRParen, text: ")", start: start, end: l.pos}
	case ',':
		l.pos++
		return token{kind: tokComma, text: ",", start: start, end: l.pos}
	case '=':
		l.pos++
		if l.pos < len(l.src) && l.src[l.pos] == '=' { // == as =
			l.pos++
		}
		return token{kind: tokOp, text: "=", start: start, end: l.pos}
	case '!':
		if l.pos+1 < len(l.src) && l.src[l.pos+1] == '=' {
			l.pos += 2
			return token{kind: tokOp, text: "!=", start: start, end: l.pos}
		}
		l.pos++
		return token{kind: tokError, text: `unexpected "!": expected != or an operator`, start: start, end: l.pos}
	case '<':
		l.pos++
		if l.pos < len(l.src) {
			switch l.src[l.pos] {
			case '=':
				l.pos++
				return token{kind: tokOp, text: "<=", start: start, end: l.pos}
			case '>':
				l.pos++
				return token{kind: tokOp, text: "!=", start: start, end: l.pos}
			case '<':
				l.pos++
				return token{kind: tokOp, text: "<<", start: start, end: l.pos}
			}
		}
		return token{kind: tokOp, text: "<", start: start, end: l.pos}
	case '>':
		l.pos++
		if l.pos < len(l.src) && l.src[l.pos] == '=' {
			l.pos++
			return token{kind: tokOp, text: ">=", start: start, end: l.pos}
		}
		return token{kind: tokOp, text: ">", start: start, end: l.pos}
	case '\'', '"':
		return l.quoted(c)
	}
	for l.pos < len(l.src) && !l.wordStop(l.pos) {
		if l.src[l.pos] < utf8.RuneSelf {
			l.pos++
			continue
		}
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if r == utf8.RuneError && n == 1 {
			if l.pos == start {
				l.pos++
				return token{kind: tokError, text: "invalid UTF-8 byte", start: start, end: l.pos}
			}
			break
		}
		l.pos += n
	}
	return token{kind: tokWord, text: l.src[start:l.pos], start: start, end: l.pos}
}

// quoted reads a string in single or double quotes. A quote is escaped by
// doubling it or with a backslash; a backslash escapes itself.
func (l *lexer) quoted(q byte) token {
	start := l.pos
	l.pos++
	var b strings.Builder
	from := l.pos
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\\' && l.pos+1 < len(l.src):
			b.WriteString(l.src[from:l.pos])
			b.WriteByte(l.src[l.pos+1])
			l.pos += 2
			from = l.pos
		case c == q && l.pos+1 < len(l.src) && l.src[l.pos+1] == q:
			b.WriteString(l.src[from : l.pos+1])
			l.pos += 2
			from = l.pos
		case c == q:
			var text string
			if b.Len() == 0 {
				text = l.src[from:l.pos]
			} else {
				b.WriteString(l.src[from:l.pos])
				text = b.String()
			}
			l.pos++
			if !utf8.ValidString(text) {
				return token{kind: tokError, text: "invalid UTF-8 in quoted string", start: start, end: l.pos}
			}
			return token{kind: tokString, text: text, start: start, end: l.pos, quote: q}
		default:
			l.pos++
		}
	}
	b.WriteString(l.src[from:])
	return token{kind: tokError, text: fmt.Sprintf("unterminated string: expected %c to close the string", q),
		start: start, end: l.pos, unterminated: true, quote: q}
}

// describe names a token for an error message.
func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of filter"
	case tokString:
		return "quoted string " + quoteText(t.text, t.quote)
	case tokWord:
		if isKeyword(t.text) {
			return "keyword " + strings.ToUpper(t.text)
		}
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func quoteText(s string, q byte) string {
	if q == 0 {
		q = '\''
	}
	qs := string(q)
	return qs + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), qs, `\`+qs) + qs
}

var keywords = [...]string{"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "UNLIKE", "IUNLIKE", "HAS"}

func isKeyword(w string) bool { return keyword(w) != "" }

// keyword returns the upper-case keyword w spells, or "".
func keyword(w string) string {
	if len(w) < 2 || len(w) > 7 {
		return ""
	}
	for _, k := range keywords {
		if strings.EqualFold(w, k) {
			return k
		}
	}
	return ""
}
