package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/flow"
)

// Runtime runs a compiled graph. Create it with NewRuntime and call Run once.
type Runtime struct {
	g      *Graph
	stages []*stage // topological order
	byNode map[*Node]*stage

	hardCtx    context.Context // cancelled when the shutdown deadline passes
	hardCancel context.CancelFunc
	srcCancel  context.CancelFunc

	failOnce sync.Once
	failErr  error
	started  time.Time
}

// stage is the running state of one node.
type stage struct {
	rt       *Runtime
	node     *Node
	in       chan *flow.Batch // nil for sources
	outputs  []*edge
	pending  atomic.Int32 // producers still running; the channel closes at 0
	closed   atomic.Bool
	state    atomic.Value // string
	flowsIn  atomic.Uint64
	flowsOut atomic.Uint64
	dropped  atomic.Uint64
	errors   atomic.Uint64
	restarts atomic.Uint64
	latency  prometheus.Observer
}

type edge struct {
	to    *stage
	drop  bool // when_full = "drop"
	clone bool // the consumer modifies batches and the batch is shared
}

// NewRuntime prepares g to run: channels, fan-out edges, metrics.
func NewRuntime(g *Graph) *Runtime {
	r := &Runtime{g: g, byNode: map[*Node]*stage{}, started: time.Now()}
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "flowengine_stage_batch_seconds",
		Help:    "Time a stage spends on one batch.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
	}, []string{"stage"})
	hist = Register(g.Metrics, hist)
	for _, n := range g.Nodes {
		s := &stage{rt: r, node: n, latency: hist.WithLabelValues(n.ID.String())}
		s.state.Store("created")
		if n.ID.Kind != KindSource {
			s.in = make(chan *flow.Batch, n.Buffer)
			s.pending.Store(int32(len(n.Inputs)))
		}
		r.stages = append(r.stages, s)
		r.byNode[n] = s
	}
	for _, s := range r.stages {
		for _, out := range s.node.Outputs {
			_, mutates := out.Impl.(Processor)
			s.outputs = append(s.outputs, &edge{to: r.byNode[out], drop: out.WhenFull == "drop",
				clone: mutates && len(s.node.Outputs) > 1})
		}
	}
	_ = g.Metrics.Register(&stageCollector{r: r})
	return r
}

// Send hands a batch to every consumer of the stage (the Output of sources and
// processors). It blocks on a full consumer with when_full = "block" until the
// shutdown deadline, and counts drops otherwise.
func (s *stage) Send(_ context.Context, b *flow.Batch) bool {
	n := b.Len()
	if n == 0 {
		b.Release()
		return true
	}
	s.flowsOut.Add(uint64(n))
	if len(s.outputs) == 0 {
		b.Release()
		return true
	}
	if len(s.outputs) > 1 {
		b.Retain(len(s.outputs) - 1)
	}
	ok := true
	for _, e := range s.outputs {
		bb := b
		if e.clone {
			bb = b.Clone()
		}
		if !e.deliver(s.rt.hardCtx, bb) {
			ok = false
		}
	}
	return ok
}

func (e *edge) deliver(ctx context.Context, b *flow.Batch) bool {
	n := uint64(b.Len())
	if e.drop {
		select {
		case e.to.in <- b:
			e.to.flowsIn.Add(n)
			return true
		default:
			e.to.dropped.Add(n)
			b.Release()
			return true
		}
	}
	select {
	case e.to.in <- b:
		e.to.flowsIn.Add(n)
		return true
	default:
	}
	select {
	case e.to.in <- b:
		e.to.flowsIn.Add(n)
		return true
	case <-ctx.Done():
		e.to.dropped.Add(n)
		b.Fail()
		b.Release()
		return false
	}
}

// finished is called once all goroutines of s have returned: consumers whose
// producers are all done get their channel closed, so they drain and finish.
func (s *stage) finished() {
	s.state.Store("stopped")
	for _, e := range s.outputs {
		if e.to.pending.Add(-1) == 0 {
			e.to.closed.Store(true)
			close(e.to.in)
		}
	}
}

// fail records the first fatal stage error and stops the sources.
func (r *Runtime) fail(err error) {
	r.failOnce.Do(func() {
		r.failErr = err
		r.srcCancel()
	})
}

// Run provisions nothing (see Graph.Provision); it starts background stage
// work, then sinks and processors, then sources, and runs until ctx is done
// or every source is exhausted. Shutdown stops the sources, drains every
// stage in topological order and flushes sinks within the pipeline's
// shutdown timeout. It returns the error of a stage that stopped the
// pipeline, or an error naming what was left when the deadline passed.
func (r *Runtime) Run(ctx context.Context) error {
	log := r.g.Logger
	r.hardCtx, r.hardCancel = context.WithCancel(context.Background())
	defer r.hardCancel()
	srcCtx, srcCancel := context.WithCancel(ctx)
	r.srcCancel = srcCancel
	defer srcCancel()

	// Background work of stages, sinks first.
	var startedStarters []Starter
	for i := len(r.stages) - 1; i >= 0; i-- {
		if st, ok := r.stages[i].node.Impl.(Starter); ok {
			if err := st.Start(r.hardCtx); err != nil {
				for _, s := range startedStarters {
					_ = s.Stop(context.Background())
				}
				return fmt.Errorf("start %s: %w", r.stages[i].node.ID, err)
			}
			startedStarters = append(startedStarters, st)
		}
	}

	var wg sync.WaitGroup
	for i := len(r.stages) - 1; i >= 0; i-- {
		s := r.stages[i]
		if s.node.ID.Kind == KindSource {
			continue
		}
		if len(s.node.Inputs) == 0 {
			if s.node.ID.Kind == KindSink {
				// input = []: a sink that receives no flows and is only
				// queried (a store the console reads); it runs until the
				// pipeline is stopped.
				go func() {
					<-srcCtx.Done()
					s.closed.Store(true)
					close(s.in)
				}()
			} else {
				s.closed.Store(true)
				close(s.in)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runConsumer()
			s.finished()
		}()
	}
	for _, s := range r.stages {
		if s.node.ID.Kind != KindSource {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runSource(srcCtx)
			s.finished()
		}()
	}
	log.Info("pipeline running", "stages", len(r.stages))

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var deadlineErr error
	select {
	case <-done:
	case <-srcCtx.Done():
		log.Info("shutting down: draining stages", "timeout", r.g.Settings.ShutdownTimeout)
		timer := time.NewTimer(r.g.Settings.ShutdownTimeout)
		select {
		case <-done:
			timer.Stop()
		case <-timer.C:
			left := r.leftover()
			deadlineErr = fmt.Errorf("shutdown deadline of %s passed with flows left: %s", r.g.Settings.ShutdownTimeout, left)
			log.Error("shutdown deadline passed", "left", left)
			r.hardCancel()
			<-done
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(startedStarters) - 1; i >= 0; i-- {
		if err := startedStarters[i].Stop(stopCtx); err != nil {
			log.Warn("stage stop failed", "error", err)
		}
	}
	for _, s := range r.Stats().Stages {
		log.Info("stage totals", "stage", s.ID, "flows_in", s.FlowsIn, "flows_out", s.FlowsOut,
			"flows_dropped", s.FlowsDropped, "errors", s.Errors, "restarts", s.Restarts)
	}
	log.Info("pipeline stopped", "uptime", time.Since(r.started).Round(time.Millisecond))
	if r.failErr != nil {
		return r.failErr
	}
	return deadlineErr
}

func (r *Runtime) leftover() string {
	msg := ""
	for _, s := range r.stages {
		if len(s.in) > 0 {
			msg += fmt.Sprintf("%s: %d batches queued; ", s.node.ID, len(s.in))
		}
	}
	if msg == "" {
		return "stages still flushing"
	}
	return msg
}

// backoff is an exponential delay from 100 ms to 30 s.
type backoff struct{ next time.Duration }

func (b *backoff) wait(ctx context.Context) bool {
	if b.next == 0 {
		b.next = 100 * time.Millisecond
	}
	t := time.NewTimer(b.next)
	defer t.Stop()
	b.next *= 2
	if b.next > 30*time.Second {
		b.next = 30 * time.Second
	}
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// failure handles a stage error per the pipeline's on_failure policy; it
// returns true when the stage should be restarted.
func (s *stage) failure(ctx context.Context, err error, bo *backoff) bool {
	s.errors.Add(1)
	log := s.rt.g.Logger.With("stage", s.node.ID.String())
	if s.rt.g.Settings.OnFailure == "stop" {
		log.Error("stage failed; stopping the pipeline", "error", err)
		s.rt.fail(fmt.Errorf("%s: %w", s.node.ID, err))
		return false
	}
	log.Warn("stage failed; restarting with backoff", "error", err, "delay", bo.next)
	s.state.Store("restarting")
	if !bo.wait(ctx) {
		return false
	}
	s.restarts.Add(1)
	s.state.Store("running")
	return true
}

func (s *stage) runSource(ctx context.Context) {
	src := s.node.Impl.(Source)
	s.state.Store("running")
	var bo backoff
	for {
		err := src.Run(ctx, s)
		if err == nil || ctx.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) {
				s.rt.g.Logger.Warn("source stopped with an error", "stage", s.node.ID.String(), "error", err)
			}
			return
		}
		if !s.failure(ctx, err, &bo) {
			return
		}
	}
}

func (s *stage) runConsumer() {
	s.state.Store("running")
	switch impl := s.node.Impl.(type) {
	case Processor:
		var wg sync.WaitGroup
		for w := 0; w < s.node.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.processLoop(impl)
			}()
		}
		wg.Wait()
	case Sink:
		var wg sync.WaitGroup
		for w := 0; w < s.node.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.sinkLoop(impl)
			}()
		}
		wg.Wait()
	}
}

func (s *stage) processLoop(p Processor) {
	ctx := s.rt.hardCtx
	var bo backoff
	for b := range s.in {
		for {
			start := time.Now()
			err := p.Process(ctx, b)
			s.latency.Observe(time.Since(start).Seconds())
			if err == nil {
				bo = backoff{}
				break
			}
			if !s.failure(ctx, err, &bo) {
				s.dropped.Add(uint64(b.Len()))
				b.Fail()
				b.Release()
				b = nil
				break
			}
		}
		if b != nil {
			s.Send(ctx, b)
		}
	}
}

func (s *stage) sinkLoop(k Sink) {
	ctx := s.rt.hardCtx
	var bo backoff
	for {
		err := k.Run(ctx, s.in)
		if err == nil || ctx.Err() != nil {
			if err != nil {
				s.rt.g.Logger.Error("sink stopped with an error", "stage", s.node.ID.String(), "error", err)
			}
			break
		}
		if s.closed.Load() && len(s.in) == 0 {
			s.rt.g.Logger.Error("sink failed while flushing", "stage", s.node.ID.String(), "error", err)
			break
		}
		if !s.failure(ctx, err, &bo) {
			break
		}
	}
	// Whatever is left (deadline passed, or the pipeline stopped) is counted.
	for b := range s.in {
		s.dropped.Add(uint64(b.Len()))
		b.Fail()
		b.Release()
	}
}
