package dsl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

func load(t *testing.T, src string, opts LoadOptions) (*Pipeline, hcl.Diagnostics) {
	t.Helper()
	return Load([]string{"p.hcl"}, map[string][]byte{"p.hcl": []byte(src)}, opts)
}

// Variable values: default < FLOWENGINE_VAR_x < -var-file < -var.
func TestVariablePrecedence(t *testing.T) {
	src := `
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = 1 }
`
	dir := t.TempDir()
	vf := filepath.Join(dir, "vars.hcl")
	if err := os.WriteFile(vf, []byte("b = \"file\"\nc = \"file\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := load(t, src, LoadOptions{
		Vars:     map[string]string{"c": "flag", "d": "42"},
		VarFiles: []string{vf},
		Environ:  []string{"FLOWENGINE_VAR_a=env", "FLOWENGINE_VAR_b=env", "PATH=/bin"},
	})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for name, want := range map[string]cty.Value{"a": cty.StringVal("env"), "b": cty.StringVal("file"),
		"c": cty.StringVal("flag"), "d": cty.NumberIntVal(42)} {
		if got := p.Variables[name]; !got.RawEquals(want) {
			t.Errorf("var.%s = %#v, want %#v", name, got, want)
		}
	}
	_, diags = load(t, src, LoadOptions{Vars: map[string]string{"aa": "x"}})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `Did you mean "a"?`) {
		t.Errorf("undeclared -var: %v", diags)
	}
}

func TestLocalsInAnyOrder(t *testing.T) {
	p, diags := load(t, `
locals { b = "${local.a}-b" }
locals { a = upper(var.x) }
variable "x" { default = "x" }
`, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if got := p.EvalContext.Variables["local"].GetAttr("b").AsString(); got != "X-b" {
		t.Errorf("local.b = %q", got)
	}
	_, diags = load(t, `locals {
  a = local.b
  b = local.a
}`, LoadOptions{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "Cycle in local values") {
		t.Errorf("cycle: %v", diags)
	}
}

func TestSettingsAndMeta(t *testing.T) {
	p, diags := load(t, `
pipeline {
  listen           = ":9999"
  shutdown_timeout = "1m"
  on_failure       = "stop"
}
source "x" "y" {}
sink "z" "w" {
  input     = [source.x.y]
  buffer    = 3
  workers   = 2
  when_full = "drop"
  path      = "kept for the stage"
}
`, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if s := p.Settings; s.Listen != ":9999" || s.ShutdownTimeout != time.Minute || s.OnFailure != "stop" || s.Buffer != 16 {
		t.Errorf("settings %+v", s)
	}
	st := p.Stages[1]
	if st.ID() != "sink.z.w" || st.Buffer != 3 || st.Workers != 2 || st.WhenFull != "drop" ||
		len(st.Inputs) != 1 || st.Inputs[0].String() != "source.x.y" {
		t.Errorf("stage %+v", st)
	}
	attrs, _ := st.Body.JustAttributes()
	if _, ok := attrs["path"]; !ok || len(attrs) != 1 {
		t.Errorf("the stage body must keep only its own attributes, got %v", attrs)
	}
}

func TestDecodeBodyTypes(t *testing.T) {
	spec := &Spec{Attrs: []Attr{
		{Name: "s", Type: TypeString, OneOf: []string{"alpha", "beta"}},
		{Name: "i", Type: TypeInt, Default: int64(7)},
		{Name: "d", Type: TypeDuration},
		{Name: "z", Type: TypeSize},
		{Name: "l", Type: TypeStringList},
		{Name: "m", Type: TypeStringMap},
		{Name: "e", Type: TypeExpr},
	}, Blocks: []BlockSpec{{Type: "rule", Attrs: []Attr{{Name: "when", Type: TypeExpr}}}}}
	cfg, diags := DecodeString(`
s = "beta"
d = "7d"
z = "64MiB"
l = ["a", "b"]
m = { k = "v" }
e = exporter.name
rule { when = true }
rule { when = false }
`, spec)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if cfg.String("s") != "beta" || cfg.Int("i") != 7 || cfg.Duration("d") != 7*24*time.Hour ||
		cfg.Size("z") != 64<<20 || len(cfg.Strings("l")) != 2 || cfg.StringMap("m")["k"] != "v" ||
		cfg.Expr("e") == nil || len(cfg.Blocks("rule")) != 2 || cfg.IsSet("i") {
		t.Errorf("decoded config is wrong: %+v", cfg)
	}
	_, diags = DecodeString(`s = "alhpa"`, spec)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `Did you mean "alpha"?`) {
		t.Errorf("one-of: %v", diags)
	}
}

func TestFunctions(t *testing.T) {
	for expr, want := range map[string]cty.Value{
		`cidrcontains("10.0.0.0/8", "10.1.2.3")`:                          cty.True,
		`cidrcontains("10.0.0.0/8", "::ffff:10.1.2.3")`:                   cty.True,
		`cidrcontains("2001:db8::/32", "2001:db9::1")`:                    cty.False,
		`cidrcontains("10.0.0.0/8", "10.1.0.0/16")`:                       cty.True,
		`cidrhost("192.0.2.0/24", 5)`:                                     cty.StringVal("192.0.2.5"),
		`cidrhost("2001:db8::/64", -1)`:                                   cty.StringVal("2001:db8::ffff:ffff:ffff:ffff"),
		`cidrsubnet("10.0.0.0/8", 8, 2)`:                                  cty.StringVal("10.2.0.0/16"),
		`cidrnetmask("10.0.0.0/12")`:                                      cty.StringVal("255.240.0.0"),
		`isprivate("192.168.1.1")`:                                        cty.True,
		`regexcapture("^(?i)transit: *(\\S+)", "Transit: Cogent 10G", 1)`: cty.StringVal("Cogent"),
		`regexcapture("^transit", "PNI", 0)`:                              cty.StringVal(""),
		`imatch("^pni", "PNI: Google")`:                                   cty.True,
		`iequal("EDGE1", "edge1")`:                                        cty.True,
		`can(regex("^x", "y"))`:                                           cty.False,
	} {
		cfg, diags := DecodeString("v = "+expr, &Spec{Attrs: []Attr{{Name: "v", Type: TypeAny}}})
		if diags.HasErrors() {
			t.Errorf("%s: %s", expr, diags.Error())
			continue
		}
		if got := cfg.Value("v"); !got.RawEquals(want) {
			t.Errorf("%s = %#v, want %#v", expr, got, want)
		}
	}
}

// FuzzLoad feeds arbitrary text to the parser front door: it must return
// diagnostics, never panic.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/pipelines/*/*.hcl")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`source "a" "b" { input = source.a.b }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, diags := Load([]string{"f.hcl"}, map[string][]byte{"f.hcl": src}, LoadOptions{Vars: map[string]string{"x": "1"}})
		if p == nil && !diags.HasErrors() {
			t.Fatal("no pipeline and no error")
		}
	})
}
