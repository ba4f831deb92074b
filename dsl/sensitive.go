package dsl

import (
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// sensitiveMark marks the values of variables declared sensitive = true in
// the evaluation context, and so every value computed from them: HCL's
// diagnostic printer does not show marked values, and Config records which
// attributes hold one.
type sensitiveMark struct{}

// Redacted replaces a sensitive value in what flowengine prints.
const Redacted = "(sensitive)"

// minSecret is the shortest sensitive string replaced in free text (logs,
// error messages): shorter ones would blank out unrelated words. Values are
// kept out of diagnostics whatever their length.
const minSecret = 4

// markSensitive returns the variables object for the evaluation context, the
// sensitive ones marked.
func (p *Pipeline) markSensitive() cty.Value {
	if len(p.Variables) == 0 {
		return cty.EmptyObjectVal
	}
	vars := map[string]cty.Value{}
	for name, v := range p.Variables {
		if p.Sensitive[name] {
			v = v.Mark(sensitiveMark{})
		}
		vars[name] = v
	}
	return cty.ObjectVal(vars)
}

// collectSecrets gathers the strings of sensitive variables, longest first.
func (p *Pipeline) collectSecrets() {
	seen := map[string]bool{}
	var walk func(v cty.Value)
	walk = func(v cty.Value) {
		v, _ = v.UnmarkDeep()
		if !v.IsKnown() || v.IsNull() {
			return
		}
		switch t := v.Type(); {
		case t == cty.String:
			if s := v.AsString(); len(s) >= minSecret && !seen[s] {
				seen[s] = true
				p.secrets = append(p.secrets, s)
			}
		case t.IsListType() || t.IsSetType() || t.IsTupleType() || t.IsMapType() || t.IsObjectType():
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				if t.IsMapType() || t.IsObjectType() {
					walk(k)
				}
				walk(e)
			}
		}
	}
	for name := range p.Sensitive {
		walk(p.Variables[name])
	}
	sort.Slice(p.secrets, func(i, j int) bool { return len(p.secrets[i]) > len(p.secrets[j]) })
	if len(p.secrets) > 0 {
		pairs := make([]string, 0, 2*len(p.secrets))
		for _, s := range p.secrets {
			pairs = append(pairs, s, Redacted)
		}
		p.redactor = strings.NewReplacer(pairs...)
	}
}

// HasSecrets reports whether the pipeline declares sensitive values to hide.
func (p *Pipeline) HasSecrets() bool { return p != nil && p.redactor != nil }

// Redact replaces the values of sensitive variables in s by "(sensitive)".
func (p *Pipeline) Redact(s string) string {
	if !p.HasSecrets() {
		return s
	}
	return p.redactor.Replace(s)
}

// RedactDiagnostics returns diags with sensitive values removed from their
// summaries and details. The diagnostics are copied, not changed.
func (p *Pipeline) RedactDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if !p.HasSecrets() {
		return diags
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary, c.Detail = p.Redact(d.Summary), p.Redact(d.Detail)
		if c.EvalContext != nil && c.EvalContext != p.EvalContext && c.Expression != nil && usesVariables(c.Expression) {
			// Values printed under the source line come from the context:
			// one whose variables are not marked could show a secret.
			c.EvalContext = nil
		}
		out[i] = &c
	}
	return out
}

// StageEvalContext is the evaluation context for stages that evaluate
// expressions while they run (classifier rules): the pipeline's variables,
// locals and functions, without the marks that track sensitive values, so
// that stage code can read every value.
func (p *Pipeline) StageEvalContext() *hcl.EvalContext {
	if p.EvalContext == nil {
		return nil
	}
	ctx := &hcl.EvalContext{Functions: p.EvalContext.Functions, Variables: map[string]cty.Value{}}
	for k, v := range p.EvalContext.Variables {
		ctx.Variables[k], _ = v.UnmarkDeep()
	}
	return ctx
}

func usesVariables(expr hcl.Expression) bool {
	for _, tr := range expr.Variables() {
		if r := tr.RootName(); r == "var" || r == "local" {
			return true
		}
	}
	return false
}

// unmarkSensitive reports whether v holds a value computed from a sensitive variable,
// and returns v without marks.
func unmarkSensitive(v cty.Value) (cty.Value, bool) {
	v, marks := v.UnmarkDeep()
	_, ok := marks[sensitiveMark{}]
	return v, ok
}
