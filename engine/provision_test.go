package engine_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/stages/blackhole"
)

// provSink is a blackhole that owns a pretend external resource.
type provSink struct {
	*blackhole.Sink
	failures int   // Plan fails this many times first
	failWith error // with this error
	plans    int
	applied  bool
}

func (p *provSink) Plan(context.Context) (*engine.Plan, error) {
	p.plans++
	if p.plans <= p.failures {
		return nil, p.failWith
	}
	if p.applied {
		return &engine.Plan{}, nil
	}
	return &engine.Plan{Changes: []engine.Change{
		{Action: engine.ActionCreate, Resource: "table t", Details: []string{"a UInt8"}},
		{Action: engine.ActionReplace, Resource: "view v", Destructive: true},
	}}, nil
}

func (p *provSink) Apply(context.Context, *engine.Plan) error { p.applied = true; return nil }

func provGraph(t *testing.T, failures int, failWith error) (*engine.Graph, *provSink) {
	t.Helper()
	reg := testRegistry()
	sink := &provSink{failures: failures, failWith: failWith}
	reg.RegisterSink("prov", &dsl.Spec{}, func(*dsl.Config, engine.Env) (engine.Sink, hcl.Diagnostics) {
		sink.Sink, _ = blackhole.New(nil, engine.Env{})
		return sink, nil
	})
	p, diags := dsl.Load([]string{"p.hcl"}, map[string][]byte{"p.hcl": []byte(`
source "generate" "g" { count = 10 }
sink "prov" "db" { input = source.generate.g }
`)}, dsl.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	g, diags := engine.Compile(p, engine.CompileOptions{Registry: reg})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return g, sink
}

func TestProvisionRetriesTransientErrors(t *testing.T) {
	g, sink := provGraph(t, 2, errors.New("connection refused"))
	if err := g.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sink.plans != 3 || !sink.applied {
		t.Fatalf("plans %d applied %v: want 3 tries then apply", sink.plans, sink.applied)
	}
	plans, err := g.Plans(context.Background())
	if err != nil || len(plans) != 1 || len(plans[0].Changes) != 0 {
		t.Fatalf("a plan after provisioning must be empty: %v %v", plans, err)
	}
}

func TestProvisionStopsOnPermanentErrors(t *testing.T) {
	denied := engine.Permanent(errors.New("authentication failed"))
	g, sink := provGraph(t, 100, denied)
	err := g.Provision(context.Background())
	if !errors.Is(err, denied) || !errors.Is(err, engine.ErrPermanent) || sink.plans != 1 {
		t.Fatalf("Provision() = %v after %d plans; want the permanent error at once", err, sink.plans)
	}
}

func TestWritePlans(t *testing.T) {
	g, _ := provGraph(t, 0, nil)
	plans, err := g.Plans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if n := engine.WritePlans(&out, plans); n != 3 {
		t.Errorf("%d, want 3 (a replace is an add and a destroy)", n)
	}
	for _, want := range []string{"# sink.prov.db", "  + table t", "      a UInt8", "  -/+ view v   # destructive",
		"Plan: 2 to add, 0 to change, 1 to destroy."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSameChangesAndDestructive(t *testing.T) {
	create := engine.Change{Action: engine.ActionCreate, Resource: "table a"}
	drop := engine.Change{Action: engine.ActionDelete, Resource: "column a.x", Destructive: true, Details: []string{"data lost"}}
	tests := []struct {
		name         string
		planned, got []engine.Change
		same         bool
	}{
		{"both empty", nil, nil, true},
		{"same", []engine.Change{create, drop}, []engine.Change{create, {Action: drop.Action, Resource: drop.Resource}}, true},
		{"other order", []engine.Change{create, drop}, []engine.Change{drop, create}, false},
		{"one more", []engine.Change{create}, []engine.Change{create, drop}, false},
		{"other action", []engine.Change{create}, []engine.Change{{Action: engine.ActionReplace, Resource: create.Resource}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := engine.SameChanges(tt.planned, tt.got); got != tt.same {
				t.Errorf("SameChanges = %v, want %v", got, tt.same)
			}
		})
	}
	if got := engine.Destructive([]engine.Change{create, drop}); len(got) != 1 || got[0] != "- column a.x" {
		t.Errorf("Destructive = %q, want [\"- column a.x\"]", got)
	}
	if got := engine.Destructive([]engine.Change{create}); got != nil {
		t.Errorf("Destructive = %q, want none", got)
	}
}
