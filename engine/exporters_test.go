package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
)

// statsSource reports n exporters, exporter i having sent i packets.
type statsSource struct{ n int }

func (s *statsSource) Run(ctx context.Context, _ engine.Output) error { <-ctx.Done(); return nil }

func (s *statsSource) ExporterStats() []engine.ExporterStats {
	out := make([]engine.ExporterStats, s.n)
	for i := range out {
		out[i] = engine.ExporterStats{Address: fmt.Sprintf("192.0.2.%d", i), Packets: uint64(i), LastSeen: time.Unix(0, 0)}
	}
	return out
}

func TestPipelineStatsListExporters(t *testing.T) {
	reg := testRegistry()
	reg.RegisterSource("stats", &dsl.Spec{Attrs: []dsl.Attr{{Name: "n", Type: dsl.TypeInt}}},
		func(cfg *dsl.Config, _ engine.Env) (engine.Source, hcl.Diagnostics) {
			return &statsSource{n: int(cfg.Int("n"))}, nil
		})
	src := `
source "stats" "few" { n = 2 }
source "stats" "many" { n = 300 }
sink "blackhole" "b" { input = [source.stats.few, source.stats.many] }
`
	p, diags := dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(src)}, dsl.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	g, diags := engine.Compile(p, engine.CompileOptions{Registry: reg})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	rt := engine.NewRuntime(g)
	stats := map[string]engine.StageStats{}
	for _, s := range rt.Stats().Stages {
		stats[s.ID] = s
	}
	few := stats["source.stats.few"]
	if few.ExportersTotal != 2 || len(few.Exporters) != 2 || few.Exporters[0].Address != "192.0.2.1" {
		t.Errorf("few: %d exporters of %d, first %+v; want 2, 192.0.2.1 first (most packets)", len(few.Exporters), few.ExportersTotal, few.Exporters)
	}
	if few.Exporters[0].SamplingRates == nil {
		t.Error("sampling_rates is null, want []")
	}
	many := stats["source.stats.many"]
	if many.ExportersTotal != 300 || len(many.Exporters) != engine.MaxExporterStats || many.Exporters[0].Packets != 299 {
		t.Errorf("many: %d exporters of %d, first has %d packets; want %d of 300, 299 first", len(many.Exporters), many.ExportersTotal, many.Exporters[0].Packets, engine.MaxExporterStats)
	}
	if b := stats["sink.blackhole.b"]; b.Exporters != nil {
		t.Errorf("a sink lists exporters: %v", b.Exporters)
	}
}
