package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/stages/blackhole"
	"github.com/flowengine/flowengine/stages/file"
	"github.com/flowengine/flowengine/stages/generate"
)

// passthrough is an enricher that touches every record and passes it on;
// failFirst makes its first calls fail, to exercise restarts.
type passthrough struct {
	seen      atomic.Uint64
	failFirst atomic.Int64
	mark      uint32
}

func (p *passthrough) Process(_ context.Context, b *flow.Batch) error {
	if p.failFirst.Add(-1) >= 0 {
		return errors.New("induced failure")
	}
	if p.mark != 0 {
		for i := range b.Records {
			b.Records[i].InIfSpeed += uint64(p.mark)
		}
	}
	p.seen.Add(uint64(b.Len()))
	return nil
}

// udpSource only binds nothing; it declares an address for port checks.
type udpSource struct{ listen engine.Listen }

func (u *udpSource) Run(ctx context.Context, _ engine.Output) error { <-ctx.Done(); return nil }
func (u *udpSource) Listens() []engine.Listen                       { return []engine.Listen{u.listen} }

var (
	passthroughs = map[string]*passthrough{}
	gates        = map[string]*gate{}
)

// testRegistry has the real generate/file/blackhole stages plus test-only ones.
func testRegistry() *engine.Registry {
	r := engine.NewRegistry()
	r.RegisterSource("generate", generate.Spec, engine.AsSource(generate.New))
	r.RegisterSink("file", file.Spec, engine.AsSink(file.New))
	r.RegisterSink("blackhole", blackhole.Spec, engine.AsSink(blackhole.New))
	r.RegisterEnricher("passthrough", &dsl.Spec{Attrs: []dsl.Attr{
		{Name: "fail_first", Type: dsl.TypeInt, Default: int64(0)},
		{Name: "mark", Type: dsl.TypeInt, Default: int64(0)},
	}}, func(cfg *dsl.Config, env engine.Env) (engine.Processor, hcl.Diagnostics) {
		p := &passthrough{mark: uint32(cfg.Int("mark"))}
		p.failFirst.Store(cfg.Int("fail_first"))
		passthroughs[env.ID.String()] = p
		return p, nil
	})
	r.RegisterSink("gate", nil, func(_ *dsl.Config, env engine.Env) (engine.Sink, hcl.Diagnostics) {
		g := &gate{open: make(chan struct{})}
		gates[env.ID.String()] = g
		return g, nil
	})
	// udpcfg declares its address in its spec: the compiler reads it from the
	// configuration even when the constructor refuses the stage.
	r.RegisterSource("udpcfg", &dsl.Spec{Attrs: []dsl.Attr{
		{Name: "listen", Type: dsl.TypeString, Default: ":6343", Listen: "udp"},
		{Name: "refuse", Type: dsl.TypeBool},
	}}, func(cfg *dsl.Config, _ engine.Env) (engine.Source, hcl.Diagnostics) {
		if cfg.Bool("refuse") {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Refused", Subject: cfg.Range("refuse")}}
		}
		return &udpSource{listen: engine.Listen{Network: "udp", Address: cfg.String("listen"), Range: *cfg.Range("listen")}}, nil
	})
	r.RegisterSource("udp", &dsl.Spec{Attrs: []dsl.Attr{{Name: "listen", Type: dsl.TypeString, Required: true}}},
		func(cfg *dsl.Config, _ engine.Env) (engine.Source, hcl.Diagnostics) {
			return &udpSource{listen: engine.Listen{Network: "udp", Address: cfg.String("listen"), Range: *cfg.Range("listen")}}, nil
		})
	return r
}

// compile loads pipeline source text and compiles it with the test registry.
func compile(src string) (*engine.Graph, *dsl.Pipeline, hcl.Diagnostics) {
	p, diags := dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(src)}, dsl.LoadOptions{})
	if diags.HasErrors() {
		return nil, p, diags
	}
	g, d := engine.Compile(p, engine.CompileOptions{Registry: testRegistry()})
	return g, p, append(diags, d...)
}

// gate is a sink that reads nothing until open is closed, then counts what
// it receives: its input fills up at once, deterministically.
type gate struct {
	open  chan struct{}
	flows atomic.Uint64
}

func (g *gate) Run(_ context.Context, in <-chan *flow.Batch) error {
	<-g.open
	for b := range in {
		g.flows.Add(uint64(b.Len()))
		b.Release()
	}
	return nil
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
