// Package dsl reads pipeline files: HCL parsing, variables and locals,
// functions, the skeleton of every stage block (kind, type, name and the
// meta-arguments input, buffer, when_full, workers) and, through a stage's
// Spec, the rest of its body. Every mistake is an hcl.Diagnostic with a source
// range; all of them are reported at once. It knows nothing of goroutines.
package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// StageKinds are the block types that declare stages.
var StageKinds = []string{"source", "enricher", "classifier", "sink"}

// Ref is a reference to a stage: source.netflow.routers.
type Ref struct {
	Kind, Type, Name string
	Range            hcl.Range
}

func (r Ref) String() string { return r.Kind + "." + r.Type + "." + r.Name }

// StageBlock is the skeleton of a stage: what the engine needs to place it in
// the graph. Body holds the rest, for the stage type's own Spec.
type StageBlock struct {
	Kind, Type, Name string
	Inputs           []Ref
	InputRange       *hcl.Range // nil when there is no input attribute
	Buffer           int        // 0 = pipeline default
	WhenFull         string     // "" = pipeline default
	Workers          int        // 0 = 1
	WorkersRange     *hcl.Range
	Body             hcl.Body
	DeclRange        hcl.Range // the whole header: source "netflow" "routers"
	TypeRange        hcl.Range // the type label
}

// ID returns kind.type.name.
func (s *StageBlock) ID() string { return s.Kind + "." + s.Type + "." + s.Name }

// ConsoleBlock is the console block, decoded by the console package.
type ConsoleBlock struct {
	Body      hcl.Body
	DeclRange hcl.Range
}

// Settings are the engine-wide settings of the pipeline block.
type Settings struct {
	Listen          string        // metrics and API address
	Buffer          int           // default channel capacity, in batches
	WhenFull        string        // default "block"
	ShutdownTimeout time.Duration // drain deadline
	StateDir        string        // where stages keep state files
	OnFailure       string        // "restart" (with backoff) or "stop"
	LogLevel        string
}

// DefaultSettings are used for what the pipeline block does not set.
func DefaultSettings() Settings {
	return Settings{Listen: "127.0.0.1:9090", Buffer: 16, WhenFull: "block", ShutdownTimeout: 30 * time.Second,
		StateDir: "data/state", OnFailure: "restart", LogLevel: "info"}
}

var pipelineSpec = &Spec{
	Description: "Engine-wide settings.",
	Attrs: []Attr{
		{Name: "listen", Type: TypeString, Default: "127.0.0.1:9090", Description: "address of /metrics, /healthz and /api/v0/pipeline; \"\" disables it"},
		{Name: "buffer", Type: TypeInt, Default: int64(16), Description: "default channel capacity of a stage, in batches"},
		{Name: "when_full", Type: TypeString, Default: "block", OneOf: []string{"block", "drop"}, Description: "default behaviour when a stage's channel is full"},
		{Name: "shutdown_timeout", Type: TypeDuration, Default: 30 * time.Second, Description: "how long shutdown may drain stages before giving up"},
		{Name: "state_dir", Type: TypeString, Default: "data/state", Description: "directory for state files (templates, SNMP cache)"},
		{Name: "on_failure", Type: TypeString, Default: "restart", OneOf: []string{"restart", "stop"}, Description: "a failing stage is restarted with backoff, or stops the pipeline"},
		{Name: "log_level", Type: TypeString, Default: "info", OneOf: []string{"debug", "info", "warn", "error"}, Description: "log level"},
	},
}

// PipelineSpec documents the pipeline block.
func PipelineSpec() *Spec { return pipelineSpec }

// Pipeline is a parsed set of pipeline files.
type Pipeline struct {
	Files       map[string]*hcl.File
	Stages      []*StageBlock
	Console     *ConsoleBlock
	Settings    Settings
	Variables   map[string]cty.Value
	Sensitive   map[string]bool // variables declared sensitive = true
	EvalContext *hcl.EvalContext

	secrets  []string // strings of sensitive variables, longest first
	redactor *strings.Replacer
}

// LoadOptions are the variable values given outside the files.
type LoadOptions struct {
	Vars     map[string]string // -var k=v
	VarFiles []string          // -var-file
	Environ  []string          // os.Environ(): FLOWENGINE_VAR_k=v
}

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "source", LabelNames: []string{"type", "name"}},
	{Type: "enricher", LabelNames: []string{"type", "name"}},
	{Type: "classifier", LabelNames: []string{"type", "name"}},
	{Type: "sink", LabelNames: []string{"type", "name"}},
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "locals"},
	{Type: "console"},
	{Type: "pipeline"},
}}

var metaSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "input"}, {Name: "buffer"}, {Name: "when_full"}, {Name: "workers"},
}}

var variableSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "default"}, {Name: "description"}, {Name: "sensitive"},
}}

// ExpandPaths turns arguments into pipeline files: a directory stands for the
// *.hcl files in it, sorted.
func ExpandPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		m, err := filepath.Glob(filepath.Join(a, "*.hcl"))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: no *.hcl file in this directory", a)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

// LoadFiles reads and parses pipeline files (directories expand to their
// *.hcl files) and merges them into one pipeline.
func LoadFiles(paths []string, opts LoadOptions) (*Pipeline, hcl.Diagnostics) {
	srcs := map[string][]byte{}
	var order []string
	files, err := ExpandPaths(paths)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read pipeline", Detail: err.Error()}}
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read pipeline file", Detail: err.Error()}}
		}
		srcs[p] = b
		order = append(order, p)
	}
	return Load(order, srcs, opts)
}

// Load parses the given sources (file name → content, in order) into one pipeline.
func Load(order []string, srcs map[string][]byte, opts LoadOptions) (*Pipeline, hcl.Diagnostics) {
	p := &Pipeline{Files: map[string]*hcl.File{}, Settings: DefaultSettings(), Variables: map[string]cty.Value{},
		Sensitive: map[string]bool{}}
	var diags hcl.Diagnostics
	var bodies []*hcl.BodyContent
	for _, name := range order {
		f, d := hclsyntax.ParseConfig(srcs[name], name, hcl.InitialPos)
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		p.Files[name] = f
		content, d := f.Body.Content(rootSchema)
		diags = append(diags, d...)
		bodies = append(bodies, content)
	}
	var blocks []*hcl.Block
	for _, c := range bodies {
		blocks = append(blocks, c.Blocks...)
	}

	// Variables first: everything else may use them.
	diags = append(diags, p.loadVariables(blocks, opts)...)
	p.collectSecrets()
	p.EvalContext = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": p.markSensitive()},
		Functions: Functions(),
	}
	diags = append(diags, p.loadLocals(blocks)...)
	diags = append(diags, p.checkReferences()...)

	seen := map[string]hcl.Range{}
	var pipelineSeen *hcl.Range
	for _, blk := range blocks {
		switch blk.Type {
		case "source", "enricher", "classifier", "sink":
			s, d := p.decodeStage(blk)
			diags = append(diags, d...)
			if s == nil {
				continue
			}
			if prev, dup := seen[s.ID()]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate stage",
					Detail: fmt.Sprintf("%s is already declared at %s.", s.ID(), prev), Subject: blk.DefRange.Ptr()})
				continue
			}
			seen[s.ID()] = blk.DefRange
			p.Stages = append(p.Stages, s)
		case "console":
			if p.Console != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate console block",
					Detail: fmt.Sprintf("A console block is already declared at %s.", p.Console.DeclRange), Subject: blk.DefRange.Ptr()})
				continue
			}
			p.Console = &ConsoleBlock{Body: blk.Body, DeclRange: blk.DefRange}
		case "pipeline":
			if pipelineSeen != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate pipeline block",
					Detail: fmt.Sprintf("A pipeline block is already declared at %s.", pipelineSeen), Subject: blk.DefRange.Ptr()})
				continue
			}
			pipelineSeen = blk.DefRange.Ptr()
			diags = append(diags, p.decodeSettings(blk)...)
		}
	}
	return p, p.RedactDiagnostics(Dedupe(diags))
}

func (p *Pipeline) decodeSettings(blk *hcl.Block) hcl.Diagnostics {
	cfg, diags := DecodeBody(blk.Body, pipelineSpec, p.EvalContext, blk.DefRange)
	for _, d := range diags {
		// batch_timeout was once an engine-wide setting that nothing read.
		if d.Summary == "Unsupported argument" && strings.Contains(d.Detail, `"batch_timeout"`) {
			d.Detail += " Sinks that batch (kafka, clickhouse) set their own batch_timeout."
		}
	}
	if cfg == nil {
		return diags
	}
	s := &p.Settings
	s.Listen = cfg.String("listen")
	s.Buffer = int(cfg.Int("buffer"))
	s.WhenFull = cfg.String("when_full")
	s.ShutdownTimeout = cfg.Duration("shutdown_timeout")
	s.StateDir = cfg.String("state_dir")
	s.OnFailure = cfg.String("on_failure")
	s.LogLevel = cfg.String("log_level")
	if s.Buffer < 1 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid buffer",
			Detail: "buffer must be at least 1 batch.", Subject: cfg.Range("buffer")})
	}
	return diags
}

func (p *Pipeline) decodeStage(blk *hcl.Block) (*StageBlock, hcl.Diagnostics) {
	s := &StageBlock{Kind: blk.Type, Type: blk.Labels[0], Name: blk.Labels[1], DeclRange: blk.DefRange, TypeRange: blk.LabelRanges[0]}
	var diags hcl.Diagnostics
	for i, l := range blk.Labels {
		if !hclsyntax.ValidIdentifier(l) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid stage label",
				Detail:  fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.", l),
				Subject: blk.LabelRanges[i].Ptr()})
		}
	}
	content, rest, d := blk.Body.PartialContent(metaSchema)
	diags = append(diags, d...)
	s.Body = rest
	if a, ok := content.Attributes["input"]; ok {
		s.InputRange = a.Expr.Range().Ptr()
		refs, d := ParseRefs(a.Expr)
		diags = append(diags, d...)
		s.Inputs = refs
	}
	if a, ok := content.Attributes["buffer"]; ok {
		n, d := p.evalInt(a, 1)
		diags = append(diags, d...)
		s.Buffer = n
	}
	if a, ok := content.Attributes["workers"]; ok {
		n, d := p.evalInt(a, 1)
		diags = append(diags, d...)
		s.Workers = n
		s.WorkersRange = a.Expr.Range().Ptr()
	}
	if a, ok := content.Attributes["when_full"]; ok {
		v, d := a.Expr.Value(p.EvalContext)
		diags = append(diags, d...)
		if !d.HasErrors() && v.IsWhollyKnown() {
			v, _ = v.UnmarkDeep()
			str, msg := toString(v, "A string")
			if msg != "" || (str != "block" && str != "drop") {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for \"when_full\"",
					Detail: "when_full is \"block\" (back-pressure) or \"drop\" (count and drop).", Subject: a.Expr.Range().Ptr()})
			}
			s.WhenFull = str
		}
	}
	return s, diags
}

func (p *Pipeline) evalInt(a *hcl.Attribute, min int64) (int, hcl.Diagnostics) {
	v, diags := a.Expr.Value(p.EvalContext)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return 0, diags // an unknown value's mistake is reported where it lies
	}
	v, _ = v.UnmarkDeep()
	n, msg := toInt(v)
	if msg == "" && n < min {
		msg = fmt.Sprintf("%s must be at least %d, not %d.", a.Name, min, n)
	}
	if msg != "" {
		return 0, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", a.Name),
			Detail: msg, Subject: a.Expr.Range().Ptr()}}
	}
	return int(n), nil
}

// ParseRefs reads an input attribute: one reference or a list of them.
func ParseRefs(expr hcl.Expression) ([]Ref, hcl.Diagnostics) {
	var exprs []hcl.Expression
	if list, d := hcl.ExprList(expr); !d.HasErrors() {
		exprs = list
	} else {
		exprs = []hcl.Expression{expr}
	}
	var refs []Ref
	var diags hcl.Diagnostics
	for _, e := range exprs {
		r, d := ParseRef(e)
		diags = append(diags, d...)
		if !d.HasErrors() {
			refs = append(refs, r)
		}
	}
	return refs, diags
}

// ParseRef reads one stage reference such as source.netflow.routers.
func ParseRef(expr hcl.Expression) (Ref, hcl.Diagnostics) {
	bad := func(detail string) (Ref, hcl.Diagnostics) {
		return Ref{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid stage reference",
			Detail: detail, Subject: expr.Range().Ptr()}}
	}
	tr, d := hcl.AbsTraversalForExpr(expr)
	if d.HasErrors() {
		return bad("A reference to a stage is required, like source.netflow.routers (not a string).")
	}
	if len(tr) != 3 {
		return bad("A stage reference has three parts: kind.type.name, like source.netflow.routers.")
	}
	parts := make([]string, 3)
	parts[0] = tr.RootName()
	for i, step := range tr[1:] {
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			return bad("A stage reference has three parts: kind.type.name, like source.netflow.routers.")
		}
		parts[i+1] = a.Name
	}
	if !contains(StageKinds, parts[0]) {
		msg := fmt.Sprintf("%q is not a stage kind; a reference starts with one of %s.", parts[0], quoteList(StageKinds))
		if s := DidYouMean(parts[0], StageKinds); s != "" {
			msg += fmt.Sprintf(" Did you mean %q?", s)
		}
		return bad(msg)
	}
	return Ref{Kind: parts[0], Type: parts[1], Name: parts[2], Range: expr.Range()}, nil
}

// Dedupe keeps one diagnostic per mistake: of two diagnostics of the same
// severity where one's range lies within the other's, the wider one stays
// (it is the one that names the whole reference or value). The result is
// sorted as Sort does.
func Dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	within := func(in, out *hcl.Diagnostic) bool {
		return in.Subject != nil && out.Subject != nil && in.Severity == out.Severity &&
			in.Subject.Filename == out.Subject.Filename &&
			out.Subject.Start.Byte <= in.Subject.Start.Byte && in.Subject.End.Byte <= out.Subject.End.Byte
	}
	var out hcl.Diagnostics
next:
	for _, d := range diags {
		for i, o := range out {
			if within(d, o) {
				continue next
			}
			if within(o, d) {
				out[i] = d
				continue next
			}
		}
		out = append(out, d)
	}
	return Sort(out)
}

// Sort orders diagnostics as a reader goes through the files: those without a
// source range first, then by file name and position. Diagnostics at one
// place keep their order. diags is sorted in place and returned.
func Sort(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	return diags
}

// sortedKeys returns a map's keys in order, for messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
