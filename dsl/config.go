package dsl

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Config is a decoded stage body (or nested block): every attribute of its spec
// with its value, or its default, and the source range to point diagnostics at.
type Config struct {
	DefRange hcl.Range // the block header
	Labels   []string  // labels of a nested block
	values   map[string]any
	ctyVals  map[string]cty.Value
	exprs    map[string]hcl.Expression
	ranges   map[string]hcl.Range
	set      map[string]bool
	failed   map[string]bool
	secret   map[string]bool
	blocks   map[string][]*Config
}

func newConfig(def hcl.Range) *Config {
	return &Config{DefRange: def, values: map[string]any{}, ctyVals: map[string]cty.Value{},
		exprs: map[string]hcl.Expression{}, ranges: map[string]hcl.Range{}, set: map[string]bool{},
		failed: map[string]bool{}, secret: map[string]bool{}, blocks: map[string][]*Config{}}
}

// IsSet reports whether the attribute was written in the file (not defaulted).
func (c *Config) IsSet(name string) bool { return c.set[name] }

// Failed reports whether the attribute was written but its value could not be
// decoded. Its mistake is already reported (a wrong type, an undeclared
// variable, a variable without value); the stage reads it as unset and must
// not blame it again.
func (c *Config) Failed(name string) bool { return c.failed[name] }

// Sensitive reports whether the attribute's value comes from a variable
// declared sensitive = true: the stage must not print it (logs, errors).
func (c *Config) Sensitive(name string) bool { return c.secret[name] }

// BlamesFailed reports whether rng lies within an attribute that failed to
// decode, in this block or a nested one: a diagnostic there would repeat,
// less precisely, a mistake already reported.
func (c *Config) BlamesFailed(rng *hcl.Range) bool {
	if rng == nil {
		return false
	}
	for name := range c.failed {
		r := c.ranges[name]
		if r.Filename == rng.Filename && r.Start.Byte <= rng.Start.Byte && rng.End.Byte <= r.End.Byte {
			return true
		}
	}
	for _, blks := range c.blocks {
		for _, b := range blks {
			if b.BlamesFailed(rng) {
				return true
			}
		}
	}
	return false
}

// Range returns the range of the attribute's value, or the block header when
// the attribute was not written: the place to point a diagnostic at.
func (c *Config) Range(name string) *hcl.Range {
	if r, ok := c.ranges[name]; ok {
		return &r
	}
	r := c.DefRange
	return &r
}

// String returns a string attribute.
func (c *Config) String(name string) string { v, _ := c.values[name].(string); return v }

// Int returns a whole-number attribute.
func (c *Config) Int(name string) int64 { v, _ := c.values[name].(int64); return v }

// Float returns a number attribute.
func (c *Config) Float(name string) float64 {
	switch v := c.values[name].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

// Bool returns a bool attribute.
func (c *Config) Bool(name string) bool { v, _ := c.values[name].(bool); return v }

// Duration returns a duration attribute.
func (c *Config) Duration(name string) time.Duration {
	v, _ := c.values[name].(time.Duration)
	return v
}

// Size returns a size attribute in bytes.
func (c *Config) Size(name string) int64 { v, _ := c.values[name].(int64); return v }

// Strings returns a list-of-strings attribute.
func (c *Config) Strings(name string) []string { v, _ := c.values[name].([]string); return v }

// StringMap returns a map-of-strings attribute.
func (c *Config) StringMap(name string) map[string]string {
	v, _ := c.values[name].(map[string]string)
	return v
}

// Value returns the attribute's evaluated value (cty.NilVal when unset without
// default). It is how stages read TypeAny attributes.
func (c *Config) Value(name string) cty.Value {
	if v, ok := c.ctyVals[name]; ok {
		return v
	}
	return cty.NilVal
}

// Expr returns the expression of an attribute written in the file, or nil:
// TypeExpr and TypeRef attributes are only that; for others it lets a stage
// point a diagnostic inside the value (one entry of a map, say).
func (c *Config) Expr(name string) hcl.Expression { return c.exprs[name] }

// Blocks returns the nested blocks of one type, in file order.
func (c *Config) Blocks(typ string) []*Config { return c.blocks[typ] }

// DecodeBody decodes body against spec, evaluating attributes in ctx. Every
// problem is reported, each with its range; unknown attributes and blocks get
// a "did you mean" suggestion.
func DecodeBody(body hcl.Body, spec *Spec, ctx *hcl.EvalContext, def hcl.Range) (*Config, hcl.Diagnostics) {
	return decodeBody(body, spec.Attrs, spec.Blocks, ctx, def, nil)
}

func decodeBody(body hcl.Body, attrs []Attr, blocks []BlockSpec, ctx *hcl.EvalContext, def hcl.Range, labels []string) (*Config, hcl.Diagnostics) {
	cfg := newConfig(def)
	cfg.Labels = labels
	content, diags := body.Content(schemaOf(attrs, blocks))
	for _, a := range attrs {
		attr, ok := content.Attributes[a.Name]
		if !ok {
			if a.Default != nil {
				cfg.values[a.Name] = a.Default
				if v, err := goToCty(a.Default); err == nil {
					cfg.ctyVals[a.Name] = v
				}
			}
			continue
		}
		cfg.set[a.Name] = true
		cfg.ranges[a.Name] = attr.Expr.Range()
		cfg.exprs[a.Name] = attr.Expr
		if d, ok := cfg.decodeAttr(a, attr, ctx); !ok {
			diags = append(diags, d...)
			cfg.failed[a.Name] = true
			// Keep the default so that the stage can still check the rest.
			if a.Default != nil {
				cfg.values[a.Name] = a.Default
				if v, err := goToCty(a.Default); err == nil {
					cfg.ctyVals[a.Name] = v
				}
			} else {
				delete(cfg.values, a.Name)
				delete(cfg.ctyVals, a.Name)
			}
		}
	}
	for _, bs := range blocks {
		var n int
		for _, blk := range content.Blocks {
			if blk.Type != bs.Type {
				continue
			}
			n++
			if bs.Max > 0 && n > bs.Max {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Too many %q blocks", bs.Type),
					Detail: fmt.Sprintf("At most %d %q block(s) are allowed here.", bs.Max, bs.Type), Subject: blk.DefRange.Ptr()})
				continue
			}
			sub, d := decodeBody(blk.Body, bs.Attrs, bs.Blocks, ctx, blk.DefRange, blk.Labels)
			diags = append(diags, d...)
			cfg.blocks[bs.Type] = append(cfg.blocks[bs.Type], sub)
		}
		if n < bs.Min {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Missing %q block", bs.Type),
				Detail: fmt.Sprintf("At least %d %q block(s) are required here.", bs.Min, bs.Type), Subject: def.Ptr()})
		}
	}
	return cfg, diags
}

// decodeAttr evaluates and converts one attribute. ok is false when the
// value could not be decoded; diags then say why, unless the cause is an
// unknown value, whose mistake (an undeclared variable, a variable without
// value, a failed evaluation) is reported where it lies.
func (cfg *Config) decodeAttr(a Attr, attr *hcl.Attribute, ctx *hcl.EvalContext) (diags hcl.Diagnostics, ok bool) {
	rng := attr.Expr.Range()
	bad := func(detail string) (hcl.Diagnostics, bool) {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", a.Name),
			Detail: detail, Subject: &rng, Expression: attr.Expr, EvalContext: ctx}}, false
	}
	switch a.Type {
	case TypeExpr, TypeRef:
		cfg.exprs[a.Name] = attr.Expr
		return nil, true
	}
	val, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() {
		return diags, false
	}
	val, secret := unmarkSensitive(val)
	if secret {
		cfg.secret[a.Name] = true
	}
	if !val.IsWhollyKnown() {
		// Only a mistake reported elsewhere makes a value unknown here.
		return diags, false
	}
	if val.IsNull() {
		if a.Required {
			return bad("A value is required; null is not allowed.")
		}
		return nil, true
	}
	cfg.ctyVals[a.Name] = val
	var msg string // what is wrong, said once
	parseErr := func(err error) string {
		if secret { // the error quotes the value
			return fmt.Sprintf("The value, which is sensitive, is not a valid %s.", a.Type)
		}
		return sentence(err)
	}
	switch a.Type {
	case TypeString:
		var str string
		if str, msg = toString(val, "A string"); msg == "" {
			if len(a.OneOf) > 0 && !contains(a.OneOf, str) {
				msg = fmt.Sprintf("%q is not one of %s.", str, quoteList(a.OneOf))
				if secret {
					msg = fmt.Sprintf("The value, which is sensitive, is not one of %s.", quoteList(a.OneOf))
				} else if sug := DidYouMean(str, a.OneOf); sug != "" {
					msg += fmt.Sprintf(" Did you mean %q?", sug)
				}
				break
			}
			cfg.values[a.Name] = str
		}
	case TypeInt:
		var n int64
		if n, msg = toInt(val); msg == "" {
			cfg.values[a.Name] = n
		}
	case TypeFloat:
		if v, err := convert.Convert(val, cty.Number); err != nil {
			msg = required("A number", val)
		} else {
			f, _ := v.AsBigFloat().Float64()
			cfg.values[a.Name] = f
		}
	case TypeBool:
		if v, err := convert.Convert(val, cty.Bool); err != nil {
			msg = required("A bool (true or false)", val)
		} else {
			cfg.values[a.Name] = v.True()
		}
	case TypeDuration:
		var str string
		if str, msg = toString(val, `A duration like "30s"`); msg == "" {
			if d, err := ParseDuration(str); err != nil {
				msg = parseErr(err)
			} else {
				cfg.values[a.Name] = d
			}
		}
	case TypeSize:
		switch {
		case val.Type() == cty.Number:
			var n int64
			if n, msg = toInt(val); msg == "" && n < 0 {
				msg = fmt.Sprintf("A size is not negative (%d).", n)
			}
			if msg == "" {
				cfg.values[a.Name] = n
			}
		case val.Type() == cty.String:
			if n, err := ParseSize(val.AsString()); err != nil {
				msg = parseErr(err)
			} else {
				cfg.values[a.Name] = n
			}
		default:
			msg = required(`A size (a number of bytes, or a string like "64MiB")`, val)
		}
	case TypeStringList:
		if v, err := convert.Convert(val, cty.List(cty.String)); err != nil {
			msg = required("A list of strings", val)
		} else {
			out := []string{}
			for _, e := range v.AsValueSlice() {
				if e.IsNull() {
					msg = "List elements must not be null."
					break
				}
				out = append(out, e.AsString())
			}
			if msg == "" {
				cfg.values[a.Name] = out
			}
		}
	case TypeStringMap:
		if v, err := convert.Convert(val, cty.Map(cty.String)); err != nil {
			msg = required("A map of strings", val)
		} else {
			out := map[string]string{}
			for k, e := range v.AsValueMap() {
				if !e.IsNull() {
					out[k] = e.AsString()
				}
			}
			cfg.values[a.Name] = out
		}
	case TypeAny:
		cfg.values[a.Name] = val
	}
	if msg != "" {
		delete(cfg.values, a.Name)
		return bad(msg)
	}
	return nil, true
}

// required says which type was wanted and which one was given.
func required(want string, val cty.Value) string {
	if val.IsNull() {
		return want + " is required, not null."
	}
	return fmt.Sprintf("%s is required, not %s.", want, typeName(val.Type()))
}

// typeName names a type as a pipeline author writes values of it.
func typeName(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "a bool"
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "a map"
	}
	return t.FriendlyName()
}

// sentence turns an error into a sentence of a diagnostic's detail.
func sentence(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// toString converts a known, non-null value to a string; msg says what is
// wrong otherwise, want naming what was expected ("A string").
func toString(v cty.Value, want string) (s string, msg string) {
	c, err := convert.Convert(v, cty.String)
	if err != nil || c.IsNull() || !c.IsKnown() {
		return "", required(want, v)
	}
	return c.AsString(), ""
}

// toInt converts a known, non-null value to a whole number; msg says what is
// wrong otherwise.
func toInt(v cty.Value) (n int64, msg string) {
	c, err := convert.Convert(v, cty.Number)
	if err != nil || c.IsNull() || !c.IsKnown() {
		return 0, required("A whole number", v)
	}
	bf := c.AsBigFloat()
	if !bf.IsInt() {
		return 0, fmt.Sprintf("A whole number is required, not %s.", bf.Text('g', -1))
	}
	n, acc := bf.Int64()
	if acc != big.Exact {
		return 0, fmt.Sprintf("%s is out of range.", bf.Text('g', -1))
	}
	return n, ""
}

func goToCty(v any) (cty.Value, error) {
	switch v := v.(type) {
	case string:
		return cty.StringVal(v), nil
	case int64:
		return cty.NumberIntVal(v), nil
	case int:
		return cty.NumberIntVal(int64(v)), nil
	case float64:
		return cty.NumberFloatVal(v), nil
	case bool:
		return cty.BoolVal(v), nil
	case time.Duration:
		return cty.StringVal(v.String()), nil
	case []string:
		if len(v) == 0 {
			return cty.ListValEmpty(cty.String), nil
		}
		vals := make([]cty.Value, len(v))
		for i, s := range v {
			vals[i] = cty.StringVal(s)
		}
		return cty.ListVal(vals), nil
	case map[string]string:
		if len(v) == 0 {
			return cty.MapValEmpty(cty.String), nil
		}
		vals := map[string]cty.Value{}
		for k, s := range v {
			vals[k] = cty.StringVal(s)
		}
		return cty.MapVal(vals), nil
	case cty.Value:
		return v, nil
	}
	return cty.NilVal, fmt.Errorf("unsupported default %T", v)
}

// ParseDuration parses Go durations plus day ("7d") and week ("2w") units.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if strings.HasSuffix(s, u.suffix) {
			n, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("%q is not a duration like \"30s\", \"5m\" or \"7d\"", s)
			}
			return time.Duration(n * float64(u.unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration like \"30s\", \"5m\" or \"7d\"", s)
	}
	return d, nil
}

// ParseSize parses a byte size: "1048576", "512KiB", "64MiB", "1GB".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), 64)
			if err != nil || n < 0 {
				break
			}
			return int64(n * float64(u.mult)), nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size like \"64MiB\" or \"1GB\"", s)
	}
	return n, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
