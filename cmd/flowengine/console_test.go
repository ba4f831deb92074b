package main

import (
	"strings"
	"testing"
)

// validate reports the console block's mistakes with the stages', each with
// its line.
func TestValidateConsole(t *testing.T) {
	p := writePipeline(t, `
source "generate" "g" {
  rat = 10
}
sink "blackhole" "null" { input = source.generate.g }
console {
  listen = "127.0.0.1:18080"
  store  = sink.blackhole.nul
  auth { token = "short" }
}
`)
	_, errOut, code := flowengine(t, "validate", p)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"line 3, in source \"generate\" \"g\"", `Did you mean "rate"?`,
		"Error: Reference to undeclared stage", "line 8, in console:", "Did you mean sink.blackhole.null?",
		"Error: Token too short", "line 9, in console:",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	p = writePipeline(t, `
source "generate" "g" {}
sink "blackhole" "null" { input = source.generate.g }
console { store = sink.blackhole.null }
`)
	_, errOut, code = flowengine(t, "validate", p)
	if code != 1 || !strings.Contains(errOut, "Error: This sink cannot be queried") || !strings.Contains(errOut, `sink.blackhole.null (sink "blackhole") does not store flows`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}
