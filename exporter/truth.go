package exporter

import (
	"net/netip"

	"github.com/flowengine/flowengine/flow"
)

// truthRecord fills r with what the encoder of protocol sends of flow f, from
// the exporter at agent with the sampling rate announced, in the columns
// of a flow record: what a collector decoding the datagram must hold.
// Columns an enricher fills (names, countries, …) stay empty, as do
// TimeReceived and what no encoder sends (ForwardingStatus, the
// direction); so do the columns protocol does not carry: MACs for NetFlow
// v5, v9 and IPFIX (the templates have none), VLANs for v5. An sFlow
// sample carries no time (a collector stamps its arrival; Start and End
// are when the sample was made) but a packet header, with TTL 64 and,
// for ICMP, no ports (NetFlow puts type and code in the destination port).
func truthRecord(f *Flow, agent netip.Addr, samplingRate uint32, protocol string, r *flow.Record) {
	f.Record(r)
	r.ExporterAddress, r.SamplingRate = agent, uint64(samplingRate)
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
