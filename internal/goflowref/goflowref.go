// Package goflowref maps the messages of goflow2, the reference collector
// the decoders are compared with in tests, onto flow records. Only tests
// import it.
package goflowref

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	"github.com/flowengine/flowengine/flow"
)

// Addr converts an address of a goflow2 message; IPv4-mapped addresses
// become IPv4, and anything else than 4 or 16 bytes the zero address.
func Addr(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap()
}

// Record maps a goflow2 message onto a flow.Record, column for column, with
// no correction. exporter is the address the packet came from (goflow2 keeps
// it apart for NetFlow; its SamplerAddress is used when exporter is the zero
// address). TimeReceived comes from the socket in both collectors: it is
// filled with now.
func Record(m *protoproducer.ProtoProducerMessage, exporter netip.Addr, now time.Time) flow.Record {
	nsTime := func(ns uint64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, int64(ns)).UTC()
	}
	if !exporter.IsValid() {
		exporter = Addr(m.SamplerAddress)
	}
	return flow.Record{
		TimeReceived: now, ExporterAddress: exporter,
		TimeFlowStart: nsTime(m.TimeFlowStartNs), TimeFlowEnd: nsTime(m.TimeFlowEndNs), SamplingRate: m.SamplingRate,
		SrcAddr: Addr(m.SrcAddr), DstAddr: Addr(m.DstAddr), SrcNetMask: uint8(m.SrcNet), DstNetMask: uint8(m.DstNet),
		NextHop: Addr(m.NextHop), SrcMAC: m.SrcMac, DstMAC: m.DstMac, SrcVlan: uint16(m.SrcVlan), DstVlan: uint16(m.DstVlan),
		SrcAS: m.SrcAs, DstAS: m.DstAs, InIfIndex: m.InIf, OutIfIndex: m.OutIf,
		EType: uint16(m.Etype), Proto: uint8(m.Proto), SrcPort: uint16(m.SrcPort), DstPort: uint16(m.DstPort),
		TCPFlags: uint8(m.TcpFlags), IPTos: uint8(m.IpTos), IPTTL: uint8(m.IpTtl), ICMPType: uint8(m.IcmpType),
		ICMPCode: uint8(m.IcmpCode), ForwardingStatus: uint8(m.ForwardingStatus), Bytes: m.Bytes, Packets: m.Packets,
	}
}

// Diff compares the flows a decoder made of one packet with goflow2's
// messages for it, column by column, and records in seen the first example
// of each column that differs (where names the packet). It fails when the
// two decoders made a different number of flows.
func Diff(seen map[string]string, where string, got []flow.Record, msgs []producer.ProducerMessage, exporter netip.Addr, now time.Time) error {
	if len(msgs) != len(got) {
		return fmt.Errorf("%s: %d flows, goflow2 %d", where, len(got), len(msgs))
	}
	for i := range got {
		m, ok := msgs[i].(*protoproducer.ProtoProducerMessage)
		if !ok {
			return fmt.Errorf("%s: goflow2 message %d is a %T", where, i, msgs[i])
		}
		want := Record(m, exporter, now)
		for col, ex := range flow.ColumnDiffs(&got[i], &want) {
			if _, ok := seen[col]; !ok {
				seen[col] = fmt.Sprintf("%s flow %d: %s", where, i, ex)
			}
		}
	}
	return nil
}
