package filter

import (
	"strings"
	"unicode/utf8"

	"github.com/flowengine/flowengine/flow"
)

// Completion is one suggestion: Kind is "column", "operator" or "value".
type Completion struct {
	Label  string
	Detail string
	Kind   string
}

// Suggestions is what may come at an offset of a filter.
type Suggestions struct {
	// Completions are the columns, operators and named values that fit,
	// filtered by Prefix.
	Completions []Completion
	// Values is set when a value of this column is expected: the caller
	// may add values seen in the store.
	Values *flow.Column
	// Prefix is the part of the word being typed before the offset (the
	// unquoted text of a string being typed), Start its byte offset.
	Prefix string
	Start  int
	// Quoted is set when the offset is within a quoted string.
	Quoted bool
	// Op is the operator before the value expected (HAS, =, IN...).
	Op string
}

// Literal returns text as it is typed in a filter: bare when it reads back as
// one word that is not a keyword, else in single quotes.
func Literal(text string) string {
	if text != "" && !isKeyword(text) {
		l := lexer{src: text}
		if t := l.next(); t.kind == tokWord && t.start == 0 && t.end == len(text) {
			return text
		}
	}
	return quoteText(text, '\'')
}

var operatorDetails = map[string]string{
	"=": "equals", "!=": "differs from", "<": "less than", "<=": "at most", ">": "greater than", ">=": "at least",
	"LIKE": "matches a pattern (% any text, _ one character)", "ILIKE": "matches a pattern, ignoring case",
	"UNLIKE": "does not match a pattern", "IUNLIKE": "does not match a pattern, ignoring case",
	"<<": "address within a prefix", "IN": "one of a list of values", "NOT IN": "none of a list of values",
	"HAS": "the list holds the value", "NOT HAS": "the list does not hold the value",
}

type state uint8

const (
	wantColumn state = iota
	wantOperator
	wantNotIn // after NOT following a column
	wantValue
	wantListOpen
	wantListValue
	wantListNext
	wantLogical
	lost
)

// Complete says what may be typed at offset (a byte offset, clamped to the
// text) of src.
func Complete(src string, offset int) Suggestions {
	if offset < 0 {
		offset = 0
	}
	if offset > len(src) {
		offset = len(src)
	}
	for offset > 0 && offset < len(src) && !utf8.RuneStart(src[offset]) {
		offset--
	}
	text := src[:offset]
	l := lexer{src: text}
	var toks []token
	for {
		t := l.next()
		if t.kind == tokEOF {
			break
		}
		toks = append(toks, t)
		if t.kind == tokError {
			break
		}
	}
	// The word being typed, if the offset touches it.
	var partial *token
	if n := len(toks); n > 0 {
		last := toks[n-1]
		switch {
		case last.kind == tokError && !last.unterminated:
			return Suggestions{Start: offset}
		case last.end == offset && (last.kind == tokWord || last.unterminated || last.kind == tokOp):
			partial = &toks[n-1]
			toks = toks[:n-1]
		}
	}
	st, col, op := wantColumn, flow.Column{}, ""
	for _, t := range toks {
		st, col, op = step(st, col, op, t)
		if st == lost {
			return Suggestions{Start: offset}
		}
	}
	out := Suggestions{Start: offset}
	if partial != nil {
		out.Start = partial.start
		out.Prefix = partial.text
		if partial.unterminated {
			out.Prefix = src[partial.start+1 : offset]
			l := lexer{src: src[partial.start:offset] + string(partial.quote)}
			if t := l.next(); t.kind == tokString {
				out.Prefix = t.text
			}
			out.Quoted = true
		}
		if partial.kind == tokOp && st != wantOperator {
			// An operator typed where none fits: nothing to offer.
			return Suggestions{Start: offset}
		}
	}
	add := func(label, detail, kind string) {
		if len(label) >= len(out.Prefix) && strings.EqualFold(label[:len(out.Prefix)], out.Prefix) {
			out.Completions = append(out.Completions, Completion{Label: label, Detail: detail, Kind: kind})
		}
	}
	switch st {
	case wantColumn:
		for _, c := range allColumns {
			add(c.Name, c.Description, "column")
		}
		add("NOT", "negates the condition that follows", "operator")
	case wantOperator:
		for _, o := range Operators(col) {
			add(o, operatorDetails[o], "operator")
		}
	case wantNotIn:
		add("IN", operatorDetails["NOT IN"], "operator")
		if col.Kind.IsList() {
			add("HAS", operatorDetails["NOT HAS"], "operator")
		}
	case wantValue, wantListValue:
		out.Values = &col
		out.Op = op
		for _, n := range NamesOf(col) {
			add(n.Name, col.Name+" "+uintText(n.Value), "value")
		}
		if col.Kind == flow.KindBoundary {
			add("external", "interface facing outside the network", "value")
			add("internal", "interface inside the network", "value")
		}
	case wantListOpen:
		add("(", "start of the list of values", "operator")
	case wantListNext:
		add(",", "another value", "operator")
		add(")", "end of the list", "operator")
	case wantLogical:
		add("AND", "both conditions hold", "operator")
		add("OR", "either condition holds", "operator")
	}
	return out
}

func uintText(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// step moves the completion state machine over one token.
func step(st state, col flow.Column, op string, t token) (state, flow.Column, string) {
	kw := ""
	if t.kind == tokWord {
		kw = keyword(t.text)
	}
	switch st {
	case wantColumn:
		switch {
		case kw == "NOT":
			return wantColumn, col, ""
		case t.kind == tokLParen:
			return wantColumn, col, ""
		case t.kind == tokWord && kw == "":
			c, ok := LookupColumn(t.text)
			if !ok {
				return lost, col, ""
			}
			return wantOperator, c, ""
		}
	case wantOperator:
		switch {
		case t.kind == tokOp:
			return wantValue, col, t.text
		case kw == "IN":
			return wantListOpen, col, "IN"
		case kw == "NOT":
			return wantNotIn, col, ""
		case kw == "LIKE" || kw == "ILIKE" || kw == "UNLIKE" || kw == "IUNLIKE" || kw == "HAS":
			return wantValue, col, kw
		}
	case wantNotIn:
		switch kw {
		case "IN":
			return wantListOpen, col, "NOT IN"
		case "HAS":
			return wantValue, col, "NOT HAS"
		}
	case wantListOpen:
		if t.kind == tokLParen {
			return wantListValue, col, op
		}
	case wantValue:
		if (t.kind == tokWord && kw == "") || t.kind == tokString {
			return wantLogical, col, ""
		}
	case wantListValue:
		if (t.kind == tokWord && kw == "") || t.kind == tokString {
			return wantListNext, col, op
		}
	case wantListNext:
		switch t.kind {
		case tokComma:
			return wantListValue, col, op
		case tokRParen:
			return wantLogical, col, ""
		}
	case wantLogical:
		switch {
		case kw == "AND" || kw == "OR":
			return wantColumn, col, ""
		case t.kind == tokRParen:
			return wantLogical, col, ""
		}
	}
	return lost, col, op
}

// Quote returns text in single quotes, as a filter reads it back.
func Quote(text string) string { return quoteText(text, '\'') }
