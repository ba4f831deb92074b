// Command flowengine collects, enriches and delivers network flows as
// declared in HCL pipeline files.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flowengine/flowengine/console"
	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	_ "github.com/flowengine/flowengine/stages/all"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `flowengine collects network flows (NetFlow v5/v9, IPFIX, sFlow), enriches
them, stores them in DuckDB or ClickHouse or delivers them to Kafka and files,
and serves a console API over the store, as pipeline files say.

Usage:
  flowengine run      [-var k=v] [-var-file F] FILE|DIR...   provision, then run (and serve the console) until signalled
                      [-listen ADDR] [-console-listen ADDR]  override the metrics and console addresses
  flowengine validate [-var k=v] [-var-file F] FILE|DIR...   check pipeline files (stages and console)
  flowengine plan     [-detailed-exitcode] FILE|DIR...       preview provisioning (Kafka topics, ClickHouse tables)
  flowengine graph    [-format text|dot|mermaid] FILE|DIR... print the compiled graph
  flowengine stages   [TYPE]                                 document every stage type and its attributes
  flowengine exporter [flags]                                send synthetic NetFlow/IPFIX/sFlow to a collector
  flowengine schema   proto|json                             print the flow schema
  flowengine healthcheck [ADDRESS]                           exit 0 when a running flowengine's /healthz answers (default 127.0.0.1:9090)
  flowengine version

Variables come from variable defaults, FLOWENGINE_VAR_name, -var-file and -var
(last wins).
`

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// extraCommands are subcommands defined in other files of this package.
var extraCommands = map[string]func(args []string) int{}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 1
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "plan":
		return cmdPlan(rest, stdout, stderr)
	case "graph":
		return cmdGraph(rest, stdout, stderr)
	case "stages":
		return cmdStages(rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "flowengine %s\n", buildVersion())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if f, ok := extraCommands[cmd]; ok {
		return f(rest)
	}
	names := []string{"run", "validate", "plan", "graph", "stages", "version", "help"}
	for n := range extraCommands {
		names = append(names, n)
	}
	msg := fmt.Sprintf("flowengine: unknown command %q", cmd)
	if s := dsl.DidYouMean(cmd, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	fmt.Fprintf(stderr, "%s\n\n%s", msg, usage)
	return 1
}

func buildVersion() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		v += " (" + info.GoVersion + ")"
	}
	return v
}

// varFlags collects repeated -var and -var-file flags.
type varFlags struct {
	vars  map[string]string
	files []string
}

type kvFlag struct{ m map[string]string }

func (f kvFlag) String() string { return "" }
func (f kvFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", s)
	}
	f.m[k] = v
	return nil
}

type listFlag struct{ l *[]string }

func (f listFlag) String() string     { return "" }
func (f listFlag) Set(s string) error { *f.l = append(*f.l, s); return nil }

func (v *varFlags) register(fs *flag.FlagSet) {
	v.vars = map[string]string{}
	fs.Var(kvFlag{v.vars}, "var", "set a variable: -var name=value (repeatable)")
	fs.Var(listFlag{&v.files}, "var-file", "read variables from an HCL file (repeatable)")
}

// load parses and compiles pipeline files and decodes the console block,
// printing diagnostics. ok is false when there were errors; con is nil when
// the pipeline has no console.
func load(paths []string, vars varFlags, stderr io.Writer, opts engine.CompileOptions) (g *engine.Graph, con *console.Config, ok bool) {
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "flowengine: no pipeline file given")
		return nil, nil, false
	}
	p, diags := dsl.LoadFiles(paths, dsl.LoadOptions{Vars: vars.vars, VarFiles: vars.files, Environ: os.Environ()})
	if p != nil && !diags.HasErrors() {
		var d hcl.Diagnostics
		g, d = engine.Compile(p, opts)
		diags = append(diags, d...)
		con, d = console.Decode(p, g)
		diags = dsl.Dedupe(append(diags, d...))
	} else if p != nil {
		// Report stage and console problems too, all at once.
		gg, d := engine.Compile(p, engine.CompileOptions{Registry: opts.Registry})
		diags = append(diags, d...)
		_, d = console.Decode(p, gg)
		diags = dsl.Dedupe(append(diags, d...))
	}
	printDiags(stderr, p, diags)
	return g, con, !diags.HasErrors()
}

func printDiags(w io.Writer, p *dsl.Pipeline, diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	files := map[string]*hcl.File{}
	if p != nil {
		files = p.Files
	}
	width, color := uint(0), false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			width, color = 100, true
		}
	}
	// Rendered first, so that sensitive values are removed from the source
	// lines it quotes too.
	var buf strings.Builder
	tw := hcl.NewDiagnosticTextWriter(&buf, files, width, color)
	_ = tw.WriteDiagnostics(diags)
	_, _ = io.WriteString(w, p.Redact(buf.String()))
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var vars varFlags
	vars.register(fs)
	if err := fs.Parse(args); err != nil {
		return 1
	}
	g, con, ok := load(fs.Args(), vars, stderr, engine.CompileOptions{})
	if !ok {
		return 1
	}
	stages := fmt.Sprintf("%d stages", len(g.Nodes))
	if len(g.Nodes) == 1 {
		stages = "1 stage"
	}
	if con != nil {
		fmt.Fprintf(stdout, "The pipeline is valid: %s, and a console on %s over %s.\n", stages, con.Listen, con.StoreID)
		return 0
	}
	fmt.Fprintf(stdout, "The pipeline is valid: %s.\n", stages)
	return 0
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var vars varFlags
	vars.register(fs)
	logFormat := fs.String("log-format", "text", "log format: text or json")
	listen := fs.String("listen", "", "override the pipeline's metrics listen address")
	consoleListen := fs.String("console-listen", "", "override the console's listen address")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The log level comes from the pipeline: stages are built with it.
	g, con, ok := load(fs.Args(), vars, stderr, engine.CompileOptions{Metrics: metrics,
		NewLogger: func(s dsl.Settings) *slog.Logger { return newLogger(stderr, s.LogLevel, *logFormat) }})
	if !ok {
		return 1
	}
	logger := g.Logger
	if g.Settings.StateDir != "" {
		if err := os.MkdirAll(g.Settings.StateDir, 0o755); err != nil {
			logger.Error("cannot create the state directory", "dir", g.Settings.StateDir, "error", err)
			return 1
		}
	}

	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The pipeline stops once the console has answered what it was asked
	// (its store is one of the pipeline's sinks).
	ctx, stopPipeline := context.WithCancel(context.Background())
	defer stopPipeline()

	provCtx, cancel := context.WithTimeout(sigCtx, 5*time.Minute)
	err := g.Provision(provCtx)
	cancel()
	if err != nil {
		logger.Error("provisioning failed", "error", err)
		return 1
	}

	rt := engine.NewRuntime(g)
	addr := g.Settings.Listen
	if *listen != "" {
		addr = *listen
	}
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			logger.Error("cannot listen for metrics and API", "address", addr, "error", err)
			return 1
		}
		srv := &http.Server{Handler: console.OpsHandler(rt, metrics), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		logger.Info("serving metrics and API", "address", ln.Addr().String())
	}
	var consoleSrv *http.Server
	if con != nil {
		caddr := con.Listen
		if *consoleListen != "" {
			caddr = *consoleListen
		}
		ln, err := net.Listen("tcp", caddr)
		if err != nil {
			logger.Error("cannot listen for the console", "address", caddr, "error", err)
			return 1
		}
		clog := logger.With("component", "console")
		consoleSrv = &http.Server{Handler: console.Handler(con.NewOptions(rt, clog)),
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(clog.Handler(), slog.LevelWarn)}
		go func() { _ = consoleSrv.Serve(ln) }()
		defer consoleSrv.Close()
		auth := "none"
		switch {
		case con.Auth.Token != "":
			auth = "token"
		case con.Auth.UserHeader != "":
			auth = "header " + con.Auth.UserHeader
		}
		logger.Info("serving the console", "url", "http://"+ln.Addr().String()+"/", "store", con.StoreID.String(), "auth", auth)
	}
	go func() {
		<-sigCtx.Done()
		if consoleSrv != nil {
			shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = consoleSrv.Shutdown(shCtx)
			cancel()
		}
		stopPipeline()
	}()
	if err := rt.Run(ctx); err != nil {
		logger.Error("pipeline stopped with an error", "error", err)
		return 1
	}
	return 0
}

func cmdPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var vars varFlags
	vars.register(fs)
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing changes, 1 on error, 2 when there are changes")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	g, _, ok := load(fs.Args(), vars, stderr, engine.CompileOptions{})
	if !ok {
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	plans, err := g.Plans(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", g.Pipeline.Redact(err.Error()))
		return 1
	}
	var out strings.Builder
	n := engine.WritePlans(&out, plans)
	_, _ = io.WriteString(stdout, g.Pipeline.Redact(out.String()))
	if *detailed && n > 0 {
		return 2
	}
	return 0
}

func cmdGraph(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var vars varFlags
	vars.register(fs)
	format := fs.String("format", "text", "text, dot or mermaid")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	g, _, ok := load(fs.Args(), vars, stderr, engine.CompileOptions{})
	if !ok {
		return 1
	}
	switch *format {
	case "dot":
		engine.WriteDot(stdout, g)
	case "mermaid":
		engine.WriteMermaid(stdout, g)
	case "text":
		engine.WriteText(stdout, g)
	default:
		fmt.Fprintf(stderr, "flowengine graph: unknown format %q (text, dot or mermaid)\n", *format)
		return 1
	}
	return 0
}

func cmdStages(args []string, stdout, stderr io.Writer) int {
	regs := engine.DefaultRegistry.All()
	filter := ""
	if len(args) > 0 {
		filter = args[0]
	}
	found := false
	for _, r := range regs {
		if filter != "" && r.Type != filter && string(r.Kind)+"."+r.Type != filter {
			continue
		}
		found = true
		fmt.Fprintf(stdout, "%s %q\n", r.Kind, r.Type)
		fmt.Fprint(stdout, r.Spec.Doc("  "))
		fmt.Fprintln(stdout)
	}
	if filter == "" || filter == "pipeline" {
		found = true
		fmt.Fprintln(stdout, "pipeline")
		fmt.Fprint(stdout, dsl.PipelineSpec().Doc("  "))
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "Every stage also takes: input (references), buffer (batches), when_full (\"block\" or \"drop\"), workers.")
	}
	if filter == "" || filter == "console" {
		found = true
		fmt.Fprintln(stdout, "console")
		fmt.Fprint(stdout, console.Spec().Doc("  "))
		fmt.Fprintln(stdout)
	}
	if !found {
		names := []string{"pipeline", "console"}
		for _, r := range regs {
			names = append(names, r.Type, string(r.Kind)+"."+r.Type)
		}
		msg := fmt.Sprintf("flowengine stages: no stage type %q", filter)
		if s := dsl.DidYouMean(filter, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}
	return 0
}
