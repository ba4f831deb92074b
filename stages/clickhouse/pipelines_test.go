package clickhouse_test

import (
	"testing"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	_ "github.com/flowengine/flowengine/stages/all"
	_ "github.com/flowengine/flowengine/stages/clickhouse"
)

// TestPipelines compiles the Kafka/ClickHouse pipelines docker-compose.yml runs.
func TestPipelines(t *testing.T) {
	for _, path := range []string{"../../pipelines/inlet.hcl", "../../pipelines/outlet.hcl"} {
		t.Run(path, func(t *testing.T) {
			p, diags := dsl.LoadFiles([]string{path}, dsl.LoadOptions{})
			if !diags.HasErrors() {
				_, diags = engine.Compile(p, engine.CompileOptions{})
			}
			if diags.HasErrors() {
				t.Fatalf("%s: %v", path, diags)
			}
		})
	}
}
