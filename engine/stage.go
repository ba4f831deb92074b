// Package engine compiles a parsed pipeline into a graph of stages and runs it:
// stages are goroutine groups joined by bounded channels that carry flow
// batches, with fan-in, fan-out, back-pressure or counted drops, per-stage
// metrics, a provisioning phase and a graceful shutdown.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/flow"
)

// Kind is the role of a stage in the graph.
type Kind string

// Stage kinds, as written in pipeline files.
const (
	KindSource     Kind = "source"
	KindEnricher   Kind = "enricher"
	KindClassifier Kind = "classifier"
	KindSink       Kind = "sink"
)

// Kinds lists the stage kinds in graph order.
var Kinds = []Kind{KindSource, KindEnricher, KindClassifier, KindSink}

// ID addresses a stage as kind.type.name everywhere: metrics, logs, the API.
type ID struct {
	Kind Kind
	Type string
	Name string
}

func (id ID) String() string { return fmt.Sprintf("%s.%s.%s", id.Kind, id.Type, id.Name) }

// Source produces flows. Run sends batches to out until ctx is cancelled or
// the source is exhausted (then it returns nil). A UDP source cannot push back:
// it counts what it could not hand on.
type Source interface {
	Run(ctx context.Context, out Output) error
}

// Output is where a source hands its batches. Send takes over the caller's
// reference on b. It blocks when a consumer with when_full = "block" is full,
// and drops (counted) for a consumer with when_full = "drop". It returns false
// when ctx is done (the batch is released).
type Output interface {
	Send(ctx context.Context, b *flow.Batch) bool
}

// Processor modifies batches in place: enrichers and classifiers. It may remove
// records by shortening b.Records (counting why). It owns b for the call: the
// runtime hands it a private copy when its input is shared with other stages.
// An error is a stage failure, handled by the pipeline's failure policy.
type Processor interface {
	Process(ctx context.Context, b *flow.Batch) error
}

// Sink consumes batches until in is closed, then flushes and returns. It calls
// Release on every batch once its records are durably written, or dropped and
// counted, so that completion callbacks (Kafka offset commits, shutdown) fire.
// If Run returns an error before in is closed, the runtime restarts it with
// backoff (or stops the pipeline, as configured) on the same channel.
type Sink interface {
	Run(ctx context.Context, in <-chan *flow.Batch) error
}

// Starter is implemented by stages with background work (SNMP pollers,
// database reloaders): Start runs before any source starts, Stop after the
// stage is drained.
type Starter interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Listen is a network address a stage binds.
type Listen struct {
	Network string // "udp" or "tcp"
	Address string // host:port as configured
	Range   hcl.Range
}

// Listener is implemented by stages that bind addresses, so the compiler can
// report two stages on one port.
type Listener interface {
	Listens() []Listen
}

// Env is what a stage constructor receives beside its configuration.
type Env struct {
	ID       ID
	Logger   *slog.Logger
	Metrics  prometheus.Registerer // labelled with stage=ID; a throwaway registry under validate
	StateDir string                // directory for state files (templates, caches)
	// EvalContext has the pipeline's variables and functions, for stages that
	// evaluate expressions at run time (classifier rules).
	EvalContext *hcl.EvalContext
	// Stages resolves a reference attribute (TypeRef) to the stage it names.
	Stages func(expr hcl.Expression) (ID, any, hcl.Diagnostics)
}

// OutputFunc adapts a function to Output (tests, embedding).
type OutputFunc func(ctx context.Context, b *flow.Batch) bool

// Send calls f.
func (f OutputFunc) Send(ctx context.Context, b *flow.Batch) bool { return f(ctx, b) }

// Sleep waits d, or until ctx is done; it reports whether the whole wait
// passed. Stages retrying with backoff use it.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
