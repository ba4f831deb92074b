package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/flow/flowpb"
)

var sinkSpec = &dsl.Spec{
	Description: fmt.Sprintf("Writes flows to a Kafka topic, one protobuf message per flow (flowengine.v%d.FlowV%d, see `flowengine schema proto`), "+
		"keyed by exporter address so that one exporter's flows stay in order. A batch is released only once Kafka acknowledged every message of it. "+
		"Creates the topic and keeps its partitions and configuration as declared.", flow.SchemaVersion, flow.SchemaVersion),
	Attrs: append(append([]dsl.Attr{}, connAttrs...),
		dsl.Attr{Name: "topic", Type: dsl.TypeString, Description: fmt.Sprintf("topic name (default: <topic_prefix>-v%d); the schema version belongs in the name", flow.SchemaVersion)},
		dsl.Attr{Name: "topic_prefix", Type: dsl.TypeString, Default: flowpb.DefaultTopicPrefix, Description: "prefix of the default topic name"},
		dsl.Attr{Name: "batch_size", Type: dsl.TypeInt, Default: int64(10000), Description: "flows written in one produce round"},
		dsl.Attr{Name: "batch_timeout", Type: dsl.TypeDuration, Default: time.Second, Description: "longest a flow waits for its produce round"},
		dsl.Attr{Name: "compression", Type: dsl.TypeString, Default: "zstd", OneOf: []string{"zstd", "lz4", "snappy", "gzip", "none"}, Description: "message compression"},
		dsl.Attr{Name: "required_acks", Type: dsl.TypeString, Default: "all", OneOf: []string{"all", "one", "none"}, Description: "acknowledgements a write waits for (\"none\" is not durable)"},
		dsl.Attr{Name: "max_retries", Type: dsl.TypeInt, Default: int64(0), Description: "produce rounds retried before the flows are dropped (counted); 0 retries forever, holding the batches (back-pressure)"},
		dsl.Attr{Name: "retry_backoff", Type: dsl.TypeDuration, Default: 100 * time.Millisecond, Description: "first wait before a retry; doubles up to retry_backoff_max"},
		dsl.Attr{Name: "retry_backoff_max", Type: dsl.TypeDuration, Default: 10 * time.Second, Description: "longest wait between retries"},
		dsl.Attr{Name: "partitions", Type: dsl.TypeInt, Default: int64(8), Description: "partitions of the topic (provisioning: can grow, never shrink)"},
		dsl.Attr{Name: "replication_factor", Type: dsl.TypeInt, Default: int64(1), Description: "replicas of each partition, when the topic is created"},
		dsl.Attr{Name: "topic_config", Type: dsl.TypeStringMap, Default: map[string]string{}, Description: "topic configuration kept in sync: retention.ms, segment.bytes, compression.type, ..."},
		dsl.Attr{Name: "provision", Type: dsl.TypeBool, Default: true, Description: "create and update the topic (false: leave it to the Kafka administrators)"},
	),
	Blocks: connBlocks,
}

func init() {
	engine.RegisterSink("kafka", sinkSpec, newSink)
}

var (
	_ engine.Sink        = (*Sink)(nil)
	_ engine.Starter     = (*Sink)(nil)
	_ engine.Provisioner = (*Sink)(nil)
)

// Sink is `sink "kafka"`.
type Sink struct {
	id     engine.ID
	log    *slog.Logger
	conn   *conn
	topic  string
	want   topicSpec
	provis bool

	batchSize    int
	batchTimeout time.Duration
	compression  compress.Compression
	acks         kafka.RequiredAcks
	maxRetries   int
	backoff      time.Duration
	backoffMax   time.Duration

	writer *kafka.Writer

	// Pending produce round: batches, their messages and the bytes behind them.
	pending []*flow.Batch
	msgs    []kafka.Message
	arena   []byte

	plans planCache

	messages, bytes, errs, retries prometheus.Counter
	dropped                        *prometheus.CounterVec
}

func newSink(cfg *dsl.Config, env engine.Env) (*Sink, hcl.Diagnostics) {
	c, diags := decodeConn(cfg)
	s := &Sink{
		id: env.ID, log: env.Logger, conn: c, provis: cfg.Bool("provision"),
		batchSize: int(cfg.Int("batch_size")), batchTimeout: cfg.Duration("batch_timeout"),
		maxRetries: int(cfg.Int("max_retries")), backoff: cfg.Duration("retry_backoff"), backoffMax: cfg.Duration("retry_backoff_max"),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.topic = cfg.String("topic")
	if s.topic == "" {
		s.topic = flowpb.Topic(cfg.String("topic_prefix"))
	}
	s.want = topicSpec{name: s.topic, partitions: int(cfg.Int("partitions")), replication: int(cfg.Int("replication_factor")), config: cfg.StringMap("topic_config")}
	bad := func(attr, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", attr), Detail: detail, Subject: cfg.Range(attr)})
	}
	if s.batchSize < 1 {
		bad("batch_size", "batch_size must be at least 1.")
	}
	if s.batchTimeout <= 0 {
		bad("batch_timeout", "batch_timeout must be positive.")
	}
	if s.maxRetries < 0 {
		bad("max_retries", "max_retries must be 0 (forever) or more.")
	}
	if s.backoff <= 0 || s.backoffMax < s.backoff {
		bad("retry_backoff", "retry_backoff must be positive and at most retry_backoff_max.")
	}
	if s.want.partitions < 1 {
		bad("partitions", "A topic has at least one partition.")
	}
	if s.want.replication < 1 || s.want.replication > 32767 {
		bad("replication_factor", "replication_factor must be between 1 and 32767.")
	}
	switch cfg.String("compression") {
	case "zstd":
		s.compression = compress.Zstd
	case "lz4":
		s.compression = compress.Lz4
	case "snappy":
		s.compression = compress.Snappy
	case "gzip":
		s.compression = compress.Gzip
	}
	switch cfg.String("required_acks") {
	case "all":
		s.acks = kafka.RequireAll
	case "one":
		s.acks = kafka.RequireOne
	case "none":
		s.acks = kafka.RequireNone
	}
	s.messages = engine.Register(env.Metrics, prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_kafka_messages_produced_total", Help: "Flow messages Kafka acknowledged."}))
	s.bytes = engine.Register(env.Metrics, prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_kafka_bytes_produced_total", Help: "Bytes of keys and values Kafka acknowledged (before compression)."}))
	s.errs = engine.Register(env.Metrics, prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_kafka_produce_errors_total", Help: "Produce rounds that failed, wholly or partly."}))
	s.retries = engine.Register(env.Metrics, prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_kafka_produce_retries_total", Help: "Produce rounds retried after an error."}))
	s.dropped = engine.Register(env.Metrics, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_kafka_flows_dropped_total", Help: "Flows not written to Kafka, by reason."}, []string{"reason"}))
	return s, diags
}

// Topic returns the topic the sink writes to.
func (s *Sink) Topic() string { return s.topic }

// Start checks the credentials: a wrong password or certificate stops the
// pipeline at startup with one clear error. An unreachable cluster does not:
// the sink retries while batches wait.
func (s *Sink) Start(ctx context.Context) error {
	t, err := s.conn.transport()
	if err != nil {
		return err
	}
	if _, err := s.conn.check(ctx, s.topic); err != nil {
		if errors.Is(err, ErrAuth) {
			return err
		}
		s.log.Warn("kafka not reachable yet; flows will wait", "brokers", s.conn.String(), "error", err)
	}
	s.writer = &kafka.Writer{
		Addr:      kafka.TCP(s.conn.brokers...),
		Topic:     s.topic,
		Balancer:  &kafka.Hash{},
		Transport: t,
		// The sink gathers a produce round itself, then hands it whole to
		// the writer: the writer's own linger only has to cover the time
		// WriteMessages takes to queue the round.
		BatchSize:       s.batchSize,
		BatchBytes:      1 << 20,
		BatchTimeout:    5 * time.Millisecond,
		RequiredAcks:    s.acks,
		Compression:     s.compression,
		MaxAttempts:     2,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		WriteTimeout:    30 * time.Second,
		ReadTimeout:     30 * time.Second,
	}
	return nil
}

// Stop closes the writer.
func (s *Sink) Stop(context.Context) error {
	if s.writer != nil {
		return s.writer.Close()
	}
	return nil
}

// Run writes batches until in is closed; each batch is released once Kafka
// acknowledged all its messages.
func (s *Sink) Run(ctx context.Context, in <-chan *flow.Batch) error {
	if s.writer == nil {
		if err := s.Start(ctx); err != nil {
			return err
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	pendingFlows := 0
	for {
		select {
		case b, ok := <-in:
			if !ok {
				s.flush(ctx)
				return nil
			}
			if len(s.pending) == 0 {
				timer.Reset(s.batchTimeout)
			}
			s.add(b)
			pendingFlows += b.Len()
			if pendingFlows >= s.batchSize {
				timer.Stop()
				s.flush(ctx)
				pendingFlows = 0
			}
		case <-timer.C:
			s.flush(ctx)
			pendingFlows = 0
		case <-ctx.Done():
			s.flush(ctx) // drops and counts what is pending
			return ctx.Err()
		}
	}
}

// add encodes a batch's flows into the pending produce round.
func (s *Sink) add(b *flow.Batch) {
	s.pending = append(s.pending, b)
	for i := range b.Records {
		r := &b.Records[i]
		start := len(s.arena)
		s.arena = appendKey(s.arena, r)
		keyEnd := len(s.arena)
		s.arena = flowpb.AppendRecord(s.arena, r)
		s.msgs = append(s.msgs, kafka.Message{})
		m := &s.msgs[len(s.msgs)-1]
		// Slices into the arena stay valid when it grows: they keep the
		// old array alive until the round is written.
		m.Key = s.arena[start:keyEnd:keyEnd]
		m.Value = s.arena[keyEnd:len(s.arena):len(s.arena)]
	}
}

// appendKey appends the partition key: the exporter address, 4 or 16 bytes.
func appendKey(dst []byte, r *flow.Record) []byte {
	a := r.ExporterAddress.Unmap()
	if a.Is4() {
		b := a.As4()
		return append(dst, b[:]...)
	}
	b := a.As16()
	return append(dst, b[:]...)
}

// flush writes the pending round, retrying with exponential backoff, then
// releases its batches.
func (s *Sink) flush(ctx context.Context) {
	if len(s.pending) == 0 {
		return
	}
	msgs := s.msgs
	backoff := s.backoff
	lost := false
	for attempt := 0; len(msgs) > 0; attempt++ {
		if ctx.Err() != nil {
			s.dropped.WithLabelValues("shutdown").Add(float64(len(msgs)))
			lost = true
			s.log.Error("kafka sink stopped before flows were written", "flows", len(msgs))
			break
		}
		err := s.writer.WriteMessages(ctx, msgs...)
		if err == nil {
			s.acked(msgs)
			break
		}
		s.errs.Inc()
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(msgs) {
			// Keep the failed messages only, in order.
			failed := msgs[:0]
			var ok []kafka.Message
			for i := range msgs {
				if werrs[i] == nil {
					ok = append(ok, msgs[i])
				} else {
					failed = append(failed, msgs[i])
				}
			}
			s.acked(ok)
			msgs = failed
			if len(msgs) == 0 {
				break
			}
		}
		if isAuthError(err) {
			s.log.Error("kafka refuses the credentials", "brokers", s.conn.String(), "error", err)
		}
		if s.maxRetries > 0 && attempt >= s.maxRetries {
			s.dropped.WithLabelValues("retries_exhausted").Add(float64(len(msgs)))
			lost = true
			s.log.Error("kafka produce failed, flows dropped", "flows", len(msgs), "attempts", attempt+1, "error", err)
			break
		}
		if attempt == 0 || attempt%10 == 0 {
			s.log.Warn("kafka produce failed, retrying", "flows", len(msgs), "attempt", attempt+1, "backoff", backoff, "error", err)
		}
		s.retries.Inc()
		engine.Sleep(ctx, backoff/2+rand.N(backoff/2+1))
		backoff = min(2*backoff, s.backoffMax)
	}
	for _, b := range s.pending {
		if lost {
			b.Fail() // an at-least-once source upstream must not acknowledge these
		}
		b.Release()
	}
	clear(s.pending)
	s.pending = s.pending[:0]
	clear(s.msgs) // drop references to the arena
	s.msgs = s.msgs[:0]
	if cap(s.arena) > 64<<20 {
		s.arena = nil
	} else {
		s.arena = s.arena[:0]
	}
}

func (s *Sink) acked(msgs []kafka.Message) {
	n := 0
	for i := range msgs {
		n += len(msgs[i].Key) + len(msgs[i].Value)
	}
	s.messages.Add(float64(len(msgs)))
	s.bytes.Add(float64(n))
}
