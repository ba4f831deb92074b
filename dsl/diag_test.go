package dsl

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Each message says what is wrong once, naming what was wanted and what was given.
func TestValueMessages(t *testing.T) {
	spec := &Spec{Attrs: []Attr{
		{Name: "s", Type: TypeString}, {Name: "i", Type: TypeInt}, {Name: "f", Type: TypeFloat},
		{Name: "b", Type: TypeBool}, {Name: "d", Type: TypeDuration}, {Name: "z", Type: TypeSize},
		{Name: "l", Type: TypeStringList}, {Name: "m", Type: TypeStringMap},
	}}
	for _, tc := range []struct{ src, want string }{
		{`s = ["a"]`, "A string is required, not a list."},
		{`i = true`, "A whole number is required, not a bool."},
		{`i = 2.5`, "A whole number is required, not 2.5."},
		{`i = 1e30`, "1e+30 is out of range."},
		{`f = "x"`, "A number is required, not a string."},
		{`b = "maybe"`, "A bool (true or false) is required, not a string."},
		{`d = "soon"`, `"soon" is not a duration like "30s", "5m" or "7d".`},
		{`d = {}`, `A duration like "30s" is required, not a map.`},
		{`z = true`, `A size (a number of bytes, or a string like "64MiB") is required, not a bool.`},
		{`z = "lots"`, `"lots" is not a size like "64MiB" or "1GB".`},
		{`z = -1`, "A size is not negative (-1)."},
		{`l = "a"`, "A list of strings is required, not a string."},
		{`m = ["a"]`, "A map of strings is required, not a list."},
	} {
		_, diags := DecodeString(tc.src, spec)
		if len(diags) != 1 || diags[0].Detail != tc.want {
			t.Errorf("%s: got %v, want %q", tc.src, diags, tc.want)
		}
	}
}

func TestSortByFileAndPosition(t *testing.T) {
	at := func(file string, b int) *hcl.Diagnostic {
		return &hcl.Diagnostic{Summary: file, Subject: &hcl.Range{Filename: file, Start: hcl.Pos{Byte: b}, End: hcl.Pos{Byte: b + 1}}}
	}
	diags := Sort(hcl.Diagnostics{at("b.hcl", 5), at("a.hcl", 30), {Summary: "global"}, at("a.hcl", 2)})
	var got []string
	for _, d := range diags {
		s := d.Summary
		if d.Subject != nil {
			s += ":" + string(rune('0'+d.Subject.Start.Byte%10))
		}
		got = append(got, s)
	}
	if strings.Join(got, " ") != "global a.hcl:2 a.hcl:0 b.hcl:5" {
		t.Errorf("order %v", got)
	}
}

// pipeline.batch_timeout is gone: sinks that batch set their own.
func TestPipelineBatchTimeoutRemoved(t *testing.T) {
	_, diags := load(t, `pipeline { batch_timeout = "1s" }`, LoadOptions{})
	if len(diags) != 1 || diags[0].Summary != "Unsupported argument" || !strings.Contains(diags[0].Detail, "set their own batch_timeout") {
		t.Errorf("diagnostics: %v", diags)
	}
}
