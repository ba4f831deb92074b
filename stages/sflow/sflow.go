// Package sflow is the `source "sflow"` stage: it receives sFlow v5 datagrams
// over UDP and decodes their flow samples (compact and expanded) into flow
// records.
//
// The sampled packet header is parsed (Ethernet, 802.1Q/QinQ, MPLS, IPv4,
// IPv6 with extension headers, TCP, UDP, ICMP, ICMPv6), as are the extended
// switch, router and gateway records. Bytes is the IP total length of the
// sampled packet, Packets is 1, SamplingRate comes from the sample unless the
// pipeline overrides it. The exporter address is the sFlow agent address (the
// UDP source when the agent address is unset). Counter samples are counted and
// skipped; malformed datagrams are counted per exporter and dropped whole.
// Datagram sequence numbers are tracked per agent and sub-agent: lost
// datagrams and agent restarts are counted per exporter.
//
// Decoding writes directly into pooled batches with no allocation per flow;
// batches are handed on when full or 100 ms after their first flow. Several
// SO_REUSEPORT sockets share the port, each with its own goroutine.
package sflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/exporterlabel"
	"github.com/flowengine/flowengine/internal/samplingrate"
	"github.com/flowengine/flowengine/internal/udpsock"
)

// Spec is the configuration of `source "sflow"`.
var Spec = &dsl.Spec{
	Description: "Receives sFlow v5 datagrams over UDP and decodes their flow samples (sampled headers, extended switch/router/gateway records).",
	Attrs: append(udpsock.Attrs(":6343"), []dsl.Attr{
		{Name: samplingrate.DefaultAttr, Type: dsl.TypeAny, Description: samplingrate.DefaultDescription},
		{Name: samplingrate.OverrideAttr, Type: dsl.TypeAny, Description: samplingrate.OverrideDescription},
		{Name: "max_agents", Type: dsl.TypeInt, Default: int64(DefaultMaxAgents),
			Description: "Maximum number of agent and sub-agent pairs whose datagram sequence numbers are tracked (lost datagrams counted); beyond, the least recently seen sixteenth is forgotten (counted)."},
		{Name: "max_exporter_labels", Type: dsl.TypeInt, Default: int64(exporterlabel.Default),
			Description: "Maximum number of exporters (agent addresses) with their own metric series (label exporter=<address>); the metrics of further exporters are added up under exporter=\"other\"."},
	}...),
}

func init() {
	engine.RegisterSource("sflow", Spec, New)
}

var (
	_ engine.Source   = (*Source)(nil)
	_ engine.Listener = (*Source)(nil)
)

// flushInterval is how long a partial batch waits for more flows.
const flushInterval = 100 * time.Millisecond

// Source is the `source "sflow"` stage.
type Source struct {
	sock    udpsock.Config
	decoder Decoder
	logger  *slog.Logger
	metrics *metrics
	seq     *sequences

	mu    sync.Mutex
	addrs []net.Addr // bound addresses, once Run has bound its sockets
	bound chan struct{}
}

// New builds the stage from its configuration; it does no I/O.
func New(cfg *dsl.Config, env engine.Env) (*Source, hcl.Diagnostics) {
	sock, diags := udpsock.Decode(cfg)
	s := &Source{
		sock:   sock,
		logger: env.Logger,
		bound:  make(chan struct{}),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	var d hcl.Diagnostics
	s.decoder.DefaultRate, d = parseRateTable(cfg.Value("default_sampling_rate"), cfg.Range("default_sampling_rate"), "default_sampling_rate")
	diags = append(diags, d...)
	s.decoder.OverrideRate, d = parseRateTable(cfg.Value("override_sampling_rate"), cfg.Range("override_sampling_rate"), "override_sampling_rate")
	diags = append(diags, d...)
	reg := env.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot register sflow metrics",
			Detail: err.Error(), Subject: &cfg.DefRange})
	}
	labels := cfg.Int("max_exporter_labels")
	if labels < 1 || labels > 1<<20 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: `Invalid value for "max_exporter_labels"`,
			Detail: "Between 1 and 1048576 exporters with their own series are allowed.", Subject: cfg.Range("max_exporter_labels")})
	}
	m.labels = exporterlabel.New(int(labels))
	agents := cfg.Int("max_agents")
	if agents < 1 || agents > 1<<24 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: `Invalid value for "max_agents"`,
			Detail: "Between 1 and 16777216 agents are allowed.", Subject: cfg.Range("max_agents")})
	}
	s.seq = newSequences(int(agents))
	s.metrics = m
	return s, diags
}

// Listens reports the UDP address the source binds.
func (s *Source) Listens() []engine.Listen {
	return []engine.Listen{{Network: "udp", Address: s.sock.Listen, Range: s.sock.ListenRange}}
}

// Addr returns the bound address once Run has bound its sockets (tests listen
// on port 0), waiting for it until ctx is done.
func (s *Source) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.bound:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.addrs) == 0 {
		return nil, errors.New("sflow source is not listening")
	}
	return s.addrs[0], nil
}

// Run binds the sockets and decodes datagrams until ctx is done.
func (s *Source) Run(ctx context.Context, out engine.Output) error {
	conns, err := s.bind(ctx)
	if err != nil {
		close(s.bound)
		return err
	}
	s.mu.Lock()
	for _, c := range conns {
		s.addrs = append(s.addrs, c.LocalAddr())
	}
	s.mu.Unlock()
	close(s.bound)
	s.logger.Info("listening for sFlow", slog.String("address", conns[0].LocalAddr().String()), slog.Int("sockets", len(conns)))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-gctx.Done()
		for _, c := range conns {
			c.Close()
		}
		return nil
	})
	for _, c := range conns {
		g.Go(func() error { return s.read(gctx, c, out) })
	}
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// bind opens the SO_REUSEPORT sockets on one address (the first socket's
// port, when the configured port is 0).
func (s *Source) bind(ctx context.Context) ([]*net.UDPConn, error) {
	conns, err := s.sock.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("sflow: %w", err)
	}
	return conns, nil
}

// read is the loop of one socket: it owns a batch and a decoding buffer.
func (s *Source) read(ctx context.Context, conn *net.UDPConn, out engine.Output) error {
	buf := make([]byte, 65536)
	batch := flow.NewBatch()
	cache := map[netip.Addr]*exporterMetrics{}
	var deadline time.Time
	flush := func() {
		if batch.Len() == 0 {
			return
		}
		n := batch.Len()
		sendCtx := ctx
		if ctx.Err() != nil {
			// Shutting down: hand the last flows on, but do not wait forever.
			var cancel context.CancelFunc
			sendCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
		}
		if !out.Send(sendCtx, batch) {
			s.metrics.notSent.Add(float64(n))
		}
		batch = flow.NewBatch()
		deadline = time.Time{}
	}
	defer func() {
		flush()
		batch.Release()
	}()
	oob := make([]byte, udpsock.OOBSize)
	var drops uint32 // the socket's cumulative kernel drop count
	for {
		if err := conn.SetReadDeadline(deadline); err != nil {
			return nil // closed
		}
		n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				flush()
				continue
			}
			s.metrics.receiveErrors.Inc()
			continue
		}
		if oobn > 0 {
			if d, ok := udpsock.Overflow(oob[:oobn]); ok {
				if d > drops {
					s.metrics.kernelDrops.Add(float64(d - drops))
				}
				drops = d
			}
		}
		now := time.Now()
		data := buf[:n]
		if batch.Len()+MaxFlows(n) > cap(batch.Records) && batch.Len() > 0 {
			flush()
		}
		empty := batch.Len() == 0
		res, derr := s.decoder.Decode(data, from.Addr().Unmap(), now, batch)
		em := s.metrics.exporter(cache, res.Agent)
		em.datagrams.Inc()
		em.st.datagrams.Add(1)
		if ns := now.UnixNano(); em.st.seen.Load() < ns {
			em.st.seen.Store(ns)
		}
		if derr != nil {
			em.decodeErrors.Inc()
			em.st.errors.Add(1)
			continue
		}
		if n := s.seq.check(res.Agent, res.SubAgentID, res.SequenceNumber, now, em); n > 0 {
			s.metrics.seqEvicted.Add(float64(n))
		}
		if res.Flows > 0 {
			em.flows.Add(float64(res.Flows))
			em.samplingRate.Set(float64(res.SamplingRate))
			em.st.flows.Add(uint64(res.Flows))
			if em.st.rate.Load() != res.SamplingRate {
				em.st.rate.Store(res.SamplingRate)
			}
		}
		if res.CounterSamples > 0 {
			em.countersSkipped.Add(float64(res.CounterSamples))
		}
		if res.OtherSamples > 0 {
			em.otherSkipped.Add(float64(res.OtherSamples))
		}
		if batch.Full() {
			flush()
		} else if empty && batch.Len() > 0 {
			deadline = now.Add(flushInterval)
		}
	}
}

// metrics are the source's Prometheus metrics.
type metrics struct {
	datagrams     *prometheus.CounterVec
	flows         *prometheus.CounterVec
	decodeErrors  *prometheus.CounterVec
	skipped       *prometheus.CounterVec
	samplingRate  *prometheus.GaugeVec
	receiveErrors prometheus.Counter
	kernelDrops   prometheus.Counter
	notSent       prometheus.Counter
	seqEvicted    prometheus.Counter
	lost          *prometheus.CounterVec
	resets        *prometheus.CounterVec

	// labels bounds the exporters with their own series (the agent address
	// is packet content: it must not grow the metrics unbounded).
	labels    *exporterlabel.Set
	mu        sync.Mutex
	exporters map[netip.Addr]*exporterMetrics
	other     *exporterMetrics
}

// exporterMetrics are the counters of one exporter, resolved once.
type exporterMetrics struct {
	datagrams, flows, decodeErrors, countersSkipped, otherSkipped prometheus.Counter
	lost, resets                                                  prometheus.Counter
	samplingRate                                                  prometheus.Gauge
	st                                                            exporterStats
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	f := engine.NewMetrics(reg)
	m := &metrics{
		datagrams: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_sflow_datagrams_total",
			Help: "sFlow datagrams received, per exporter (agent address)."}, []string{"exporter"}),
		flows: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_sflow_flows_total",
			Help: "Flows decoded from sFlow flow samples, per exporter."}, []string{"exporter"}),
		decodeErrors: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_sflow_decode_errors_total",
			Help: "Malformed sFlow datagrams dropped, per exporter."}, []string{"exporter"}),
		skipped: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_sflow_samples_skipped_total",
			Help: "sFlow samples skipped, per exporter and kind (counter, other)."}, []string{"exporter", "kind"}),
		samplingRate: f.GaugeVec(prometheus.GaugeOpts{Name: "flowengine_sflow_sampling_rate",
			Help: "Sampling rate of the last flow sample, per exporter."}, []string{"exporter"}),
		kernelDrops: f.Counter(prometheus.CounterOpts{Name: "flowengine_sflow_kernel_drops_total",
			Help: "Datagrams the kernel dropped because the socket receive buffer was full (SO_RXQ_OVFL)."}),
		receiveErrors: f.Counter(prometheus.CounterOpts{Name: "flowengine_sflow_receive_errors_total",
			Help: "Errors reading the UDP sockets."}),
		seqEvicted: f.Counter(prometheus.CounterOpts{Name: "flowengine_sflow_sequence_agents_evicted_total",
			Help: "Agent and sub-agent pairs whose sequence tracking was forgotten to make room (max_agents)."}),
		lost: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_sflow_lost_datagrams_total",
			Help: "Datagrams lost on the way (gaps in the sequence numbers of an agent and sub-agent), per exporter."}, []string{"exporter"}),
		resets: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_sflow_sequence_resets_total",
			Help: "Sequence numbers of an agent and sub-agent going back (agent restarted), per exporter."}, []string{"exporter"}),
		notSent: f.Counter(prometheus.CounterOpts{Name: "flowengine_sflow_flows_not_sent_total",
			Help: "Decoded flows that could not be handed on (shutdown)."}),
		exporters: map[netip.Addr]*exporterMetrics{},
		labels:    exporterlabel.New(0),
	}
	if err := f.Err(); err != nil {
		return m, err
	}
	m.other = m.labelled(exporterlabel.Other)
	return m, nil
}

func (m *metrics) labelled(name string) *exporterMetrics {
	return &exporterMetrics{
		st:              exporterStats{address: name},
		datagrams:       m.datagrams.WithLabelValues(name),
		flows:           m.flows.WithLabelValues(name),
		decodeErrors:    m.decodeErrors.WithLabelValues(name),
		countersSkipped: m.skipped.WithLabelValues(name, "counter"),
		otherSkipped:    m.skipped.WithLabelValues(name, "other"),
		samplingRate:    m.samplingRate.WithLabelValues(name),
		lost:            m.lost.WithLabelValues(name),
		resets:          m.resets.WithLabelValues(name),
	}
}

// exporter returns the metrics of addr, through the caller's private cache.
func (m *metrics) exporter(cache map[netip.Addr]*exporterMetrics, addr netip.Addr) *exporterMetrics {
	if em, ok := cache[addr]; ok {
		return em
	}
	m.mu.Lock()
	em, ok := m.exporters[addr]
	if !ok {
		if l := m.labels.Label(addr); l == exporterlabel.Other {
			em = m.other
		} else {
			em = m.labelled(l)
			m.exporters[addr] = em
		}
	}
	m.mu.Unlock()
	if len(cache) < m.labels.Max() {
		cache[addr] = em
	}
	return em
}
