package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
)

// pipeline { log_level = "debug" } reaches the stages: they are built with
// the logger the settings ask for, not one fixed before they were read.
func TestStagesLogAtConfiguredLevel(t *testing.T) {
	reg := testRegistry()
	reg.RegisterEnricher("chatty", nil, func(_ *dsl.Config, env engine.Env) (engine.Processor, hcl.Diagnostics) {
		env.Logger.Debug("built at debug level")
		return &passthrough{}, nil
	})
	for _, level := range []string{"debug", "info"} {
		t.Run(level, func(t *testing.T) {
			src := `
pipeline { log_level = "` + level + `" }
source "generate" "g" { count = 1 }
enricher "chatty" "c" { input = source.generate.g }
sink "blackhole" "null" { input = enricher.chatty.c }
`
			p, diags := dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(src)}, dsl.LoadOptions{})
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			var logs bytes.Buffer
			g, diags := engine.Compile(p, engine.CompileOptions{Registry: reg, NewLogger: func(s dsl.Settings) *slog.Logger {
				var lv slog.Level
				if err := lv.UnmarshalText([]byte(s.LogLevel)); err != nil {
					t.Fatal(err)
				}
				return slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: lv}))
			}})
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			logged := strings.Contains(logs.String(), `msg="built at debug level" stage=enricher.chatty.c`)
			if logged != (level == "debug") {
				t.Errorf("log_level %s: debug line logged %v:\n%s", level, logged, logs.String())
			}
			g.Logger.Debug("graph logger")
			if strings.Contains(logs.String(), "graph logger") != (level == "debug") {
				t.Errorf("the graph's logger is not the stages' one")
			}
		})
	}
}

// The value of a sensitive variable never shows: not in the graph, the
// pipeline API, the logs of stages (messages, attributes, errors) nor in
// diagnostics.
func TestSensitiveValuesRedacted(t *testing.T) {
	const secret = "s3cr3t-community"
	reg := testRegistry()
	reg.RegisterEnricher("leaky", &dsl.Spec{Attrs: []dsl.Attr{{Name: "community", Type: dsl.TypeString}}},
		func(cfg *dsl.Config, env engine.Env) (engine.Processor, hcl.Diagnostics) {
			c := cfg.String("community")
			if !cfg.Sensitive("community") {
				t.Error("the stage is not told its attribute is sensitive")
			}
			env.Logger.Info("polling with community "+c, "community", c, "error", errors.New("auth failed for "+c),
				slog.Group("snmp", "community", c))
			env.Logger.With("community", c).Info("with attrs")
			return &passthrough{}, nil
		})
	src := `
variable "community" {
  default   = "` + secret + `"
  sensitive = true
}
source "generate" "g" { count = 1 }
enricher "leaky" "l" {
  input     = source.generate.g
  community = "${var.community}"
}
sink "blackhole" "null" { input = enricher.leaky.l }
`
	p, diags := dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(src)}, dsl.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var logs bytes.Buffer
	g, diags := engine.Compile(p, engine.CompileOptions{Registry: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	g.Logger.Error("pipeline stopped", "error", errors.New("sink: "+secret))
	var out bytes.Buffer
	engine.WriteText(&out, g)
	engine.WriteDot(&out, g)
	engine.WriteMermaid(&out, g)
	rt := engine.NewRuntime(g)
	if err := rt.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	api, _ := json.Marshal(rt.Stats())
	for what, text := range map[string]string{"logs": logs.String(), "graph": out.String(), "API": string(api)} {
		if strings.Contains(text, "s3cr3t") {
			t.Errorf("the %s show the secret:\n%s", what, text)
		}
	}
	if n := strings.Count(logs.String(), dsl.Redacted); n != 6 {
		t.Errorf("%d redactions in the logs, want 6:\n%s", n, logs.String())
	}

	// A mistake on an attribute holding it.
	p, _ = dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(src + `
sink "file" "f" {
  input       = source.generate.g
  path        = "-"
  rotate_size = var.community
}
`)}, dsl.LoadOptions{})
	_, diags = engine.Compile(p, engine.CompileOptions{Registry: reg})
	var text strings.Builder
	_ = hcl.NewDiagnosticTextWriter(&text, p.Files, 0, false).WriteDiagnostics(diags)
	if !diags.HasErrors() || strings.Contains(text.String(), "s3cr3t") {
		t.Errorf("diagnostics:\n%s", text.String())
	}
}
