// Package netflow is the `source "netflow"` stage: it receives NetFlow v5,
// NetFlow v9 and IPFIX on one UDP port and decodes them into flow records with
// its own decoder, whose v9/IPFIX templates are compiled into offset tables so
// that a data record decodes with no allocation. Templates and sampling rates
// are kept per exporter and observation domain, persisted to a state file, and
// data that arrives before its template is held until the template comes.
//
// Exporter addresses and packet contents come from the network, so what the
// source keeps is bounded with defaults that hold a flood of spoofed or
// hostile exporters well under 256 MiB: the exporters known (the idlest
// forgotten when full), templates per exporter and in all, held data by
// count, bytes per exporter and bytes in all, observation domains tracked
// per exporter, exporters with their own metric series. Decoded flows,
// held data included, go on in batches of at most flow.BatchSize records.
package netflow

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/sync/errgroup"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/exporterlabel"
	"github.com/flowengine/flowengine/internal/samplingrate"
	"github.com/flowengine/flowengine/internal/udpsock"
)

// Spec is the configuration of `source "netflow"`.
var Spec = &dsl.Spec{
	Description: "Receives NetFlow v5, NetFlow v9 and IPFIX on one UDP port.",
	Attrs: append(udpsock.Attrs(":2055"), []dsl.Attr{
		{Name: samplingrate.DefaultAttr, Type: dsl.TypeAny, Description: samplingrate.DefaultDescription},
		{Name: samplingrate.OverrideAttr, Type: dsl.TypeAny, Description: samplingrate.OverrideDescription},
		{Name: "missing_sampling_rate", Type: dsl.TypeString, Default: "keep", OneOf: []string{"keep", "drop"},
			Description: "What to do with a flow whose sampling rate is unknown: keep it with SamplingRate 1, or drop it. Both are counted."},
		{Name: "pending_timeout", Type: dsl.TypeDuration, Default: 10 * time.Second,
			Description: "How long data sets that arrived before their template are held waiting for it."},
		{Name: "pending_limit", Type: dsl.TypeInt, Default: int64(256),
			Description: "Maximum number of data sets held per exporter waiting for their template; the oldest is dropped beyond."},
		{Name: "pending_bytes", Type: dsl.TypeSize, Default: int64(DefaultPendingBytes),
			Description: "Maximum bytes of data sets held per exporter waiting for their template; the oldest are dropped beyond (counted)."},
		{Name: "pending_bytes_total", Type: dsl.TypeSize, Default: int64(DefaultPendingBytesTotal),
			Description: "Maximum bytes of data sets held for all exporters together; a set arriving beyond is dropped (counted)."},
		{Name: "max_templates_per_exporter", Type: dsl.TypeInt, Default: int64(1024),
			Description: "Maximum number of templates (and sampler ids) kept per exporter."},
		{Name: "max_templates", Type: dsl.TypeInt, Default: int64(DefaultMaxTemplatesTotal),
			Description: "Maximum number of templates of all exporters together. When reached, the idlest exporters holding templates are forgotten (counted as evictions) until a sixteenth is free; a template that still finds no room is refused (decode error, reason template_limit_total)."},
		{Name: "max_exporters", Type: dsl.TypeInt, Default: int64(DefaultMaxExporters),
			Description: "Maximum number of exporters known at once (templates, sampling rates, held data, sequence numbers). When full, the idlest sixteenth is forgotten (counted): least recently active first, where an exporter that never sent flows or templates counts as idle 5 minutes before its last packet."},
		{Name: "max_domains_per_exporter", Type: dsl.TypeInt, Default: int64(DefaultMaxDomains),
			Description: "Maximum number of observation domains (v9 source ids, IPFIX observation domain ids, v5 engines) whose sequence numbers are tracked per exporter; packets of further domains are not checked (counted)."},
		{Name: "max_exporter_labels", Type: dsl.TypeInt, Default: int64(exporterlabel.Default),
			Description: "Maximum number of exporters with their own metric series (label exporter=<address>); the metrics of further exporters are added up under exporter=\"other\"."},
		{Name: "state_file", Type: dsl.TypeString,
			Description: "File keeping templates and sampling rates across restarts; default netflow-<name>.json in the state directory. \"\" disables it."},
		{Name: "flush_interval", Type: dsl.TypeDuration, Default: 100 * time.Millisecond,
			Description: "Longest time decoded flows wait for a batch to fill before being handed on."},
	}...),
}

func init() {
	engine.RegisterSource("netflow", Spec, New)
}

// Source is the `source "netflow"` stage.
type Source struct {
	sock      udpsock.Config
	flush     time.Duration
	statePath string
	log       *slog.Logger
	m         *Metrics
	dec       *Decoder

	mu    sync.Mutex
	bound net.Addr
	ready chan struct{}
}

var (
	_ engine.Source   = (*Source)(nil)
	_ engine.Listener = (*Source)(nil)
)

// New builds the stage from its configuration. It does no I/O.
func New(cfg *dsl.Config, env engine.Env) (*Source, hcl.Diagnostics) {
	sock, diags := udpsock.Decode(cfg)
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: cfg.Range(attr)})
	}
	s := &Source{
		sock:  sock,
		flush: cfg.Duration("flush_interval"),
		log:   env.Logger,
		ready: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.flush <= 0 {
		bad("flush_interval", "Invalid flush interval", "flush_interval must be positive.")
	}
	dcfg := Config{
		PendingTimeout:    cfg.Duration("pending_timeout"),
		PendingLimit:      int(cfg.Int("pending_limit")),
		PendingBytes:      int(cfg.Size("pending_bytes")),
		PendingBytesTotal: int(cfg.Size("pending_bytes_total")),
		MaxTemplates:      int(cfg.Int("max_templates_per_exporter")),
		MaxDomains:        int(cfg.Int("max_domains_per_exporter")),
		MaxExporters:      int(cfg.Int("max_exporters")),
		MaxTemplatesTotal: int(cfg.Int("max_templates")),
		MaxExporterLabels: int(cfg.Int("max_exporter_labels")),
	}
	if cfg.String("missing_sampling_rate") == "drop" {
		dcfg.MissingRate = MissingRateDrop
	}
	if dcfg.PendingTimeout <= 0 {
		bad("pending_timeout", "Invalid pending timeout", "pending_timeout must be positive.")
	}
	if dcfg.PendingLimit < 1 {
		bad("pending_limit", "Invalid pending limit", "pending_limit must be at least 1.")
	}
	if dcfg.PendingBytes < 1 || cfg.Size("pending_bytes") > 1<<30 {
		bad("pending_bytes", "Invalid pending bytes", "pending_bytes must be between 1 byte and 1GiB.")
	}
	if dcfg.PendingBytesTotal < dcfg.PendingBytes || cfg.Size("pending_bytes_total") > 1<<34 {
		bad("pending_bytes_total", "Invalid pending bytes", "pending_bytes_total must be at least pending_bytes and at most 16GiB.")
	}
	if dcfg.MaxDomains < 1 || dcfg.MaxDomains > 1<<20 {
		bad("max_domains_per_exporter", "Invalid domain limit", "max_domains_per_exporter must be between 1 and 1048576.")
	}
	if dcfg.MaxExporterLabels < 1 || dcfg.MaxExporterLabels > 1<<20 {
		bad("max_exporter_labels", "Invalid exporter label limit", "max_exporter_labels must be between 1 and 1048576.")
	}
	if dcfg.MaxExporters < 1 || dcfg.MaxExporters > 1<<24 {
		bad("max_exporters", "Invalid exporter limit", "max_exporters must be between 1 and 16777216.")
	}
	if dcfg.MaxTemplatesTotal < 1 || dcfg.MaxTemplatesTotal > 1<<24 {
		bad("max_templates", "Invalid template limit", "max_templates must be between 1 and 16777216.")
	}
	if dcfg.MaxTemplates < 1 {
		bad("max_templates_per_exporter", "Invalid template limit", "max_templates_per_exporter must be at least 1.")
	}
	var err error
	if dcfg.DefaultRate, err = ParseRateTable(cfg.Value("default_sampling_rate")); err != nil {
		bad("default_sampling_rate", "Invalid sampling rate", err.Error()+".")
	}
	if dcfg.OverrideRate, err = ParseRateTable(cfg.Value("override_sampling_rate")); err != nil {
		bad("override_sampling_rate", "Invalid sampling rate", err.Error()+".")
	}
	switch {
	case cfg.IsSet("state_file"):
		s.statePath = cfg.String("state_file")
	case env.StateDir != "":
		s.statePath = filepath.Join(env.StateDir, "netflow-"+env.ID.Name+".json")
	}
	if diags.HasErrors() {
		return nil, diags
	}
	s.m = NewMetrics(env.Metrics)
	dcfg.Metrics = s.m
	s.dec = NewDecoder(dcfg)
	return s, diags
}

// Listens returns the UDP address the source binds.
func (s *Source) Listens() []engine.Listen {
	return []engine.Listen{{Network: "udp", Address: s.sock.Listen, Range: s.sock.ListenRange}}
}

// Decoder returns the source's decoder (tests).
func (s *Source) Decoder() *Decoder { return s.dec }

// LocalAddr waits until the sockets are bound and returns their address, or
// nil when ctx ends first.
func (s *Source) LocalAddr(ctx context.Context) net.Addr {
	select {
	case <-s.ready:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.bound
	case <-ctx.Done():
		return nil
	}
}

// Run receives packets until ctx is cancelled.
func (s *Source) Run(ctx context.Context, out engine.Output) error {
	if s.statePath != "" {
		if err := loadState(s.dec, s.statePath); err != nil {
			s.log.Warn("cannot load netflow state, starting without templates", "path", s.statePath, "err", err)
		}
	}
	conns, err := s.bind(ctx)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range conns {
		g.Go(func() error { return s.receive(gctx, c, out) })
	}
	g.Go(func() error { return s.housekeeping(gctx) })
	go func() {
		<-gctx.Done()
		for _, c := range conns {
			c.Close()
		}
	}()
	err = g.Wait()
	if s.statePath != "" && s.dec.Dirty() {
		if serr := saveState(s.dec, s.statePath); serr != nil {
			s.log.Warn("cannot save netflow state", "path", s.statePath, "err", serr)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Source) bind(ctx context.Context) ([]*net.UDPConn, error) {
	conns, err := s.sock.Open(ctx)
	if err != nil {
		return nil, err
	}
	addr := conns[0].LocalAddr()
	s.mu.Lock()
	s.bound = addr
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("listening for netflow", "address", addr.String(), "sockets", len(conns))
	return conns, nil
}

// flushThreshold is the batch length past which a batch is handed on before
// the next packet: a packet rarely carries more than a few dozen flows.
const flushThreshold = flow.BatchSize - 64

func (s *Source) receive(ctx context.Context, c *net.UDPConn, out engine.Output) error {
	buf := make([]byte, 65536)
	oob := make([]byte, udpsock.OOBSize)
	var drops uint32
	b := flow.NewBatch()
	deadline := false
	send := func() {
		if b.Len() == 0 {
			return
		}
		n := b.Len()
		if !out.Send(ctx, b) {
			s.m.undelivered.Add(float64(n))
		}
		b = flow.NewBatch()
	}
	// full hands on a batch the decoder filled (waiting for the pipeline).
	full := func(fb *flow.Batch) *flow.Batch {
		if !out.Send(ctx, fb) {
			s.m.undelivered.Add(float64(fb.Len()))
		}
		return flow.NewBatch()
	}
	defer func() {
		if b.Len() > 0 {
			// Hand on what was decoded; the pipeline drains after sources stop.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			n := b.Len()
			if !out.Send(fctx, b) {
				s.m.undelivered.Add(float64(n))
			}
			cancel()
		} else {
			b.Release()
		}
	}()
	for {
		n, oobn, _, src, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				send()
				_ = c.SetReadDeadline(time.Time{})
				deadline = false
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.m.receiveErrors.Inc()
			continue
		}
		if oobn > 0 {
			if d, ok := udpsock.Overflow(oob[:oobn]); ok {
				if d > drops {
					s.m.kernelDrops.Add(float64(d - drops))
				}
				drops = d
			}
		}
		now := time.Now()
		_, _ = s.dec.DecodeBatches(buf[:n], src.Addr(), now, &b, full)
		switch {
		case b.Len() >= flushThreshold:
			send()
			if deadline {
				_ = c.SetReadDeadline(time.Time{})
				deadline = false
			}
		case b.Len() > 0 && !deadline:
			_ = c.SetReadDeadline(now.Add(s.flush))
			deadline = true
		}
	}
}

func (s *Source) housekeeping(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.dec.Expire(now)
			if s.statePath != "" && s.dec.Dirty() {
				if err := saveState(s.dec, s.statePath); err != nil {
					s.log.Warn("cannot save netflow state", "path", s.statePath, "err", err)
				}
			}
		}
	}
}
