// Package console serves the console's HTTP API: queries over a flow store
// (graphs, tables, the filter language, widgets, saved filters) under
// /api/v0/console/, the running pipeline (/api/v0/pipeline) and the flow
// schemas (/api/v0/schemas.json). It reads the pipeline's console block and
// finds its store through the `store = sink.type.name` reference: a sink
// that implements store.Backend.
package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/store"
)

// Defaults of the console block.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxBodySize    = 1 << 20
	DefaultMaxQueries     = 8
)

var spec = &dsl.Spec{
	Description: "The console: the HTTP API (and later the web UI) over a flow store.",
	Attrs: []dsl.Attr{
		{Name: "listen", Type: dsl.TypeString, Default: DefaultListen, Description: "address the console listens on"},
		{Name: "store", Type: dsl.TypeRef, Required: true, Description: "the sink the console queries, like sink.duckdb.local or sink.clickhouse.main"},
		{Name: "request_timeout", Type: dsl.TypeDuration, Default: DefaultRequestTimeout, Description: "how long one request may run before it is cancelled"},
		{Name: "max_body_size", Type: dsl.TypeSize, Default: int64(DefaultMaxBodySize), Description: "largest request body accepted"},
		{Name: "max_queries", Type: dsl.TypeInt, Default: int64(DefaultMaxQueries), Description: "store requests running at once; more wait, up to request_timeout"},
	},
	Blocks: []dsl.BlockSpec{{
		Type:        "auth",
		Description: "who may use the API: a bearer token, or a user header set by an authenticating reverse proxy (one of them)",
		Max:         1,
		Attrs: []dsl.Attr{
			{Name: "token", Type: dsl.TypeString, Description: "requests must send Authorization: Bearer <token>"},
			{Name: "trust_user_header", Type: dsl.TypeString, Description: "requests must carry this header (like Remote-User), set by the proxy in front"},
		},
	}},
}

// Spec documents the console block.
func Spec() *dsl.Spec { return spec }

// Secret is a string that never shows in logs, JSON or formatted output.
type Secret string

func (Secret) String() string               { return "(secret)" }
func (Secret) GoString() string             { return "(secret)" }
func (Secret) LogValue() slog.Value         { return slog.StringValue("(secret)") }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"(secret)"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte("(secret)"), nil }
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// matches compares candidate with the secret in constant time (hashes of
// both are compared, so the length does not leak either).
func (s Secret) matches(candidate string) bool {
	a, b := sha256.Sum256([]byte(s)), sha256.Sum256([]byte(candidate))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Auth says who may use the API. At most one of Token and UserHeader is set;
// neither means no authentication (the console then listens where only
// trusted users reach it).
type Auth struct {
	Token      Secret
	UserHeader string // canonical header name, like Remote-User
}

// Config is a decoded console block.
type Config struct {
	Listen         string
	StoreID        engine.ID
	Backend        store.Backend
	RequestTimeout time.Duration
	MaxBodySize    int64
	MaxQueries     int
	Auth           Auth
	Range          hcl.Range // the console block's header
}

// Decode reads the pipeline's console block (nil, nil when there is none)
// and resolves its store reference through the compiled graph. g may be a
// graph that failed to compile: the block is still checked, and the
// reference resolved when its sink was built.
func Decode(p *dsl.Pipeline, g *engine.Graph) (*Config, hcl.Diagnostics) {
	if p == nil || p.Console == nil {
		return nil, nil
	}
	blk := p.Console
	cfg, diags := dsl.DecodeBody(blk.Body, spec, p.EvalContext, blk.DeclRange)
	if cfg == nil {
		return nil, diags
	}
	c := &Config{
		Listen:         cfg.String("listen"),
		RequestTimeout: cfg.Duration("request_timeout"),
		MaxBodySize:    cfg.Size("max_body_size"),
		MaxQueries:     int(cfg.Int("max_queries")),
		Range:          blk.DeclRange,
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid listen address",
			Detail: fmt.Sprintf("listen must be host:port, like %q: %s.", DefaultListen, err), Subject: cfg.Range("listen")})
	}
	if h1, p1, err := net.SplitHostPort(c.Listen); err == nil && p1 != "0" {
		if h2, p2, err := net.SplitHostPort(p.Settings.Listen); err == nil && p1 == p2 && (h1 == h2 || h1 == "" || h2 == "") {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Two servers on one port",
				Detail:  fmt.Sprintf("The console and the pipeline's metrics (pipeline { listen = %q }) both listen on %s; give the console its own port, like %q.", p.Settings.Listen, c.Listen, DefaultListen),
				Subject: cfg.Range("listen")})
		}
	}
	if cfg.IsSet("request_timeout") && c.RequestTimeout <= 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid request_timeout",
			Detail: "request_timeout must be positive, like \"30s\".", Subject: cfg.Range("request_timeout")})
	}
	if cfg.IsSet("max_body_size") && c.MaxBodySize < 1024 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid max_body_size",
			Detail: "max_body_size must be at least 1KiB.", Subject: cfg.Range("max_body_size")})
	}
	if cfg.IsSet("max_queries") && c.MaxQueries < 1 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid max_queries",
			Detail: "max_queries must be at least 1.", Subject: cfg.Range("max_queries")})
	}
	if auths := cfg.Blocks("auth"); len(auths) == 1 {
		a := auths[0]
		c.Auth.Token = Secret(a.String("token"))
		c.Auth.UserHeader = a.String("trust_user_header")
		switch {
		case a.IsSet("token") && a.IsSet("trust_user_header"):
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Two ways to authenticate",
				Detail: "Set either token or trust_user_header in the auth block, not both.", Subject: a.Range("trust_user_header")})
		case a.IsSet("token"):
			if len(c.Auth.Token) < 16 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Token too short",
					Detail: "The console token must be at least 16 characters long (openssl rand -hex 24 makes one).", Subject: a.Range("token")})
			}
		case a.IsSet("trust_user_header"):
			h := c.Auth.UserHeader
			if h == "" || strings.ContainsAny(h, " \t:()<>@,;\\\"/[]?={}") {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid header name",
					Detail: fmt.Sprintf("%q is not an HTTP header name; write one like \"Remote-User\".", h), Subject: a.Range("trust_user_header")})
			}
			c.Auth.UserHeader = textproto.CanonicalMIMEHeaderKey(h)
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty auth block",
				Detail: "The auth block needs token = \"…\" or trust_user_header = \"Remote-User\"; remove the block to serve without authentication.", Subject: a.DefRange.Ptr()})
		}
	}
	if c.Auth.Token == "" && c.Auth.UserHeader == "" && !loopback(c.Listen) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Console without authentication",
			Detail: fmt.Sprintf("The console listens on %s, beyond this machine, and has no auth block: whoever reaches it can query the flows. "+
				"Add auth { token = ... } or auth { trust_user_header = \"Remote-User\" } behind a proxy, or listen on 127.0.0.1.", c.Listen),
			Subject: cfg.Range("listen")})
	}
	if expr := cfg.Expr("store"); expr != nil {
		id, backend, d := resolveStore(expr, g)
		diags = append(diags, d...)
		c.StoreID, c.Backend = id, backend
	}
	return c, diags
}

// loopback reports whether a listen address only accepts connections from
// this machine.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return true // reported elsewhere
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// resolveStore finds the sink a store reference names and checks that it
// stores flows the console can query. backend is nil when the reference is
// wrong or the sink could not be built (its own diagnostics say why).
func resolveStore(expr hcl.Expression, g *engine.Graph) (engine.ID, store.Backend, hcl.Diagnostics) {
	ref, diags := dsl.ParseRef(expr)
	if diags.HasErrors() {
		return engine.ID{}, nil, diags
	}
	id := engine.ID{Kind: engine.Kind(ref.Kind), Type: ref.Type, Name: ref.Name}
	if g == nil {
		return id, nil, nil
	}
	bad := func(summary, detail string) (engine.ID, store.Backend, hcl.Diagnostics) {
		return id, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: ref.Range.Ptr()}}
	}
	n, ok := g.ByID[id]
	if !ok {
		var sinks []string
		for other := range g.ByID {
			if other.Kind == engine.KindSink {
				sinks = append(sinks, other.String())
			}
		}
		sort.Strings(sinks)
		msg := fmt.Sprintf("No stage %s is declared.", id)
		if s := dsl.DidYouMean(id.String(), sinks); s != "" {
			msg += fmt.Sprintf(" Did you mean %s?", s)
		} else if len(sinks) > 0 {
			msg += fmt.Sprintf(" Sinks: %s.", strings.Join(sinks, ", "))
		}
		return bad("Reference to undeclared stage", msg)
	}
	if id.Kind != engine.KindSink {
		return bad("The console's store must be a sink",
			fmt.Sprintf("%s is a %s; the console queries a sink that stores flows, like sink.duckdb.local or sink.clickhouse.main.", id, id.Kind))
	}
	if n.Impl == nil {
		return id, nil, nil // not built: its own diagnostics say why
	}
	b, ok := n.Impl.(store.Backend)
	if !ok {
		return bad("This sink cannot be queried",
			fmt.Sprintf("%s (sink %q) does not store flows the console can query; use a sink \"duckdb\" or \"clickhouse\".", id, id.Type))
	}
	return id, b, nil
}
