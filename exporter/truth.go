package exporter

import (
	"net/netip"

	"github.com/flowengine/flowengine/flow"
)

// Record fills r with what the encoder of protocol sends of flow f, from
// the exporter at agent with the sampling rate announced, in the columns
// of a flow record: what a collector decoding the datagram must hold.
// Columns an enricher fills (names, countries, …) stay empty, as do
// TimeReceived and what no encoder sends (ForwardingStatus, the
// direction); so do the columns protocol does not carry: MACs for NetFlow
// v5, v9 and IPFIX (the templates have none), VLANs for v5. An sFlow
// sample carries no time (a collector stamps its arrival; Start and End
// are when the sample was made) but a packet header, with TTL 64 and,
// for ICMP, no ports (NetFlow puts type and code in the destination port).
func (f *Flow) Record(agent netip.Addr, samplingRate uint32, protocol string, r *flow.Record) {
	*r = flow.Record{
		TimeFlowStart:   f.Start.UTC(),
		TimeFlowEnd:     f.End.UTC(),
		SamplingRate:    uint64(samplingRate),
		ExporterAddress: agent,
		SrcAddr:         f.SrcAddr,
		DstAddr:         f.DstAddr,
		SrcNetMask:      f.SrcMask,
		DstNetMask:      f.DstMask,
		NextHop:         f.NextHop,
		SrcMAC:          f.SrcMAC,
		DstMAC:          f.DstMAC,
		SrcVlan:         f.SrcVlan,
		DstVlan:         f.DstVlan,
		SrcAS:           f.SrcAS,
		DstAS:           f.DstAS,
		InIfIndex:       f.InIfIndex,
		OutIfIndex:      f.OutIfIndex,
		EType:           flow.ETypeIPv4,
		Proto:           f.Proto,
		SrcPort:         f.SrcPort,
		DstPort:         f.DstPort,
		TCPFlags:        f.TCPFlags,
		IPTos:           f.IPTos,
		Bytes:           f.Bytes,
		Packets:         f.Packets,
	}
	if f.IsIPv6() {
		r.EType = flow.ETypeIPv6
	}
	switch protocol {
	case NetFlow5:
		r.SrcMAC, r.DstMAC, r.SrcVlan, r.DstVlan = 0, 0, 0, 0
	case NetFlow9, IPFIX:
		r.SrcMAC, r.DstMAC = 0, 0
	case SFlow:
		r.IPTTL = 64
		if f.Proto == 1 || f.Proto == 58 {
			r.SrcPort, r.DstPort = 0, 0 // an ICMP header has no ports
		}
	}
	if f.Proto == 1 || f.Proto == 58 {
		r.ICMPType, r.ICMPCode = f.ICMPType(), f.ICMPCode()
	}
}
