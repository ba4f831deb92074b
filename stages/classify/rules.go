// Package classify provides the `classifier "exporter"` and
// `classifier "interface"` stages: ordered rules, written as HCL expressions
// over `exporter.*` and `interface.*`, that set classification columns of
// each flow (exporter group, role, site…; interface boundary, provider,
// connectivity…) or reject flows. The first matching rule wins, and results
// are cached so that a rule costs a map lookup per flow, not an evaluation.
package classify

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/flowengine/flowengine/dsl"
)

// varAttr is one attribute of a rule variable (exporter.name, interface.speed).
type varAttr struct {
	name string
	typ  cty.Type
}

// scope is the set of variables a rule may read, beyond the pipeline's own.
type scope map[string][]varAttr

func (s scope) objectType(root string) cty.Type {
	attrs := map[string]cty.Type{}
	for _, a := range s[root] {
		attrs[a.name] = a.typ
	}
	return cty.Object(attrs)
}

var exporterVars = []varAttr{
	{"address", cty.String}, {"name", cty.String}, {"group", cty.String}, {"role", cty.String},
	{"site", cty.String}, {"region", cty.String}, {"tenant", cty.String},
}

var interfaceVars = []varAttr{
	{"index", cty.Number}, {"name", cty.String}, {"description", cty.String},
	{"speed", cty.Number}, {"vlan", cty.Number},
}

// setting is one attribute a rule sets, evaluated on a cache miss.
type setting struct {
	field int // index into the classifier's settings list
	name  string
	expr  hcl.Expression
}

// rule is one compiled `rule` block.
type rule struct {
	when     hcl.Expression // nil: always matches
	settings []setting
	reject   bool
	rng      hcl.Range
}

// ruleSpec builds the spec of a `rule` block with the given settings.
func ruleSpec(desc string, settings []dsl.Attr) dsl.BlockSpec {
	attrs := []dsl.Attr{
		{Name: "when", Type: dsl.TypeExpr, Description: "Condition (bool) for the rule to apply; a rule without `when` always matches."},
	}
	attrs = append(attrs, settings...)
	attrs = append(attrs, dsl.Attr{Name: "reject", Type: dsl.TypeBool, Default: false,
		Description: "Drop the matching flows (counted)."})
	return dsl.BlockSpec{Type: "rule", Description: desc, Attrs: attrs}
}

// refs records which rule variables the rules read, to build cache keys
// from what matters only.
type refs map[string]bool // "exporter.name", "interface.vlan", "exporter" (whole object)

func (r refs) uses(root, attr string) bool { return r[root] || r[root+"."+attr] }

// compileRules turns the decoded rule blocks into rules, checking every
// expression: references limited to the scope (plus the pipeline's own
// variables), known functions, constant values of the right type, and a
// dry run with unknown values to catch type errors.
func compileRules(blocks []*dsl.Config, names []string, sc scope, evalCtx *hcl.EvalContext,
	check func(name string, v cty.Value, rng hcl.Range) *hcl.Diagnostic) ([]rule, refs, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	used := refs{}
	dry := evalCtx.NewChild()
	dry.Variables = map[string]cty.Value{}
	for root := range sc {
		dry.Variables[root] = cty.UnknownVal(sc.objectType(root))
	}
	var rules []rule
	for _, blk := range blocks {
		r := rule{reject: blk.Bool("reject"), rng: blk.DefRange}
		exprOK := func(name string) (hcl.Expression, bool) {
			expr := blk.Expr(name)
			if expr == nil {
				return nil, false
			}
			d := checkExpr(expr, sc, evalCtx, used)
			diags = append(diags, d...)
			return expr, !d.HasErrors()
		}
		if expr, ok := exprOK("when"); ok {
			r.when = expr
			if v, d := expr.Value(dry); d.HasErrors() {
				diags = append(diags, d...)
			} else if (v.Type() != cty.Bool && v.Type() != cty.DynamicPseudoType) || (v.IsKnown() && v.IsNull()) {
				rng := expr.Range()
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid rule condition",
					Detail: fmt.Sprintf("`when` must be a bool; this is %s.", v.Type().FriendlyName()), Subject: &rng})
			}
		}
		for i, name := range names {
			expr, ok := exprOK(name)
			if !ok {
				continue
			}
			r.settings = append(r.settings, setting{field: i, name: name, expr: expr})
			v, d := expr.Value(dry)
			if d.HasErrors() {
				diags = append(diags, d...)
				continue
			}
			rng := expr.Range()
			if _, err := convert.Convert(v, cty.String); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", name),
					Detail: fmt.Sprintf("A string is required; this is %s.", v.Type().FriendlyName()), Subject: &rng})
				continue
			}
			if check != nil && v.IsWhollyKnown() && !v.IsNull() {
				if d := check(name, v, rng); d != nil {
					diags = append(diags, d)
				}
			}
		}
		written := blk.Expr("when") != nil
		for _, name := range names {
			written = written || blk.Expr(name) != nil
		}
		if !written && !r.reject {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Rule does nothing",
				Detail:  "This rule sets nothing and does not reject: it matches every flow and stops the rules after it.",
				Subject: blk.DefRange.Ptr()})
		}
		rules = append(rules, r)
	}
	return rules, used, diags
}

// checkExpr reports references outside the scope and unknown functions.
func checkExpr(expr hcl.Expression, sc scope, evalCtx *hcl.EvalContext, used refs) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		rng := tr.SourceRange()
		attrs, inScope := sc[root]
		if !inScope {
			if _, ok := lookupVar(evalCtx, root); ok {
				continue
			}
			known := knownRoots(sc, evalCtx)
			detail := fmt.Sprintf("Rules here may read %s.", strings.Join(known, ", "))
			if root == "interface" || root == "exporter" {
				detail = fmt.Sprintf("%q is not available in this classifier. ", root) + detail
			} else if s := dsl.DidYouMean(root, known); s != "" {
				detail = fmt.Sprintf("Did you mean %q? ", s) + detail
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown variable",
				Detail: fmt.Sprintf("There is no variable named %q. %s", root, detail), Subject: &rng})
			continue
		}
		if len(tr) < 2 {
			used[root] = true
			continue
		}
		var attr string
		switch step := tr[1].(type) {
		case hcl.TraverseAttr:
			attr = step.Name
		case hcl.TraverseIndex:
			if step.Key.Type() == cty.String && step.Key.IsKnown() {
				attr = step.Key.AsString()
			}
		}
		if attr == "" {
			used[root] = true
			continue
		}
		names := make([]string, len(attrs))
		found := false
		for i, a := range attrs {
			names[i] = a.name
			found = found || a.name == attr
		}
		if !found {
			detail := fmt.Sprintf("%s has no attribute %q; it has %s.", root, attr, strings.Join(names, ", "))
			if s := dsl.DidYouMean(attr, names); s != "" {
				detail = fmt.Sprintf("%s has no attribute %q. Did you mean %q?", root, attr, root+"."+s)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported attribute",
				Detail: detail, Subject: &rng})
			continue
		}
		used[root+"."+attr] = true
	}
	if syn, ok := expr.(hclsyntax.Expression); ok && evalCtx != nil {
		fns := allFunctions(evalCtx)
		_ = hclsyntax.VisitAll(syn, func(n hclsyntax.Node) hcl.Diagnostics {
			call, ok := n.(*hclsyntax.FunctionCallExpr)
			if !ok {
				return nil
			}
			if _, ok := fns[call.Name]; ok {
				return nil
			}
			names := make([]string, 0, len(fns))
			for k := range fns {
				names = append(names, k)
			}
			detail := fmt.Sprintf("There is no function named %q.", call.Name)
			if s := dsl.DidYouMean(call.Name, names); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			rng := call.NameRange
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Call to unknown function",
				Detail: detail, Subject: &rng})
			return nil
		})
	}
	return diags
}

func lookupVar(ctx *hcl.EvalContext, name string) (cty.Value, bool) {
	for c := ctx; c != nil; c = c.Parent() {
		if v, ok := c.Variables[name]; ok {
			return v, true
		}
	}
	return cty.NilVal, false
}

func allFunctions(ctx *hcl.EvalContext) map[string]bool {
	out := map[string]bool{}
	for c := ctx; c != nil; c = c.Parent() {
		for k := range c.Functions {
			out[k] = true
		}
	}
	return out
}

func knownRoots(sc scope, ctx *hcl.EvalContext) []string {
	var out []string
	for k := range sc {
		out = append(out, k)
	}
	for c := ctx; c != nil; c = c.Parent() {
		for k := range c.Variables {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// outcome is the result of running the rules on one exporter or interface.
type outcome struct {
	matched bool
	reject  bool
	mask    uint32    // bit i set: values[i] is to be applied
	values  [8]string // indexed like the classifier's settings
}

// evaluate runs the rules in order; the first that matches wins. A rule whose
// evaluation fails is skipped, and the error is returned beside the outcome
// of the rules after it (the caller counts and logs it).
func evaluate(rules []rule, ctx *hcl.EvalContext, validate func(name, v string) error) (outcome, []error) {
	var errs []error
next:
	for i := range rules {
		r := &rules[i]
		if r.when != nil {
			v, diags := r.when.Value(ctx)
			if diags.HasErrors() {
				errs = append(errs, fmt.Errorf("rule at %s: %s", r.rng, diags.Error()))
				continue
			}
			b, err := convert.Convert(v, cty.Bool)
			if err != nil || b.IsNull() || !b.IsKnown() {
				errs = append(errs, fmt.Errorf("rule at %s: condition is not a bool", r.rng))
				continue
			}
			if b.False() {
				continue
			}
		}
		o := outcome{matched: true, reject: r.reject}
		for _, s := range r.settings {
			v, diags := s.expr.Value(ctx)
			if diags.HasErrors() {
				errs = append(errs, fmt.Errorf("rule at %s: %s: %s", r.rng, s.name, diags.Error()))
				continue next
			}
			sv, err := convert.Convert(v, cty.String)
			if err != nil || !sv.IsKnown() {
				errs = append(errs, fmt.Errorf("rule at %s: %s is not a string", r.rng, s.name))
				continue next
			}
			str := ""
			if !sv.IsNull() {
				str = sv.AsString()
			}
			if validate != nil {
				if err := validate(s.name, str); err != nil {
					errs = append(errs, fmt.Errorf("rule at %s: %w", r.rng, err))
					continue next
				}
			}
			o.mask |= 1 << s.field
			o.values[s.field] = str
		}
		return o, errs
	}
	return outcome{}, errs
}

func defaultEvalContext(ctx *hcl.EvalContext) *hcl.EvalContext {
	if ctx != nil {
		return ctx
	}
	return &hcl.EvalContext{Functions: dsl.Functions()}
}

// freeList hands each concurrent Process call a cache of its own, without
// locks on the hot path. Unlike a sync.Pool, it keeps the caches across
// garbage collections and goroutine migrations: a cache is dropped only when
// more calls than its capacity ever ran at once.
type freeList[T any] struct {
	ch    chan *T
	fresh func() *T
}

func newFreeList[T any](fresh func() *T) *freeList[T] {
	return &freeList[T]{ch: make(chan *T, 64), fresh: fresh}
}

func (f *freeList[T]) get() *T {
	select {
	case c := <-f.ch:
		return c
	default:
		return f.fresh()
	}
}

func (f *freeList[T]) put(c *T) {
	select {
	case f.ch <- c:
	default:
	}
}
