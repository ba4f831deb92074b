package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
)

var errorAnnotation = regexp.MustCompile(`# ERROR: (.+)$`)

// TestPipelines checks every pipeline under testdata/pipelines: valid ones
// compile without error; each invalid one reports exactly the errors its
// "# ERROR: summary" comments announce, on their lines, all at once.
func TestPipelines(t *testing.T) {
	valid, _ := filepath.Glob("../testdata/pipelines/valid/*.hcl")
	invalid, _ := filepath.Glob("../testdata/pipelines/invalid/*.hcl")
	if len(valid) == 0 || len(invalid) == 0 {
		t.Fatal("no test pipelines found")
	}
	for _, path := range valid {
		t.Run("valid/"+filepath.Base(path), func(t *testing.T) {
			diags := loadAndCompile(t, path)
			if diags.HasErrors() {
				t.Fatalf("unexpected errors:\n%s", formatDiags(diags))
			}
		})
	}
	for _, path := range invalid {
		t.Run("invalid/"+filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i, line := range strings.Split(string(src), "\n") {
				if m := errorAnnotation.FindStringSubmatch(line); m != nil {
					want = append(want, fmt.Sprintf("%d: %s", i+1, m[1]))
				}
			}
			if len(want) == 0 {
				t.Fatal("no # ERROR annotation in an invalid pipeline")
			}
			diags := loadAndCompile(t, path)
			var got []string
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				if d.Subject == nil {
					t.Errorf("diagnostic without a source range: %s: %s", d.Summary, d.Detail)
					continue
				}
				got = append(got, fmt.Sprintf("%d: %s", d.Subject.Start.Line, d.Summary))
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("diagnostics (-got +want):\n-%s\n+%s\n\nfull output:\n%s",
					strings.Join(got, "\n-"), strings.Join(want, "\n+"), formatDiags(diags))
			}
		})
	}
}

func loadAndCompile(t *testing.T, path string) hcl.Diagnostics {
	t.Helper()
	p, diags := dsl.LoadFiles([]string{path}, dsl.LoadOptions{})
	if p == nil {
		return diags
	}
	_, d := engine.Compile(p, engine.CompileOptions{Registry: testRegistry()})
	return dsl.Dedupe(append(diags, d...))
}

func formatDiags(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "%s\n", d.Error())
	}
	return b.String()
}

// The details of a diagnostic name the mistake itself, wherever it lies: an
// undeclared variable inside a string template gets the same suggestion as
// outside one, and the stage's own check of the attribute stays silent.
func TestDiagnosticDetails(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // substrings of the diagnostics
		not       []string // substrings that must not appear
	}{
		{
			name: "template",
			src: `variable "out_dir" { default = "/tmp" }
source "generate" "g" {}
sink "file" "f" {
  input = source.generate.g
  path  = "${var.outdir}/x.jsonl"
}`,
			want: []string{`There is no variable named "outdir". Did you mean var.out_dir?`},
			not:  []string{"Invalid path", "Unsupported attribute"},
		},
		{
			name: "variable without value",
			src: `variable "dir" {}
source "generate" "g" {}
sink "file" "f" {
  input   = source.generate.g
  path    = "${var.dir}/x.jsonl"
  workers = var.dir
}`,
			want: []string{`Variable "dir" has no default`},
			not:  []string{"Invalid path", `Invalid value for "workers"`, "known"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(tc.src)}, dsl.LoadOptions{})
			_, d := engine.Compile(p, engine.CompileOptions{Registry: testRegistry()})
			text := formatDiags(dsl.Dedupe(append(diags, d...)))
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in:\n%s", w, text)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(text, n) {
					t.Errorf("unexpected %q in:\n%s", n, text)
				}
			}
		})
	}
}
