package engine_test

import (
	"bytes"
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
