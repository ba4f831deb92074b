package filter

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/flowengine/flowengine/flow"
)

// Expr is a node of a parsed filter: *Logical, *Not or *Compare.
type Expr interface{ expr() }

// Logical joins terms with AND or OR.
type Logical struct {
	Op    string // "AND" or "OR"
	Terms []Expr // two or more
}

// Not negates its operand.
type Not struct{ X Expr }

// Compare is one comparison of a column with typed values. Values hold one
// value, or several for IN and NOT IN: uint64 (KindUint and KindMAC), string
// (KindString), netip.Addr (KindAddr; netip.Prefix for <<), flow.Boundary
// (KindBoundary) or time.Time (KindTime). List columns compared whole (=,
// !=, IN, NOT IN) take flow.Uint32s (KindASPath, KindCommunities) or
// flow.LargeCommunities; with HAS and NOT HAS they take one element: uint64
// (an AS number, or a community as ASN<<16 | value) or flow.LargeCommunity.
// Column may be a derived column (see DerivedColumns).
type Compare struct {
	Column flow.Column
	Op     string // = != < <= > >= LIKE ILIKE UNLIKE IUNLIKE << IN "NOT IN" HAS "NOT HAS"
	Values []any
	Start  int // byte offset of the column name
	End    int // byte offset past the comparison
}

func (*Logical) expr() {}
func (*Not) expr()     {}
func (*Compare) expr() {}

// Error is a mistake in a filter, where it is: Offset counts bytes from 0,
// Line and Column count from 1 (Column in characters).
type Error struct {
	Offset  int
	Line    int
	Column  int
	Message string
}

func (e Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// Position converts a byte offset of src into a 1-based line and column
// (characters).
func Position(src string, offset int) (line, column int) {
	if offset > len(src) {
		offset = len(src)
	}
	line = 1 + strings.Count(src[:offset], "\n")
	ls := strings.LastIndexByte(src[:offset], '\n') + 1
	return line, 1 + utf8.RuneCountInString(src[ls:offset])
}

func newError(src string, offset int, format string, args ...any) Error {
	l, c := Position(src, offset)
	return Error{Offset: offset, Line: l, Column: c, Message: fmt.Sprintf(format, args...)}
}

// columnsByLower maps lower-case names to columns, columnsByName the names
// as the schema spells them.
var columnsByLower, columnsByName = func() (map[string]flow.Column, map[string]flow.Column) {
	lower := make(map[string]flow.Column, len(allColumns))
	exact := make(map[string]flow.Column, len(allColumns))
	for _, c := range allColumns {
		lower[strings.ToLower(c.Name)] = c
		exact[c.Name] = c
	}
	return lower, exact
}()

// Derived is a column computed at query time from an element of a list
// column: a dimension and a filter column like the others, which no table
// stores.
type Derived struct {
	Column flow.Column // the derived column (KindUint)
	From   string      // the list column it is read from
	Index  int         // the element: 1 for the first, -1 for the last
}

// DerivedColumns are the derived columns: the first AS of the AS path (the
// neighbour) and the last one (the origin).
var DerivedColumns = []Derived{
	{flow.Column{Name: "DstFirstAS", Kind: flow.KindUint, Bits: 32, Dimension: true,
		Description: "first AS of DstASPath (the neighbour AS the traffic leaves to), 0 when the path is empty"}, "DstASPath", 1},
	{flow.Column{Name: "DstLastAS", Kind: flow.KindUint, Bits: 32, Dimension: true,
		Description: "last AS of DstASPath (the origin AS of the route), 0 when the path is empty"}, "DstASPath", -1},
}

// DerivedFrom returns the derived column called name (as the schema spells
// it).
func DerivedFrom(name string) (Derived, bool) {
	for _, d := range DerivedColumns {
		if d.Column.Name == name {
			return d, true
		}
	}
	return Derived{}, false
}

// AllColumns are the flow columns followed by the derived ones: every column
// a filter or a dimension may name.
func AllColumns() []flow.Column { return allColumns }

var allColumns = func() []flow.Column {
	out := append([]flow.Column(nil), flow.Columns...)
	for _, d := range DerivedColumns {
		out = append(out, d.Column)
	}
	return out
}()

// LookupColumn finds a column by name, ignoring case: a flow column or a
// derived one.
func LookupColumn(name string) (flow.Column, bool) {
	if c, ok := columnsByName[name]; ok {
		return c, true
	}
	c, ok := columnsByLower[strings.ToLower(name)]
	return c, ok
}

// syntaxError stops the parser.
type syntaxError struct{ err Error }

type parser struct {
	src   string
	lex   lexer
	tok   token
	errs  []Error // errors found while parsing went on (values, columns)
	depth int     // nesting of parentheses and NOT
}

// maxDepth bounds the nesting of parentheses and NOT.
const maxDepth = 100

// Parse parses a filter. An empty filter (blanks and comments only) yields a
// nil Expr and no error. On mistakes it returns every error it found: the
// first syntax error ends parsing; errors in values and column names do not.
func Parse(src string) (Expr, []Error) {
	p := parser{src: src, lex: lexer{src: src}}
	p.advance()
	if p.tok.kind == tokError {
		return nil, []Error{p.errorAt(p.tok.start, "%s", p.tok.text)}
	}
	if p.tok.kind == tokEOF {
		return nil, nil
	}
	e, ok := p.parseTop()
	if !ok {
		return nil, p.errs
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return e, nil
}

func (p *parser) parseTop() (e Expr, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			se, isSyntax := r.(syntaxError)
			if !isSyntax {
				panic(r)
			}
			p.errs = append(p.errs, se.err)
			e, ok = nil, false
		}
	}()
	e = p.parseOr()
	p.check()
	if p.tok.kind != tokEOF {
		if p.tok.kind == tokRParen {
			p.fail(p.tok.start, `unexpected ")": no "(" to close`)
		}
		p.fail(p.tok.start, "expected AND, OR or end of filter, got %s", describe(p.tok))
	}
	return e, true
}

func (p *parser) errorAt(offset int, format string, args ...any) Error {
	return newError(p.src, offset, format, args...)
}

func (p *parser) fail(offset int, format string, args ...any) {
	panic(syntaxError{p.errorAt(offset, format, args...)})
}

func (p *parser) advance() {
	p.tok = p.lex.next()
}

// check fails on a lexical error token.
func (p *parser) check() {
	if p.tok.kind == tokError {
		p.fail(p.tok.start, "%s", p.tok.text)
	}
}

func (p *parser) isKeyword(k string) bool {
	return p.tok.kind == tokWord && len(p.tok.text) == len(k) && strings.EqualFold(p.tok.text, k)
}

func (p *parser) parseOr() Expr {
	left := p.parseAnd()
	if !p.isKeyword("OR") {
		return left
	}
	or := &Logical{Op: "OR", Terms: []Expr{left}}
	for p.isKeyword("OR") {
		p.advance()
		or.Terms = append(or.Terms, p.parseAnd())
	}
	return or
}

func (p *parser) parseAnd() Expr {
	left := p.parseNot()
	if !p.isKeyword("AND") {
		return left
	}
	and := &Logical{Op: "AND", Terms: []Expr{left}}
	for p.isKeyword("AND") {
		p.advance()
		and.Terms = append(and.Terms, p.parseNot())
	}
	return and
}

func (p *parser) parseNot() Expr {
	if p.isKeyword("NOT") {
		p.nest()
		p.advance()
		x := p.parseNot()
		p.depth--
		return &Not{X: x}
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() Expr {
	p.check()
	switch p.tok.kind {
	case tokLParen:
		open := p.tok.start
		p.nest()
		p.advance()
		e := p.parseOr()
		p.depth--
		p.check()
		if p.tok.kind != tokRParen {
			if p.tok.kind == tokEOF {
				p.fail(p.tok.start, `expected ")" to close the "(" at column %d, got end of filter`, p.column(open))
			}
			p.fail(p.tok.start, `expected AND, OR or ")", got %s`, describe(p.tok))
		}
		p.advance()
		return e
	case tokWord:
		if isKeyword(p.tok.text) {
			p.fail(p.tok.start, "expected a column name, NOT or \"(\", got %s", describe(p.tok))
		}
		return p.parseCompare()
	}
	p.fail(p.tok.start, `expected a column name, NOT or "(", got %s`, describe(p.tok))
	return nil
}

func (p *parser) nest() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.tok.start, "too deeply nested: at most %d levels of parentheses and NOT", maxDepth)
	}
}

func (p *parser) column(offset int) int {
	_, c := Position(p.src, offset)
	return c
}

// operators a column kind accepts, besides IN and NOT IN which every kind
// accepts.
func operators(k flow.Kind) []string {
	switch k {
	case flow.KindUint, flow.KindTime:
		return []string{"=", "!=", "<", "<=", ">", ">="}
	case flow.KindString:
		return []string{"=", "!=", "LIKE", "ILIKE", "UNLIKE", "IUNLIKE"}
	case flow.KindAddr:
		return []string{"=", "!=", "<<"}
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		return []string{"HAS", "NOT HAS", "=", "!="}
	}
	return []string{"=", "!="} // MAC, boundary
}

// Operators lists the operators valid after a column, IN and NOT IN included.
func Operators(c flow.Column) []string {
	return append(operators(c.Kind), "IN", "NOT IN")
}

func validOperator(k flow.Kind, op string) bool {
	for _, o := range operators(k) {
		if o == op {
			return true
		}
	}
	return false
}

func (p *parser) parseCompare() Expr {
	colTok := p.tok
	col, known := LookupColumn(colTok.text)
	if !known {
		msg := fmt.Sprintf("unknown column %q", colTok.text)
		if s := suggest(colTok.text); s != "" {
			msg += "; did you mean " + s + "?"
		}
		p.errs = append(p.errs, p.errorAt(colTok.start, "%s", msg))
	}
	p.advance()
	p.check()
	cmp := &Compare{Column: col, Start: colTok.start}
	opTok := p.tok
	switch {
	case p.tok.kind == tokOp:
		cmp.Op = p.tok.text
	case p.tok.kind == tokWord && keyword(p.tok.text) != "" && keyword(p.tok.text) != "AND" && keyword(p.tok.text) != "OR":
		cmp.Op = keyword(p.tok.text)
		if cmp.Op == "NOT" {
			p.advance()
			p.check()
			switch {
			case p.isKeyword("IN"):
				cmp.Op = "NOT IN"
			case p.isKeyword("HAS"):
				cmp.Op = "NOT HAS"
			case known && col.Kind.IsList():
				p.fail(p.tok.start, "expected IN or HAS after NOT, got %s", describe(p.tok))
			default:
				p.fail(p.tok.start, "expected IN after NOT, got %s", describe(p.tok))
			}
		}
	default:
		what := "an operator"
		if known {
			what = "an operator (" + strings.Join(Operators(col), ", ") + ")"
		}
		p.fail(p.tok.start, "expected %s after %s, got %s", what, colName(col, colTok.text), describe(p.tok))
	}
	if known && cmp.Op != "IN" && cmp.Op != "NOT IN" && !validOperator(col.Kind, cmp.Op) {
		p.errs = append(p.errs, p.errorAt(opTok.start, "operator %s does not apply to %s (%s); expected one of %s",
			cmp.Op, col.Name, kindName(col), strings.Join(Operators(col), ", ")))
		known = false // do not check its value
	}
	p.advance()
	if cmp.Op == "IN" || cmp.Op == "NOT IN" {
		p.check()
		if p.tok.kind != tokLParen {
			p.fail(p.tok.start, `expected "(" after %s, got %s`, cmp.Op, describe(p.tok))
		}
		p.advance()
		for {
			cmp.Values = append(cmp.Values, p.parseValue(col, known, cmp.Op))
			p.check()
			if p.tok.kind == tokComma {
				p.advance()
				continue
			}
			if p.tok.kind != tokRParen {
				p.fail(p.tok.start, `expected "," or ")" in the list of values, got %s`, describe(p.tok))
			}
			cmp.End = p.tok.end
			p.advance()
			break
		}
	} else {
		cmp.End = p.tok.end
		cmp.Values = []any{p.parseValue(col, known, cmp.Op)}
	}
	return cmp
}

func colName(c flow.Column, typed string) string {
	if c.Name != "" {
		return c.Name
	}
	return fmt.Sprintf("%q", typed)
}

// parseValue reads one value token and types it against col (unless the
// column or operator was wrong already).
func (p *parser) parseValue(col flow.Column, check bool, op string) any {
	p.check()
	t := p.tok
	switch t.kind {
	case tokWord:
		if isKeyword(t.text) {
			p.fail(t.start, "expected a value, got %s (quote it to use it as text: '%s')", describe(t), t.text)
		}
	case tokString:
	default:
		what := "a value"
		if check {
			what = valueExpectation(col, op)
		}
		p.fail(t.start, "expected %s, got %s", what, describe(t))
	}
	p.advance()
	if !check {
		return nil
	}
	v, msg := typeValue(col, op, t.text, t.kind == tokString)
	if msg != "" {
		p.errs = append(p.errs, p.errorAt(t.start, "%s", msg))
	}
	return v
}

// suggest returns the column name closest to name, if close enough.
func suggest(name string) string {
	best, bestD := "", 4
	ln := strings.ToLower(name)
	for _, c := range allColumns {
		d := distance(ln, strings.ToLower(c.Name))
		if d < bestD {
			best, bestD = c.Name, d
		}
	}
	if bestD > len(name)/3+1 {
		return ""
	}
	return best
}

// distance is the Levenshtein distance of a and b (bytes).
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	var prev, cur [65]int
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Columns lists the columns a filter uses, each once, in order of appearance.
func Columns(e Expr) []string {
	var out []string
	seen := map[string]bool{}
	Walk(e, func(c *Compare) {
		if !seen[c.Column.Name] {
			seen[c.Column.Name] = true
			out = append(out, c.Column.Name)
		}
	})
	return out
}

// Walk calls f for every comparison of e.
func Walk(e Expr, f func(*Compare)) {
	switch e := e.(type) {
	case *Logical:
		for _, t := range e.Terms {
			Walk(t, f)
		}
	case *Not:
		Walk(e.X, f)
	case *Compare:
		f(e)
	}
}

// Format writes e back as filter text, canonical: column names as the schema
// spells them, keywords in upper case, values as Literal writes them.
func Format(e Expr) string {
	var b strings.Builder
	format(&b, e, "")
	return b.String()
}

func format(b *strings.Builder, e Expr, parent string) {
	switch e := e.(type) {
	case *Logical:
		paren := parent != "" && parent != e.Op
		if paren {
			b.WriteByte('(')
		}
		for i, t := range e.Terms {
			if i > 0 {
				b.WriteString(" " + e.Op + " ")
			}
			format(b, t, e.Op)
		}
		if paren {
			b.WriteByte(')')
		}
	case *Not:
		b.WriteString("NOT ")
		format(b, e.X, "NOT")
	case *Compare:
		b.WriteString(e.Column.Name + " " + e.Op + " ")
		if e.Op == "IN" || e.Op == "NOT IN" {
			b.WriteByte('(')
		}
		for i, v := range e.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(FormatValue(e.Column, v))
		}
		if e.Op == "IN" || e.Op == "NOT IN" {
			b.WriteByte(')')
		}
	}
}
