package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Diagnostics come out in file order, each saying what is wrong once; the
// stages command suggests a close name as the rest of the CLI does.
func TestDiagnosticsReadInFileOrder(t *testing.T) {
	p := writePipeline(t, `
source "generate" "demo" {
  rate = true
}
sink "file" "out" {
  input   = source.generate.demo
  path    = "-"
  workers = true
}
sink "blackhole" "null" {
  input = source.generate.dmo
}
`)
	_, errOut, code := flowengine(t, "validate", p)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	var lines []int
	for _, m := range regexp.MustCompile(`(?m)^  on .* line (\d+)`).FindAllStringSubmatch(errOut, -1) {
		n, _ := strconv.Atoi(m[1])
		lines = append(lines, n)
	}
	if len(lines) != 3 || lines[0] > lines[1] || lines[1] > lines[2] {
		t.Errorf("diagnostic lines %v, want three in file order:\n%s", lines, errOut)
	}
	for _, bad := range []string{"required:", "but have"} {
		if strings.Contains(errOut, bad) {
			t.Errorf("a message says it twice (%q):\n%s", bad, errOut)
		}
	}
	if !strings.Contains(errOut, "A whole number is required, not a bool.") {
		t.Errorf("missing the type message:\n%s", errOut)
	}
}

func TestStagesSuggests(t *testing.T) {
	_, errOut, code := flowengine(t, "stages", "snpm")
	if code != 1 || !strings.Contains(errOut, `no stage type "snpm" (did you mean "snmp"?)`) {
		t.Errorf("stages snpm: exit %d\n%s", code, errOut)
	}
	out, _, code := flowengine(t, "stages", "snmp")
	if code != 0 || !strings.Contains(out, `enricher "snmp"`) {
		t.Errorf("stages snmp: exit %d\n%s", code, out)
	}
}

// A sensitive value is not printed by validate, even in the source lines that
// diagnostics quote.
func TestValidateHidesSensitiveValues(t *testing.T) {
	p := writePipeline(t, `
variable "pw" {
  sensitive = true
  default   = "hunter22-pw"
}
locals { bad = "hunter22-pw" + 1 }
variable "size" { sensitive = true }
source "generate" "g" { count = 1 }
sink "file" "f" {
  input       = source.generate.g
  path        = "-"
  rotate_size = var.size
}
`)
	_, errOut, code := flowengine(t, "validate", "-var", "size=hunter33-size", p)
	if code != 1 || strings.Contains(errOut, "hunter") || !strings.Contains(errOut, `Invalid value for "rotate_size"`) ||
		!strings.Contains(errOut, `bad = "(sensitive)" + 1`) {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
}

// plan's errors do not show sensitive values either.
func TestPlanHidesSensitiveValues(t *testing.T) {
	p := writePipeline(t, `
variable "broker" {
  default   = "127.0.0.1:1"
  sensitive = true
}
source "generate" "g" { count = 1 }
sink "kafka" "out" {
  input   = source.generate.g
  brokers = [var.broker]
}
`)
	_, errOut, code := flowengine(t, "plan", p)
	if code != 1 || strings.Contains(errOut, "127.0.0.1:1") || !strings.Contains(errOut, "(sensitive)") {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
}
