package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	kafka "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/flow/flowpb"
)

var sourceSpec = &dsl.Spec{
	Description: "Reads flows from a Kafka topic written by `sink \"kafka\"`, in a consumer group. Offsets are committed only once every sink " +
		"released the batches holding them (at-least-once: a crash loses nothing, some flows may come twice). Messages that are not flows are counted and skipped.",
	Attrs: append(append([]dsl.Attr{}, connAttrs...),
		dsl.Attr{Name: "topic", Type: dsl.TypeString, Default: flowpb.Topic(""), Description: "topic to read"},
		dsl.Attr{Name: "group", Type: dsl.TypeString, Default: "flowengine", Description: "consumer group id; outlets sharing it share the partitions"},
		dsl.Attr{Name: "from", Type: dsl.TypeString, Default: "latest", OneOf: []string{"latest", "earliest"}, Description: "where a group without committed offsets starts"},
		dsl.Attr{Name: "consumers", Type: dsl.TypeInt, Default: int64(1), Description: "group members in this process (useful up to the partition count)"},
		dsl.Attr{Name: "flush_interval", Type: dsl.TypeDuration, Default: 100 * time.Millisecond, Description: "longest a partly filled batch waits before it is handed on"},
		dsl.Attr{Name: "commit_timeout", Type: dsl.TypeDuration, Default: 30 * time.Second, Description: "at shutdown, longest wait for in-flight batches to complete and be committed"},
	),
	Blocks: connBlocks,
}

func init() {
	engine.RegisterSource("kafka", sourceSpec, newSource)
}

var (
	_ engine.Source  = (*Source)(nil)
	_ engine.Starter = (*Source)(nil)
)

// Source is `source "kafka"`.
type Source struct {
	id            engine.ID
	log           *slog.Logger
	conn          *conn
	topic, group  string
	start         int64
	consumers     int
	flushInterval time.Duration
	commitTimeout time.Duration

	mu      sync.Mutex
	members []*member

	consumed, invalid, commits, commitErrs prometheus.Counter
}

// member is one consumer of the group: its reader and offset tracker. It
// outlives Run: Stop commits what completed during the drain, then closes.
type member struct {
	reader  *kafka.Reader
	tracker *tracker
	stop    chan struct{}
	done    chan struct{}
}

func newSource(cfg *dsl.Config, env engine.Env) (*Source, hcl.Diagnostics) {
	c, diags := decodeConn(cfg)
	s := &Source{
		id: env.ID, log: env.Logger, conn: c, topic: cfg.String("topic"), group: cfg.String("group"),
		consumers: int(cfg.Int("consumers")), flushInterval: cfg.Duration("flush_interval"), commitTimeout: cfg.Duration("commit_timeout"),
		start: kafka.LastOffset,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.String("from") == "earliest" {
		s.start = kafka.FirstOffset
	}
	bad := func(attr, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", attr), Detail: detail, Subject: cfg.Range(attr)})
	}
	if s.consumers < 1 || s.consumers > 1024 {
		bad("consumers", "consumers must be between 1 and 1024.")
	}
	if s.group == "" {
		bad("group", "A consumer group is required: offsets are committed to it.")
	}
	if s.topic == "" {
		bad("topic", "A topic is required.")
	}
	if s.flushInterval <= 0 {
		bad("flush_interval", "flush_interval must be positive.")
	}
	s.consumed = engine.Register(env.Metrics, prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_kafka_messages_consumed_total", Help: "Messages read from Kafka."}))
	s.invalid = engine.Register(env.Metrics, prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_kafka_invalid_messages_total", Help: "Messages that are not valid flows, skipped (their offsets are committed)."}))
	s.commits = engine.Register(env.Metrics, prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_kafka_commits_total", Help: "Offset commits."}))
	s.commitErrs = engine.Register(env.Metrics, prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_kafka_commit_errors_total", Help: "Offset commits that failed (the flows will be read again)."}))
	engine.NewMetrics(env.Metrics).GaugeFunc(prometheus.GaugeOpts{Name: "flowengine_kafka_consumer_lag", Help: "Messages between the committed offsets and the high watermarks of the partitions this process reads."}, s.lag)
	return s, diags
}

func (s *Source) lag() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, m := range s.members {
		n += m.tracker.lag()
	}
	return float64(n)
}

// Start checks the credentials and that the topic exists: a wrong password
// is one clear error at startup; a missing topic or an unreachable cluster is
// a warning (the consumer waits for them).
func (s *Source) Start(ctx context.Context) error {
	if _, err := s.conn.dialer(); err != nil {
		return err
	}
	topic, err := s.conn.check(ctx, s.topic)
	switch {
	case errors.Is(err, ErrAuth):
		return err
	case err != nil:
		s.log.Warn("kafka not reachable yet; waiting for it", "brokers", s.conn.String(), "error", err)
	case topic == nil || topic.Error != nil:
		s.log.Warn("kafka topic does not exist yet; waiting for it (the Kafka sink creates it)", "topic", s.topic)
	}
	return nil
}

// Run consumes until ctx is done. The members stay in the group until Stop,
// so that the batches completing during the drain are committed.
func (s *Source) Run(ctx context.Context, out engine.Output) error {
	d, err := s.conn.dialer()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := 0; i < s.consumers; i++ {
		m := &member{
			reader: kafka.NewReader(kafka.ReaderConfig{
				Brokers: s.conn.brokers, GroupID: s.group, Topic: s.topic, Dialer: d,
				StartOffset: s.start, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond,
				CommitInterval:    0, // synchronous commits, made by the committer
				HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
				JoinGroupBackoff: time.Second, WatchPartitionChanges: true, PartitionWatchInterval: 5 * time.Second,
				QueueCapacity: 1024, ReadBackoffMin: 100 * time.Millisecond, ReadBackoffMax: 2 * time.Second,
				ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
					s.log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
				}),
			}),
			tracker: newTracker(s.topic),
			stop:    make(chan struct{}),
			done:    make(chan struct{}),
		}
		s.mu.Lock()
		s.members = append(s.members, m)
		s.mu.Unlock()
		go s.commitLoop(m)
		g.Go(func() error { return s.consume(gctx, m, out) })
	}
	return g.Wait()
}

// consume fetches messages into batches and hands them on.
func (s *Source) consume(ctx context.Context, m *member, out engine.Output) error {
	var (
		dec      flowpb.Decoder
		b        *flow.Batch
		pb       *pendingBatch
		deadline context.Context
		cancel   context.CancelFunc = func() {}
	)
	defer func() { cancel() }()
	flush := func() bool {
		cancel()
		deadline, cancel = nil, func() {}
		if pb == nil {
			return true
		}
		batch, p := b, pb
		b, pb = nil, nil
		if batch.Len() == 0 {
			// Only invalid messages: nothing to hand on, the offsets complete now.
			batch.Release()
			m.tracker.sent(p)
			m.tracker.done(p)
			return true
		}
		batch.OnDone(func() {
			// A batch a sink lost (batch.Failed) is never committed: it is
			// read again after a restart.
			if !batch.Failed() {
				m.tracker.done(p)
			}
		})
		if !out.Send(ctx, batch) {
			return false // never marked sent: these offsets are not committed
		}
		m.tracker.sent(p)
		return true
	}
	for {
		fctx := ctx
		if pb != nil {
			if deadline == nil {
				d, c := context.WithTimeout(ctx, s.flushInterval)
				deadline, cancel = d, c
			}
			fctx = deadline
		}
		msg, err := m.reader.FetchMessage(fctx)
		if err != nil {
			if ctx.Err() != nil {
				if b != nil {
					b.Release() // not handed on: its offsets stay uncommitted
				}
				return nil
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if !flush() {
					return nil
				}
				continue
			}
			if isAuthError(err) {
				return fmt.Errorf("%w: %s: %v", ErrAuth, s.conn, err)
			}
			s.log.Warn("kafka fetch failed", "error", err)
			select { // do not spin on a persistent error
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		s.consumed.Inc()
		if b == nil {
			b, pb = flow.NewBatch(), &pendingBatch{}
		}
		m.tracker.add(pb, &msg)
		r := b.Append()
		if err := dec.Decode(msg.Value, r); err != nil {
			b.Records = b.Records[:b.Len()-1]
			s.invalid.Inc()
			s.log.Debug("invalid flow message skipped", "partition", msg.Partition, "offset", msg.Offset, "error", err)
		}
		if b.Full() {
			if !flush() {
				return nil
			}
		}
	}
}

// commitLoop commits completed offsets as they become ready.
func (s *Source) commitLoop(m *member) {
	defer close(m.done)
	for {
		select {
		case <-m.tracker.notify:
			s.commit(m)
		case <-m.stop:
			s.commit(m)
			return
		}
	}
}

func (s *Source) commit(m *member) {
	msgs := m.tracker.ready()
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.reader.CommitMessages(ctx, msgs...); err != nil {
		s.commitErrs.Inc()
		s.log.Warn("kafka offset commit failed; the flows will be read again", "error", err)
		return
	}
	s.commits.Inc()
}

// Stop waits (up to commit_timeout or ctx) for the batches handed on to
// complete, commits their offsets and leaves the group.
func (s *Source) Stop(ctx context.Context) error {
	s.mu.Lock()
	members := s.members
	s.members = nil
	s.mu.Unlock()
	deadline := time.Now().Add(s.commitTimeout)
	var errs []error
	for _, m := range members {
		for m.tracker.outstandingSent() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		close(m.stop)
		<-m.done
		if err := m.reader.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
