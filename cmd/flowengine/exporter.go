package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flowengine/flowengine/exporter"
)

func init() {
	extraCommands["exporter"] = exporterCommand
}

// exporterCommand is `flowengine exporter`: it sends synthetic flows to a
// collector until SIGINT/SIGTERM, -duration or -count.
func exporterCommand(args []string) int {
	fs := flag.NewFlagSet("flowengine exporter", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var (
		collector     = fs.String("collector", "127.0.0.1:2055", "collector address, host:port")
		protocol      = fs.String("protocol", exporter.NetFlow9, "protocol: "+strings.Join(exporter.Protocols, ", "))
		rate          = fs.Float64("rate", 1000, "flows per second over all exporters (0: as fast as possible)")
		exporters     = fs.Int("exporters", 1, "number of exporters (source addresses 127.0.0.1..N when the collector is on loopback)")
		interfaces    = fs.Int("interfaces", 8, "interfaces per exporter (ifIndex 1..N)")
		samplingRate  = fs.Uint("sampling-rate", 1, "sampling rate announced (v5 header, v9/IPFIX options, sFlow samples)")
		count         = fs.Uint64("count", 0, "stop after this many flows (0: no limit)")
		duration      = fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
		seed          = fs.Uint64("seed", 1, "random seed of the traffic mix")
		ipv6          = fs.Float64("ipv6", 0.3, "fraction of IPv6 flows (ignored by netflow5)")
		templates     = fs.Duration("template-interval", 10*time.Second, "how often v9/IPFIX resend templates and sampling options")
		ipfixSampling = fs.String("ipfix-sampling", exporter.SamplingInterval, "IPFIX sampling announcement: interval (IE 34/35) or packet-space (IE 305/306)")
		quiet         = fs.Bool("quiet", false, "do not print progress every 10s")
		snmpPort      = fs.Int("snmp-port", 0, "answer SNMP v2c on this UDP port of each exporter address (sysName, interface names, descriptions, speeds); 0: no agent")
		snmpCommunity = fs.String("snmp-community", "public", "SNMP community of the agents")
		bmpStation    = fs.String("bmp", "", "send each exporter's BGP routes (the AS paths and communities of its flows) to this BMP station, host:port (e.g. 127.0.0.1:10179, an enricher \"bmp\"), from the exporter's own address; reconnects when the station goes away")
		truthPath     = fs.String("truth", "", "write every flow sent to this file, one JSON line each in the columns of a flow record (what a collector must decode)")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: flowengine exporter [flags]\n\nSends synthetic NetFlow v5/v9, IPFIX or sFlow v5 datagrams to a collector,\noptionally with SNMP agents (-snmp-port) and BGP routes over BMP (-bmp).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "flowengine exporter: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	valid := false
	for _, p := range exporter.Protocols {
		valid = valid || p == *protocol
	}
	if !valid {
		fmt.Fprintf(os.Stderr, "flowengine exporter: unknown protocol %q (want one of %s)\n", *protocol, strings.Join(exporter.Protocols, ", "))
		return 2
	}
	if *samplingRate == 0 || *samplingRate > 1<<32-1 || *rate < 0 || *exporters < 1 || *interfaces < 1 {
		fmt.Fprintln(os.Stderr, "flowengine exporter: -sampling-rate, -exporters and -interfaces must be at least 1, -rate at least 0")
		return 2
	}
	if *bmpStation != "" {
		if _, _, err := net.SplitHostPort(*bmpStation); err != nil {
			fmt.Fprintf(os.Stderr, "flowengine exporter: -bmp %q: want host:port (%v)\n", *bmpStation, err)
			return 2
		}
	}
	share := *ipv6
	if share == 0 {
		share = -1 // exporter.Config: negative is none
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if *snmpPort > 0 {
		if err := startSNMPAgents(ctx, logger, *collector, *exporters, *interfaces, *snmpPort, *snmpCommunity); err != nil {
			fmt.Fprintf(os.Stderr, "flowengine exporter: %v\n", err)
			return 1
		}
	}
	cfg := exporter.Config{
		Collector: *collector, Protocol: *protocol, Rate: *rate, Exporters: *exporters, Interfaces: *interfaces,
		SamplingRate: uint32(*samplingRate), Count: *count, Seed: *seed, IPv6Share: share,
		TemplateInterval: *templates, IPFIXSampling: *ipfixSampling, Logger: logger, BMP: *bmpStation,
	}
	var truth *bufio.Writer
	if *truthPath != "" {
		f, err := os.Create(*truthPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "flowengine exporter: %v\n", err)
			return 1
		}
		defer f.Close()
		truth = bufio.NewWriterSize(f, 1<<16)
		cfg.Truth = truth
	}
	var stats exporter.Stats
	start := time.Now()
	if !*quiet {
		go func() {
			t := time.NewTicker(10 * time.Second)
			defer t.Stop()
			var last uint64
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					n := stats.Flows.Load()
					logger.Info("progress", slog.Uint64("flows", n), slog.Float64("flows_per_second", float64(n-last)/10),
						slog.Uint64("datagrams", stats.Packets.Load()), slog.Uint64("send_errors", stats.Errors.Load()))
					last = n
				}
			}
		}()
	}
	err := exporter.Run(ctx, cfg, &stats)
	elapsed := time.Since(start)
	logger.Info("done", slog.Uint64("flows", stats.Flows.Load()), slog.Uint64("datagrams", stats.Packets.Load()),
		slog.Uint64("bytes", stats.Bytes.Load()), slog.Uint64("send_errors", stats.Errors.Load()),
		slog.Duration("elapsed", elapsed.Round(time.Millisecond)),
		slog.Float64("flows_per_second", float64(stats.Flows.Load())/elapsed.Seconds()))
	if truth != nil {
		if ferr := truth.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("truth: %w", ferr)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "flowengine exporter: %v\n", err)
		return 1
	}
	return 0
}
