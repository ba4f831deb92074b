package dsl

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// EnvPrefix prefixes environment variables that set pipeline variables.
const EnvPrefix = "FLOWENGINE_VAR_"

type variableDecl struct {
	name      string
	def       cty.Value
	hasDef    bool
	sensitive bool
	rng       hcl.Range
}

// loadVariables resolves variable values: defaults, then FLOWENGINE_VAR_x,
// then -var-file, then -var (last wins).
func (p *Pipeline) loadVariables(blocks []*hcl.Block, opts LoadOptions) hcl.Diagnostics {
	var diags hcl.Diagnostics
	decls := map[string]*variableDecl{}
	for _, blk := range blocks {
		if blk.Type != "variable" {
			continue
		}
		name := blk.Labels[0]
		if prev, dup := decls[name]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate variable",
				Detail: fmt.Sprintf("Variable %q is already declared at %s.", name, prev.rng), Subject: blk.DefRange.Ptr()})
			continue
		}
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable name",
				Detail: fmt.Sprintf("%q is not a valid identifier.", name), Subject: blk.LabelRanges[0].Ptr()})
			continue
		}
		d := &variableDecl{name: name, rng: blk.DefRange}
		content, cd := blk.Body.Content(variableSchema)
		diags = append(diags, cd...)
		if a, ok := content.Attributes["default"]; ok {
			v, vd := a.Expr.Value(&hcl.EvalContext{Functions: Functions()})
			diags = append(diags, vd...)
			d.def, d.hasDef = v, true // unknown when it failed: its mistake is reported
		}
		if a, ok := content.Attributes["sensitive"]; ok {
			v, vd := a.Expr.Value(nil)
			diags = append(diags, vd...)
			if !vd.HasErrors() {
				if v.Type() != cty.Bool || v.IsNull() {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for \"sensitive\"",
						Detail: "sensitive is true or false.", Subject: a.Expr.Range().Ptr()})
				} else {
					d.sensitive = v.True()
				}
			}
		}
		if d.sensitive {
			p.Sensitive[name] = true
		}
		decls[name] = d
	}
	names := sortedKeys(decls)
	set := func(name, raw, origin string, rng *hcl.Range) {
		if _, ok := decls[name]; !ok {
			msg := fmt.Sprintf("%s sets variable %q, which no variable block declares.", origin, name)
			if s := DidYouMean(name, names); s != "" {
				msg += fmt.Sprintf(" Did you mean %q?", s)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable", Detail: msg, Subject: rng})
			return
		}
		p.Variables[name] = parseVarValue(raw)
	}
	for _, kv := range opts.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			name := strings.TrimPrefix(k, EnvPrefix)
			if _, declared := decls[name]; declared {
				p.Variables[name] = parseVarValue(v)
			}
		}
	}
	for _, vf := range opts.VarFiles {
		src, err := os.ReadFile(vf)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read variable file", Detail: err.Error()})
			continue
		}
		f, fd := hclsyntax.ParseConfig(src, vf, hcl.InitialPos)
		diags = append(diags, fd...)
		if f == nil {
			continue
		}
		attrs, ad := f.Body.JustAttributes()
		diags = append(diags, ad...)
		for name, a := range attrs {
			v, vd := a.Expr.Value(&hcl.EvalContext{Functions: Functions()})
			diags = append(diags, vd...)
			if vd.HasErrors() {
				continue
			}
			if _, ok := decls[name]; !ok {
				set(name, "", "The variable file", a.NameRange.Ptr())
				continue
			}
			p.Variables[name] = v
		}
	}
	for _, name := range sortedKeys(opts.Vars) {
		set(name, opts.Vars[name], "-var", nil)
	}
	for _, name := range names {
		d := decls[name]
		if _, ok := p.Variables[name]; ok {
			continue
		}
		if !d.hasDef {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
				Detail:  fmt.Sprintf("Variable %q has no default: set it with -var %s=..., -var-file or %s%s.", name, name, EnvPrefix, name),
				Subject: d.rng.Ptr()})
			p.Variables[name] = cty.DynamicVal
			continue
		}
		p.Variables[name] = d.def
	}
	return diags
}

// parseVarValue reads a -var or environment value: an HCL literal (number,
// bool, list, map, quoted string) when it parses as one, otherwise the text.
func parseVarValue(raw string) cty.Value {
	expr, d := hclsyntax.ParseExpression([]byte(raw), "<value>", hcl.InitialPos)
	if !d.HasErrors() && len(expr.Variables()) == 0 {
		if v, vd := expr.Value(nil); !vd.HasErrors() {
			return v
		}
	}
	return cty.StringVal(raw)
}

// loadLocals evaluates locals blocks; a local may use variables and other
// locals, in any order.
func (p *Pipeline) loadLocals(blocks []*hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	pending := map[string]*hcl.Attribute{}
	for _, blk := range blocks {
		if blk.Type != "locals" {
			continue
		}
		attrs, d := blk.Body.JustAttributes()
		diags = append(diags, d...)
		for name, a := range attrs {
			if prev, dup := pending[name]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate local value",
					Detail: fmt.Sprintf("Local %q is already defined at %s.", name, prev.NameRange), Subject: a.NameRange.Ptr()})
				continue
			}
			pending[name] = a
		}
	}
	locals := map[string]cty.Value{}
	p.EvalContext.Variables["local"] = cty.EmptyObjectVal
	for len(pending) > 0 {
		progress := false
		for _, name := range sortedKeys(pending) {
			a := pending[name]
			ready := true
			for _, tr := range a.Expr.Variables() {
				if tr.RootName() != "local" || len(tr) < 2 {
					continue
				}
				if step, ok := tr[1].(hcl.TraverseAttr); ok {
					if _, waiting := pending[step.Name]; waiting && step.Name != name {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			v, d := a.Expr.Value(p.EvalContext)
			diags = append(diags, d...)
			locals[name] = v
			delete(pending, name)
			p.EvalContext.Variables["local"] = cty.ObjectVal(locals)
			progress = true
		}
		if !progress {
			for _, name := range sortedKeys(pending) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in local values",
					Detail:  fmt.Sprintf("Local %q depends on itself through other locals (%s).", name, strings.Join(sortedKeys(pending), ", ")),
					Subject: pending[name].Expr.Range().Ptr()})
			}
			break
		}
	}
	return diags
}

// checkReferences reports var.x and local.x that do not exist, with a
// suggestion, wherever they appear in the files.
func (p *Pipeline) checkReferences() hcl.Diagnostics {
	var diags hcl.Diagnostics
	known := map[string][]string{"var": sortedKeys(p.Variables)}
	if l := p.EvalContext.Variables["local"]; l.Type().IsObjectType() {
		names := []string{}
		for n := range l.Type().AttributeTypes() {
			names = append(names, n)
		}
		known["local"] = names
	}
	for _, name := range sortedKeys(p.Files) {
		body, ok := p.Files[name].Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			st, ok := n.(*hclsyntax.ScopeTraversalExpr)
			if !ok {
				return nil
			}
			root := st.Traversal.RootName()
			names, checked := known[root]
			if !checked || len(st.Traversal) < 2 {
				return nil
			}
			step, ok := st.Traversal[1].(hcl.TraverseAttr)
			if !ok || contains(names, step.Name) {
				return nil
			}
			kind := map[string]string{"var": "variable", "local": "local value"}[root]
			msg := fmt.Sprintf("There is no %s named %q.", kind, step.Name)
			if s := DidYouMean(step.Name, names); s != "" {
				msg += fmt.Sprintf(" Did you mean %s.%s?", root, s)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared " + kind,
				Detail: msg, Subject: st.SrcRange.Ptr()})
			return nil
		})
	}
	return diags
}
