package engine_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/flowengine/flowengine/engine"
)

func runGraph(b *testing.B, g *engine.Graph) {
	if err := engine.NewRuntime(g).Run(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEngineOverhead measures what the runtime adds per flow and per
// stage: generate → 3 pass-through stages → blackhole, against generate →
// blackhole, both with batches of 1024 flows. stage-ns/flow is the
// difference divided by the 3 stages.
func BenchmarkEngineOverhead(b *testing.B) {
	const count = 1 << 22
	base := `
source "generate" "g" {
  rate  = 0
  count = %d
}
`
	direct := base + `sink "blackhole" "end" { input = source.generate.g }`
	chained := base + `
enricher "passthrough" "p1" { input = source.generate.g }
enricher "passthrough" "p2" { input = enricher.passthrough.p1 }
enricher "passthrough" "p3" { input = enricher.passthrough.p2 }
sink "blackhole" "end" { input = enricher.passthrough.p3 }
`
	b.ReportAllocs()
	var directNs, chainedNs float64
	var mallocs uint64
	for b.Loop() {
		directNs += timeRun(b, sprintf(direct, count))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		chainedNs += timeRun(b, sprintf(chained, count))
		runtime.ReadMemStats(&after)
		mallocs += after.Mallocs - before.Mallocs
	}
	n := float64(b.N) * count
	b.ReportMetric(directNs/n, "direct-ns/flow")
	b.ReportMetric(chainedNs/n, "chained-ns/flow")
	b.ReportMetric((chainedNs-directNs)/n/3, "stage-ns/flow")
	b.ReportMetric(n/(chainedNs/1e9), "chained-flows/s")
	b.ReportMetric(float64(mallocs)/n, "allocs/flow")
}
