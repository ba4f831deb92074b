// Package exporter is a synthetic flow exporter: it generates realistic
// traffic and sends it as real NetFlow v5, NetFlow v9, IPFIX or sFlow v5
// datagrams to a collector. `flowengine exporter` runs it; docker-compose's
// demo and the load benchmarks use it; tests of other packages use its
// packet builders to get datagrams with known flows.
//
// The pieces, usable on their own:
//
//   - Interfaces(n) lists the interfaces every synthetic exporter has
//     (ifIndex 1..n, names "et-0/0/i", descriptions such as "Transit: Cogent",
//     "PNI: Google", "IX: FranceIX", "Core: spine1", speeds in Mbps), so that
//     flows and an SNMP agent serving the same exporters agree.
//   - Generator produces a deterministic stream of Flow values for a seed: a
//     zipf-skewed mix of remote prefixes (IPv4 and IPv6, with their AS
//     numbers) and services (TCP, UDP, ICMP), mostly inbound from external
//     interfaces to core ones. The model is internal/synth, which source
//     "generate" uses too.
//   - Config.Truth receives every flow sent as a JSON line of flow record
//     columns (`flowengine exporter -truth`), for tests comparing what a
//     collector decoded with what was sent.
//   - Encoder packs flows into datagrams of about 1400 bytes:
//     NewNetFlow5, NewNetFlow9, NewIPFIX and NewSFlow (or NewEncoder by
//     protocol name). The v9 and IPFIX encoders put the templates, an
//     options template and the options data announcing the sampling rate
//     in their first datagram and again every TemplateInterval.
//   - Limiter paces flows to a rate (token bucket, accurate at 1M flows/s).
//   - Run sends to a collector from N exporters (distinct source addresses
//     127.0.0.1..N when the collector is on loopback).
//   - BMPSpeaker sends a synthetic router's routes (Generator.Routes: the
//     AS paths and communities its flows carry) to a BMP station; Run
//     starts one per exporter with Config.BMP.
//
// A test building packets with known flows:
//
//	gen := exporter.NewGenerator(exporter.GeneratorOptions{Seed: 1, Interfaces: 8, IPv6Share: 0.3})
//	enc := exporter.NewNetFlow9(exporter.EncoderOptions{SourceID: 1, SamplingRate: 100})
//	flows := make([]exporter.Flow, 50)
//	now := time.Now()
//	for i := range flows {
//		gen.Next(now, &flows[i])
//	}
//	for len(flows) > 0 {
//		pkt, n := enc.Encode(nil, now, flows) // pkt holds flows[:n]
//		flows = flows[n:]
//		_ = pkt
//	}
package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// Config configures Run.
type Config struct {
	Collector    string  // host:port
	Protocol     string  // one of Protocols
	Rate         float64 // flows per second over all exporters; 0 is as fast as possible
	Exporters    int     // number of exporters; default 1
	Interfaces   int     // interfaces per exporter; default 8
	SamplingRate uint32  // announced sampling rate; default 1
	Count        uint64  // stop after this many flows; 0 is no limit
	Seed         uint64
	IPv6Share    float64 // fraction of IPv6 flows (ignored for NetFlow v5); default 0.3, negative for none
	// TemplateInterval, MaxSize and IPFIXSampling are passed to the encoders.
	TemplateInterval time.Duration
	MaxSize          int
	IPFIXSampling    string
	Logger           *slog.Logger
	// Truth, when not nil, receives every flow sent, as one JSON line of
	// flow record columns (flow.AppendJSON), in the order
	// sent: what a collector must decode.
	Truth io.Writer
	// BMP, when not empty, is a BMP station (host:port) each exporter
	// sends its routes to (a BMPSpeaker per exporter, named SysName(i)),
	// from its own source address when the collector and the station are
	// on loopback (as its flows), so that a station matches routers to
	// exporters; one speaker otherwise.
	BMP string
}

// demoSites name the synthetic exporters: edge1.par, edge2.fra, ...
var demoSites = []string{"par", "fra", "ams", "lon", "nyc", "sjc", "sin", "tyo"}

// SysName returns the name of synthetic exporter i (0-based), as its SNMP
// agent and BMP speaker announce it: edge1.par, edge2.fra, ...
func SysName(i int) string {
	return fmt.Sprintf("edge%d.%s", i+1, demoSites[i%len(demoSites)])
}

// Stats counts what Run sent. Its fields are updated atomically while Run
// runs, so they may be read (with Load) from another goroutine.
type Stats struct {
	Flows   atomic.Uint64
	Packets atomic.Uint64
	Bytes   atomic.Uint64
	Errors  atomic.Uint64 // failed sends (a collector not listening yet, say)
}

// ExporterAddress returns the source address of exporter i (0-based) when
// the collector is on loopback: 127.0.0.(i+1), up to 127.0.255.254.
func ExporterAddress(i int) netip.Addr {
	n := i + 1
	return netip.AddrFrom4([4]byte{127, 0, byte(n >> 8), byte(n)})
}

// chunk is how many flows an exporter generates at a time.
const chunk = 64

type exporterState struct {
	conn    *net.UDPConn
	agent   netip.Addr
	gen     *Generator
	enc     Encoder
	store   []Flow // generated flows
	pending []Flow // the part of store not yet sent
	buf     []byte
}

// Run sends synthetic flows to cfg.Collector until ctx is done or cfg.Count
// flows were sent. stats, when not nil, is updated as it goes.
func Run(ctx context.Context, cfg Config, stats *Stats) error {
	if stats == nil {
		stats = &Stats{}
	}
	if cfg.Exporters <= 0 {
		cfg.Exporters = 1
	}
	if cfg.Exporters > 65000 {
		return errors.New("at most 65000 exporters")
	}
	if cfg.Interfaces <= 0 {
		cfg.Interfaces = 8
	}
	if cfg.SamplingRate == 0 {
		cfg.SamplingRate = 1
	}
	switch {
	case cfg.IPv6Share == 0:
		cfg.IPv6Share = 0.3
	case cfg.IPv6Share < 0:
		cfg.IPv6Share = 0
	}
	if cfg.Protocol == NetFlow5 {
		cfg.IPv6Share = 0
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	raddr, err := net.ResolveUDPAddr("udp", cfg.Collector)
	if err != nil {
		return fmt.Errorf("resolve collector: %w", err)
	}
	loopback := raddr.IP.To4() != nil && raddr.IP.IsLoopback()
	now := time.Now()
	boot := now.Add(-time.Hour)
	exps := make([]*exporterState, cfg.Exporters)
	defer func() {
		for _, e := range exps {
			if e != nil && e.conn != nil {
				e.conn.Close()
			}
		}
	}()
	for i := range exps {
		var laddr *net.UDPAddr
		agent := netip.Addr{}
		if loopback {
			agent = ExporterAddress(i)
			laddr = &net.UDPAddr{IP: agent.AsSlice()}
		}
		conn, err := net.DialUDP("udp", laddr, raddr)
		if err != nil {
			return fmt.Errorf("exporter %d: %w", i+1, err)
		}
		if !agent.IsValid() {
			if la, ok := conn.LocalAddr().(*net.UDPAddr); ok {
				agent, _ = netip.AddrFromSlice(la.IP)
				agent = agent.Unmap()
			}
		}
		enc, err := NewEncoder(cfg.Protocol, EncoderOptions{
			Agent: agent, SourceID: uint32(i + 1), SamplingRate: cfg.SamplingRate, Boot: boot,
			TemplateInterval: cfg.TemplateInterval, MaxSize: cfg.MaxSize, IPFIXSampling: cfg.IPFIXSampling,
		})
		if err != nil {
			conn.Close()
			return err
		}
		exps[i] = &exporterState{
			conn:  conn,
			agent: agent,
			gen: NewGenerator(GeneratorOptions{Seed: cfg.Seed + uint64(i), Interfaces: cfg.Interfaces,
				IPv6Share: cfg.IPv6Share, PerPacket: cfg.Protocol == SFlow}),
			enc:   enc,
			buf:   make([]byte, 0, 65536),
			store: make([]Flow, chunk),
		}
	}
	if cfg.BMP != "" {
		station, err := net.ResolveTCPAddr("tcp", cfg.BMP)
		if err != nil {
			return fmt.Errorf("resolve bmp station: %w", err)
		}
		// Each exporter's own loopback address when both ends are on
		// loopback; one speaker from the system's choice otherwise.
		bind := loopback && station.IP.To4() != nil && station.IP.IsLoopback()
		speakers := exps
		if !bind {
			speakers = exps[:1]
		}
		bmpCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() { cancel(); wg.Wait() }()
		sps := make([]*BMPSpeaker, len(speakers))
		for i, e := range speakers {
			sp := &BMPSpeaker{Station: cfg.BMP, SysName: SysName(i), RouterAS: LocalAS, Routes: e.gen.Routes(), Logger: logger}
			if bind {
				sp.Local = e.agent
			}
			sps[i] = sp
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := sp.Run(bmpCtx); err != nil {
					logger.Error("bmp speaker stopped", "router", sp.SysName, "error", err)
				}
			}()
		}
		// Flows wait (a little) for the routes, so that the first ones
		// find them at the station.
		waitBMP(ctx, sps, 2*time.Second)
	}
	logger.Info("sending synthetic flows", slog.String("collector", raddr.String()), slog.String("protocol", cfg.Protocol),
		slog.Int("exporters", cfg.Exporters), slog.Float64("rate", cfg.Rate), slog.Bool("loopback_sources", loopback))

	limiter := NewLimiter(cfg.Rate)
	var sent uint64
	var truth []byte
	for i := 0; ; i = (i + 1) % len(exps) {
		if ctx.Err() != nil {
			return nil
		}
		if cfg.Count > 0 && sent >= cfg.Count {
			return nil
		}
		e := exps[i]
		now := time.Now()
		if len(e.pending) == 0 {
			for j := range e.store {
				e.gen.Next(now, &e.store[j])
			}
			e.pending = e.store
		}
		flows := e.pending
		if cfg.Count > 0 && uint64(len(flows)) > cfg.Count-sent {
			flows = flows[:cfg.Count-sent]
		}
		skippedBefore := e.enc.Skipped()
		pkt, n := e.enc.Encode(e.buf[:0], now, flows)
		e.pending = e.pending[n:]
		encoded := n - int(e.enc.Skipped()-skippedBefore)
		if len(pkt) == 0 || encoded == 0 {
			continue
		}
		if err := limiter.Wait(ctx, encoded); err != nil {
			return nil
		}
		if _, err := e.conn.Write(pkt); err != nil {
			stats.Errors.Add(1)
			continue
		}
		if cfg.Truth != nil {
			truth = e.writeTruth(truth[:0], flows[:n], cfg)
			if _, err := cfg.Truth.Write(truth); err != nil {
				return fmt.Errorf("truth: %w", err)
			}
		}
		sent += uint64(encoded)
		stats.Flows.Add(uint64(encoded))
		stats.Packets.Add(1)
		stats.Bytes.Add(uint64(len(pkt)))
	}
}

// waitBMP returns once every speaker sent its table, or after at most d.
func waitBMP(ctx context.Context, sps []*BMPSpeaker, d time.Duration) {
	deadline := time.Now().Add(d)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		up := 0
		for _, sp := range sps {
			if sp.Sessions.Load() > 0 {
				up++
			}
		}
		if up == len(sps) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeTruth appends the truth lines of the flows an Encode call consumed,
// leaving out those the encoder skipped (IPv6 in NetFlow v5).
func (e *exporterState) writeTruth(dst []byte, flows []Flow, cfg Config) []byte {
	var r flow.Record
	for i := range flows {
		f := &flows[i]
		if cfg.Protocol == NetFlow5 && f.IsIPv6() {
			continue
		}
		truthRecord(f, e.agent, cfg.SamplingRate, cfg.Protocol, &r)
		dst = flow.AppendJSON(dst, &r)
	}
	return dst
}
