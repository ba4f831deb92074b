package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/flowengine/flowengine/exporter"
	"github.com/flowengine/flowengine/exporter/snmpagent"
)

// startSNMPAgents starts one SNMP v2c agent per synthetic exporter, on the
// exporter's own loopback address when the collector is on loopback (so a
// collector polling the flow's exporter address finds it), otherwise one
// agent on all addresses. They stop with ctx.
func startSNMPAgents(ctx context.Context, logger *slog.Logger, collector string, exporters, interfaces, port int, community string) error {
	var ifaces []snmpagent.Interface
	for _, i := range exporter.Interfaces(interfaces) {
		ifaces = append(ifaces, snmpagent.Interface{Index: i.Index, Name: i.Name, Description: i.Description, SpeedMbps: i.SpeedMbps})
	}
	loopback := false
	if host, _, err := net.SplitHostPort(collector); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && a.Unmap().Is4() && a.IsLoopback() {
			loopback = true
		}
	}
	if !loopback {
		exporters = 1
	}
	for i := 0; i < exporters; i++ {
		addr := ":" + strconv.Itoa(port)
		if loopback {
			addr = net.JoinHostPort(exporter.ExporterAddress(i).String(), strconv.Itoa(port))
		}
		agent := snmpagent.New(community, snmpagent.Data{
			SysName:    exporter.SysName(i),
			SysDescr:   "flowengine synthetic exporter",
			Interfaces: ifaces,
		})
		conn, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("snmp agent on %s: %w", addr, err)
		}
		go func() {
			if err := agent.Serve(ctx, conn); err != nil && ctx.Err() == nil {
				logger.Error("snmp agent stopped", "address", addr, "error", err)
			}
		}()
	}
	logger.Info("snmp agents answering", "exporters", exporters, "port", port, "interfaces", len(ifaces))
	return nil
}
