package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/console"
	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/stages/blackhole"
	"github.com/flowengine/flowengine/stages/generate"
	"github.com/flowengine/flowengine/store"
)

// queryableSink is a sink that implements store.Backend, for resolving
// references (the real ones are stages/duckdb and stages/clickhouse, tested
// end to end in cmd/flowengine).
type queryableSink struct{}

func (queryableSink) Run(ctx context.Context, in <-chan *flow.Batch) error {
	for b := range in {
		b.Release()
	}
	return nil
}
func (queryableSink) Dialect() store.Dialect { return nil }
func (queryableSink) Tables() []store.Table  { return nil }
func (queryableSink) Query(context.Context, string, ...any) (store.Rows, error) {
	return nil, fmt.Errorf("no rows")
}
func (queryableSink) SavedFilters(context.Context) ([]store.SavedFilter, error) { return nil, nil }
func (queryableSink) SaveFilter(context.Context, store.SavedFilter) error       { return nil }
func (queryableSink) DeleteFilter(context.Context, string) error                { return nil }

func registry() *engine.Registry {
	r := engine.NewRegistry()
	r.RegisterSource("generate", generate.Spec, engine.AsSource(generate.New))
	r.RegisterSink("blackhole", blackhole.Spec, engine.AsSink(blackhole.New))
	r.RegisterSink("mem", &dsl.Spec{}, func(*dsl.Config, engine.Env) (engine.Sink, hcl.Diagnostics) {
		return queryableSink{}, nil
	})
	return r
}

const stages = `
source "generate" "g" {}
sink "mem" "local" { input = source.generate.g }
sink "blackhole" "null" { input = source.generate.g }
`

func decode(t *testing.T, src string) (*console.Config, hcl.Diagnostics) {
	t.Helper()
	p, diags := dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(src)}, dsl.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags)
	}
	g, d := engine.Compile(p, engine.CompileOptions{Registry: registry()})
	if d.HasErrors() {
		t.Fatalf("compile: %s", d)
	}
	return console.Decode(p, g)
}

func TestDecode(t *testing.T) {
	c, diags := decode(t, stages+`
console {
  listen          = "127.0.0.1:0"
  store           = sink.mem.local
  request_timeout = "5s"
  auth { token = "0123456789abcdef" }
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if c.Listen != "127.0.0.1:0" || c.StoreID.String() != "sink.mem.local" || c.Backend == nil ||
		c.RequestTimeout != 5*time.Second || c.MaxBodySize != console.DefaultMaxBodySize || c.Auth.Token != "0123456789abcdef" {
		t.Errorf("%+v", c)
	}
	c, diags = decode(t, stages+`console {
  store = sink.mem.local
  auth { trust_user_header = "x-remote-user" }
}`)
	if diags.HasErrors() || c.Listen != console.DefaultListen || c.Auth.UserHeader != "X-Remote-User" || c.Auth.Token != "" {
		t.Errorf("%+v %s", c, diags)
	}
	for listen, warn := range map[string]bool{"127.0.0.1:0": false, "[::1]:8080": false, "localhost:8080": false, ":8080": true, "0.0.0.0:8080": true, "192.0.2.1:8080": true} {
		_, diags = decode(t, stages+fmt.Sprintf("console {\n  store = sink.mem.local\n  listen = %q\n}", listen))
		if diags.HasErrors() || (len(diags) == 1) != warn || warn && (diags[0].Summary != "Console without authentication" || diags[0].Subject.Start.Line != 7) {
			t.Errorf("listen %s: %v", listen, diags)
		}
		_, diags = decode(t, stages+fmt.Sprintf("console {\n  store = sink.mem.local\n  listen = %q\n  auth { token = \"0123456789abcdef\" }\n}", listen))
		if len(diags) != 0 {
			t.Errorf("listen %s with a token: %v", listen, diags)
		}
	}
	if c, diags := decode(t, stages); c != nil || diags != nil {
		t.Errorf("without a console: %+v %s", c, diags)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		summary    string
		detail     string
		line       int // of the diagnostic's subject in the file
	}{
		{"no store", `listen = "127.0.0.1:8080"`, "Missing required argument", `"store" is required`, 0},
		{"string store", `store = "sink.mem.local"`, "Invalid stage reference", "not a string", 5},
		{"undeclared", `store = sink.mem.locl`, "Reference to undeclared stage", "Did you mean sink.mem.local?", 5},
		{"a source", `store = source.generate.g`, "The console's store must be a sink", "source.generate.g is a source", 5},
		{"not queryable", `store = sink.blackhole.null`, "This sink cannot be queried", `sink.blackhole.null (sink "blackhole") does not store flows`, 5},
		{"bad listen", "store = sink.mem.local\nlisten = \"8080\"", "Invalid listen address", "host:port", 6},
		{"pipeline's port", "store = sink.mem.local\nlisten = \"127.0.0.1:9090\"", "Two servers on one port", "pipeline { listen", 6},
		{"unknown attribute", "store = sink.mem.local\ntokn = \"x\"", "Unsupported argument", "", 6},
		{"two auths", "store = sink.mem.local\nauth {\ntoken = \"0123456789abcdef\"\ntrust_user_header = \"Remote-User\"\n}", "Two ways to authenticate", "", 8},
		{"empty auth", "store = sink.mem.local\nauth {}", "Empty auth block", "remove the block", 6},
		{"short token", "store = sink.mem.local\nauth { token = \"secret\" }", "Token too short", "at least 16", 6},
		{"bad header", "store = sink.mem.local\nauth { trust_user_header = \"Remote User\" }", "Invalid header name", "Remote-User", 6},
		{"zero timeout", "store = sink.mem.local\nrequest_timeout = \"0s\"", "Invalid request_timeout", "", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "source \"generate\" \"g\" {}\nsink \"mem\" \"local\" { input = source.generate.g }\nsink \"blackhole\" \"null\" { input = source.generate.g }\nconsole {\n" + tc.body + "\n}\n"
			_, diags := decode(t, src)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			d := diags[0]
			if d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("got %q: %q", d.Summary, d.Detail)
			}
			if tc.line > 0 && (d.Subject == nil || d.Subject.Start.Line != tc.line) {
				t.Errorf("subject %v, want line %d", d.Subject, tc.line)
			}
			if strings.Contains(diags.Error(), "0123456789abcdef") {
				t.Errorf("a diagnostic shows the token: %s", diags)
			}
		})
	}
}
