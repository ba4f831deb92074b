package dsl

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// A variable declared sensitive keeps its value out of diagnostics, marks the
// attributes computed from it (through locals and functions too), and stages
// read plain values.
func TestSensitiveVariables(t *testing.T) {
	p, diags := load(t, `
variable "community" {
  default   = "s3cr3t-community"
  sensitive = true
}
variable "open" { default = "visible" }
locals { upper = upper(var.community) }
`, LoadOptions{Vars: map[string]string{}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if !p.Sensitive["community"] || p.Sensitive["open"] {
		t.Errorf("Sensitive = %v", p.Sensitive)
	}
	spec := &Spec{Attrs: []Attr{
		{Name: "a", Type: TypeString}, {Name: "b", Type: TypeString}, {Name: "c", Type: TypeString},
		{Name: "mode", Type: TypeString, OneOf: []string{"fast", "slow"}},
		{Name: "d", Type: TypeDuration},
	}}
	body := func(src string) hcl.Body {
		f, d := parse(t, src)
		if d.HasErrors() {
			t.Fatal(d.Error())
		}
		return f
	}
	cfg, diags := DecodeBody(body(`
a = "${var.community}/x"
b = var.open
c = local.upper
`), spec, p.EvalContext, hcl.Range{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if !cfg.Sensitive("a") || cfg.Sensitive("b") || !cfg.Sensitive("c") {
		t.Errorf("Sensitive a=%v b=%v c=%v, want true false true", cfg.Sensitive("a"), cfg.Sensitive("b"), cfg.Sensitive("c"))
	}
	if cfg.String("a") != "s3cr3t-community/x" || cfg.String("c") != "S3CR3T-COMMUNITY" {
		t.Errorf("stages read %q and %q", cfg.String("a"), cfg.String("c"))
	}

	_, diags = DecodeBody(body(`
mode = var.community
d    = var.community
`), spec, p.EvalContext, hcl.Range{})
	var b strings.Builder
	w := hcl.NewDiagnosticTextWriter(&b, nil, 0, false)
	_ = w.WriteDiagnostics(p.RedactDiagnostics(diags))
	if len(diags) != 2 || strings.Contains(b.String(), "s3cr3t") {
		t.Errorf("diagnostics must say what is wrong without the value:\n%s", b.String())
	}

	if got := p.Redact("auth failed for s3cr3t-community at x"); got != "auth failed for (sensitive) at x" {
		t.Errorf("Redact = %q", got)
	}
	if v := p.StageEvalContext().Variables["var"].GetAttr("community"); v.IsMarked() || v.AsString() != "s3cr3t-community" {
		t.Errorf("stages evaluate with %#v", v)
	}

	_, diags = load(t, `variable "x" {
  default   = 1
  sensitive = "yes"
}`, LoadOptions{})
	if len(diags) != 1 || diags[0].Summary != `Invalid value for "sensitive"` {
		t.Errorf("sensitive = \"yes\": %v", diags)
	}
}

// A -var value of a sensitive variable stays out of the diagnostics that
// quote values.
func TestSensitiveVarFlag(t *testing.T) {
	p, diags := load(t, `
variable "mode" { sensitive = true }
pipeline { when_full = var.mode }
`, LoadOptions{Vars: map[string]string{"mode": "hunter22"}})
	if !diags.HasErrors() || strings.Contains(diags.Error(), "hunter22") || !p.HasSecrets() {
		t.Errorf("diagnostics: %v", diags)
	}
}

func parse(t *testing.T, src string) (hcl.Body, hcl.Diagnostics) {
	t.Helper()
	f, d := hclsyntax.ParseConfig([]byte(src), "body.hcl", hcl.InitialPos)
	if f == nil {
		return nil, d
	}
	return f.Body, d
}
