package engine

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
)

// Node is one compiled stage.
type Node struct {
	ID       ID
	Block    *dsl.StageBlock
	Reg      *Registration
	Config   *dsl.Config
	Impl     any
	Inputs   []*Node
	Outputs  []*Node
	Buffer   int
	WhenFull string
	Workers  int
}

// Graph is a compiled pipeline: stages in topological order, ready to run.
// It is separate from the running pipeline (see Runtime).
type Graph struct {
	Nodes    []*Node // topological order: sources first
	ByID     map[ID]*Node
	Settings dsl.Settings
	Pipeline *dsl.Pipeline
	Metrics  *prometheus.Registry // every collector of the pipeline (served on /metrics)
	Logger   *slog.Logger
}

// CompileOptions are the environment a graph is compiled in.
type CompileOptions struct {
	Registry *Registry    // stage types; DefaultRegistry when nil
	Logger   *slog.Logger // discards when nil
	// NewLogger, when set, builds the logger from the pipeline's settings
	// (log_level) before any stage is built, so that every stage logs at the
	// configured level; it takes the place of Logger.
	NewLogger func(dsl.Settings) *slog.Logger
	Metrics   *prometheus.Registry // a fresh registry when nil
}

// Compile turns a parsed pipeline into a graph: it decodes every stage body
// with its type's spec, builds the stages, resolves inputs, and checks the
// graph. All problems are reported together.
func Compile(p *dsl.Pipeline, opts CompileOptions) (*Graph, hcl.Diagnostics) {
	reg := opts.Registry
	if reg == nil {
		reg = DefaultRegistry
	}
	logger := opts.Logger
	if opts.NewLogger != nil {
		logger = opts.NewLogger(p.Settings)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.HasSecrets() {
		logger = slog.New(&redactHandler{next: logger.Handler(), redact: p.Redact})
	}
	metrics := opts.Metrics
	if metrics == nil {
		metrics = prometheus.NewRegistry()
	}
	g := &Graph{ByID: map[ID]*Node{}, Settings: p.Settings, Pipeline: p, Metrics: metrics, Logger: logger}
	var diags hcl.Diagnostics
	var nodes []*Node
	stageCtx := p.StageEvalContext()

	resolve := func(expr hcl.Expression) (ID, any, hcl.Diagnostics) {
		ref, d := dsl.ParseRef(expr)
		if d.HasErrors() {
			return ID{}, nil, d
		}
		id := ID{Kind(ref.Kind), ref.Type, ref.Name}
		n, ok := g.ByID[id]
		if !ok {
			return id, nil, unknownRef(ref, g)
		}
		return id, n.Impl, nil
	}

	for _, blk := range p.Stages {
		kind := Kind(blk.Kind)
		id := ID{kind, blk.Type, blk.Name}
		r, ok := reg.Lookup(kind, blk.Type)
		if !ok {
			msg := fmt.Sprintf("There is no %s type %q.", kind, blk.Type)
			types := reg.Types(kind)
			if s := dsl.DidYouMean(blk.Type, types); s != "" {
				msg += fmt.Sprintf(" Did you mean %q?", s)
			} else if len(types) > 0 {
				msg += fmt.Sprintf(" Available: %s.", strings.Join(types, ", "))
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown " + string(kind) + " type",
				Detail: msg, Subject: blk.TypeRange.Ptr()})
			// Known by name, so references to it do not cascade into more errors.
			g.ByID[id] = &Node{ID: id, Block: blk}
			continue
		}
		n := &Node{ID: id, Block: blk, Reg: r, Buffer: blk.Buffer, WhenFull: blk.WhenFull, Workers: blk.Workers}
		if n.Buffer == 0 {
			n.Buffer = p.Settings.Buffer
		}
		if n.WhenFull == "" {
			n.WhenFull = p.Settings.WhenFull
		}
		if n.Workers == 0 {
			n.Workers = 1
		}
		g.ByID[id] = n
		nodes = append(nodes, n)
	}

	// Build every stage (sinks first, so a reference such as the console's
	// store resolves to a built stage whatever the file order).
	sort.SliceStable(nodes, func(i, j int) bool { return kindOrder(nodes[i].ID.Kind) > kindOrder(nodes[j].ID.Kind) })
	for _, n := range nodes {
		cfg, d := dsl.DecodeBody(n.Block.Body, n.Reg.Spec, p.EvalContext, n.Block.DeclRange)
		diags = append(diags, d...)
		n.Config = cfg
		if d.HasErrors() && !requiredSet(n.Reg.Spec, cfg) {
			continue // the stage would only repeat what is missing
		}
		env := Env{
			ID:          n.ID,
			Logger:      logger.With("stage", n.ID.String()),
			Metrics:     prometheus.WrapRegistererWith(prometheus.Labels{"stage": n.ID.String()}, metrics),
			StateDir:    p.Settings.StateDir,
			EvalContext: stageCtx,
			Stages:      resolve,
		}
		impl, d := n.Reg.New(cfg, env)
		failed := d.HasErrors()
		for _, diag := range d {
			// An attribute whose value failed to decode reads as unset: its
			// own mistake is reported, not the stage's check of it.
			if !cfg.BlamesFailed(diag.Subject) {
				diags = append(diags, diag)
			}
		}
		if failed {
			continue
		}
		n.Impl = impl
	}

	// Graph checks run whatever else is wrong: every mistake at once.
	diags = append(diags, g.link(nodes)...)
	order, cycle := topoSort(nodes)
	if cycle != nil {
		chain := make([]string, len(cycle))
		for i, n := range cycle {
			chain[i] = n.ID.String()
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in the pipeline",
			Detail:  fmt.Sprintf("Stages feed each other in a loop: %s.", strings.Join(chain, " -> ")),
			Subject: cycle[0].Block.InputRange})
	} else {
		g.Nodes = order
	}
	diags = append(diags, checkListens(nodes)...)
	if !diags.HasErrors() {
		diags = append(diags, g.checkUnused()...)
	}
	return g, p.RedactDiagnostics(dsl.Dedupe(diags))
}

func requiredSet(spec *dsl.Spec, cfg *dsl.Config) bool {
	for _, a := range spec.Attrs {
		if a.Required && !cfg.IsSet(a.Name) {
			return false
		}
	}
	return true
}

func kindOrder(k Kind) int {
	for i, kk := range Kinds {
		if kk == k {
			return i
		}
	}
	return -1
}

func unknownRef(ref dsl.Ref, g *Graph) hcl.Diagnostics {
	var ids []string
	for id := range g.ByID {
		ids = append(ids, id.String())
	}
	sort.Strings(ids)
	msg := fmt.Sprintf("No stage %s is declared.", ref)
	if s := dsl.DidYouMean(ref.String(), ids); s != "" {
		msg += fmt.Sprintf(" Did you mean %s?", s)
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to undeclared stage", Detail: msg, Subject: ref.Range.Ptr()}}
}

// link resolves inputs into edges and checks their shape.
func (g *Graph) link(nodes []*Node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Block.DeclRange.Start.Byte < nodes[j].Block.DeclRange.Start.Byte })
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Block.DeclRange.Filename < nodes[j].Block.DeclRange.Filename })
	for _, n := range nodes {
		blk := n.Block
		if n.ID.Kind == KindSource {
			if blk.InputRange != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "A source takes no input",
					Detail: fmt.Sprintf("%s receives flows from the network or a broker; remove its input.", n.ID), Subject: blk.InputRange})
			}
			if n.Workers > 1 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported workers on a source",
					Detail: "Sources set their own parallelism (sockets, consumers); remove workers.", Subject: blk.WorkersRange})
			}
			continue
		}
		if blk.InputRange == nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing input",
				Detail: fmt.Sprintf("%s needs an input, like input = source.netflow.routers.", n.ID), Subject: blk.DeclRange.Ptr()})
			continue
		}
		if n.ID.Kind == KindSink && n.Workers > 1 {
			if c, ok := n.Impl.(interface{ Concurrent() bool }); !ok || !c.Concurrent() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported workers on this sink",
					Detail: fmt.Sprintf("%s writes from one goroutine; remove workers.", n.ID), Subject: blk.WorkersRange})
			}
		}
		seen := map[ID]bool{}
		for _, ref := range blk.Inputs {
			id := ID{Kind(ref.Kind), ref.Type, ref.Name}
			in, ok := g.ByID[id]
			if !ok {
				diags = append(diags, unknownRef(ref, g)...)
				continue
			}
			if in.ID.Kind == KindSink {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "A sink cannot be an input",
					Detail: fmt.Sprintf("%s writes flows out of the pipeline and passes nothing on.", id), Subject: ref.Range.Ptr()})
				continue
			}
			if in == n {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in the pipeline",
					Detail: fmt.Sprintf("Stages feed each other in a loop: %s -> %s.", id, id), Subject: ref.Range.Ptr()})
				continue
			}
			if seen[id] {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate input",
					Detail: fmt.Sprintf("%s is listed twice.", id), Subject: ref.Range.Ptr()})
				continue
			}
			seen[id] = true
			n.Inputs = append(n.Inputs, in)
			in.Outputs = append(in.Outputs, n)
		}
	}
	return diags
}

// topoSort orders nodes so that every stage comes after its inputs; on a
// cycle it returns the chain of stages forming it.
func topoSort(nodes []*Node) ([]*Node, []*Node) {
	const (
		white = iota
		grey
		black
	)
	color := map[*Node]int{}
	var order []*Node
	var stack []*Node
	var cycle []*Node
	var visit func(n *Node) bool
	visit = func(n *Node) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, in := range n.Inputs {
			switch color[in] {
			case grey:
				// stack[k+1] feeds stack[k], and in feeds n: in -> n -> ... -> in
				for i, s := range stack {
					if s == in {
						cycle = []*Node{in}
						for k := len(stack) - 1; k >= i; k-- {
							cycle = append(cycle, stack[k])
						}
						break
					}
				}
				return false
			case white:
				if !visit(in) {
					return false
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		order = append(order, n)
		return true
	}
	// Sources first, then the rest in declaration order.
	sorted := append([]*Node{}, nodes...)
	sort.SliceStable(sorted, func(i, j int) bool { return kindOrder(sorted[i].ID.Kind) < kindOrder(sorted[j].ID.Kind) })
	for _, n := range sorted {
		if color[n] == white && !visit(n) {
			return nil, cycle
		}
	}
	return order, nil
}

// checkListens reports two stages bound to one address. nodes are in
// declaration order, so the later one is blamed.
func checkListens(nodes []*Node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	type bound struct {
		id ID
		l  Listen
	}
	var all []bound
	for _, n := range nodes {
		var mine []Listen
		if n.Config != nil {
			for _, a := range n.Reg.Spec.Attrs {
				if a.Listen == "" || n.Config.Failed(a.Name) || n.Config.String(a.Name) == "" {
					continue
				}
				mine = append(mine, Listen{Network: a.Listen, Address: n.Config.String(a.Name), Range: *n.Config.Range(a.Name)})
			}
		}
		if l, ok := n.Impl.(Listener); ok {
		next:
			for _, addr := range l.Listens() {
				for _, m := range mine {
					if m.Network == addr.Network && m.Address == addr.Address {
						continue next
					}
				}
				mine = append(mine, addr)
			}
		}
		for _, l := range mine {
			all = append(all, bound{n.ID, l})
		}
	}
	for i := range all {
		for j := 0; j < i; j++ {
			a, b := all[j], all[i]
			if a.l.Network == b.l.Network && sameListen(a.l.Address, b.l.Address) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Two stages on one port",
					Detail:  fmt.Sprintf("%s and %s both listen on %s %s.", a.id, b.id, b.l.Network, b.l.Address),
					Subject: b.l.Range.Ptr()})
			}
		}
	}
	return diags
}

// sameListen reports whether two listen addresses bind the same port in a
// way that conflicts (same port, and same host or a wildcard).
func sameListen(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	if pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" || h == "[::]" }
	return ha == hb || wild(ha) || wild(hb)
}

func (g *Graph) checkUnused() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, n := range g.Nodes {
		if n.ID.Kind != KindSink && len(n.Outputs) == 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Unused stage",
				Detail:  fmt.Sprintf("No stage takes %s as input: its flows are discarded.", n.ID),
				Subject: n.Block.DeclRange.Ptr()})
		}
	}
	return diags
}
