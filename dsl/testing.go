package dsl

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// DecodeString parses src as the body of one stage block and decodes it
// against spec, with the standard functions and no variables. It is meant for
// tests of stage packages.
func DecodeString(src string, spec *Spec) (*Config, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg, d := DecodeBody(f.Body, spec, &hcl.EvalContext{Functions: Functions()}, f.Body.(*hclsyntax.Body).SrcRange)
	return cfg, append(diags, d...)
}
