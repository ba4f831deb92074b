package sflow

import (
	"encoding/binary"
	"net/netip"
)

// Helpers building sFlow datagrams and sampled packets for the tests.

type xdr []byte

func (x xdr) u32(vs ...uint32) xdr {
	for _, v := range vs {
		x = binary.BigEndian.AppendUint32(x, v)
	}
	return x
}

func (x xdr) opaque(b []byte) xdr {
	x = x.u32(uint32(len(b)))
	x = append(x, b...)
	for len(x)%4 != 0 {
		x = append(x, 0)
	}
	return x
}

func (x xdr) addr(a netip.Addr) xdr {
	if !a.IsValid() {
		return x.u32(0)
	}
	if a.Is4() {
		b := a.As4()
		return append(x.u32(1), b[:]...)
	}
	b := a.As16()
	return append(x.u32(2), b[:]...)
}

// datagram is an sFlow v5 datagram with the samples given (each already
// framed by sample()).
func datagram(agent netip.Addr, samples ...[]byte) []byte {
	x := xdr{}.u32(5).addr(agent).u32(0, 42, 123456, uint32(len(samples)))
	for _, s := range samples {
		x = append(x, s...)
	}
	return x
}

func sample(format uint32, body []byte) []byte {
	return xdr{}.u32(format, uint32(len(body))).append(body)
}

func (x xdr) append(b []byte) xdr { return append(x, b...) }

func flowSample(rate, in, out uint32, records ...[]byte) []byte {
	x := xdr{}.u32(7, 3, rate, rate*7, 0, in, out, uint32(len(records)))
	for _, r := range records {
		x = append(x, r...)
	}
	return sample(sampleFlow, x)
}

func expandedFlowSample(rate, in, out uint32, records ...[]byte) []byte {
	x := xdr{}.u32(7, 0, 3, rate, rate*7, 0, 0, in, 0, out, uint32(len(records)))
	for _, r := range records {
		x = append(x, r...)
	}
	return sample(sampleFlowExpanded, x)
}

func counterSample() []byte {
	// One generic interface counters record, content irrelevant.
	rec := record(1, make([]byte, 88))
	return sample(sampleCounters, xdr{}.u32(1, 3, 1).append(rec))
}

func record(format uint32, body []byte) []byte {
	return xdr{}.u32(format, uint32(len(body))).append(body)
}

func rawHeader(proto uint32, frameLength uint32, header []byte) []byte {
	return record(recordRawHeader, xdr{}.u32(proto, frameLength, 4).opaque(header))
}

func extSwitch(src, dst uint32) []byte {
	return record(recordExtendedSwitch, xdr{}.u32(src, 0, dst, 0))
}

func extRouter(nh netip.Addr, srcMask, dstMask uint32) []byte {
	return record(recordExtendedRouter, xdr{}.addr(nh).u32(srcMask, dstMask))
}

func extGateway(nh netip.Addr, as, srcAS, peerAS uint32, path ...uint32) []byte {
	x := xdr{}.addr(nh).u32(as, srcAS, peerAS)
	if len(path) > 0 {
		x = x.u32(1, 2, uint32(len(path))).u32(path...)
	} else {
		x = x.u32(0)
	}
	x = x.u32(1, 65000<<16|100) // one community
	x = x.u32(100)              // local preference
	return record(recordExtendedGateway, x)
}

// Packets.

func ether(dst, src uint64, vlan uint16, etype uint16, payload []byte) []byte {
	b := make([]byte, 0, 18+len(payload))
	b = append(b, byte(dst>>40), byte(dst>>32), byte(dst>>24), byte(dst>>16), byte(dst>>8), byte(dst))
	b = append(b, byte(src>>40), byte(src>>32), byte(src>>24), byte(src>>16), byte(src>>8), byte(src))
	if vlan != 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, 0x2000|vlan) // priority 1
	}
	b = binary.BigEndian.AppendUint16(b, etype)
	return append(b, payload...)
}

// ipv4 builds an IPv4 header claiming total bytes, followed by payload
// (a truncated sampled packet: total may exceed what is there).
func ipv4(src, dst string, proto, tos, ttl uint8, total uint16, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	b[1] = tos
	binary.BigEndian.PutUint16(b[2:], total)
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	b[6] = 0x40 // don't fragment
	b[8] = ttl
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return append(b, payload...)
}

func ipv6(src, dst string, next, tclass, hops uint8, payloadLen uint16, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(tclass)<<20|0x12345)
	binary.BigEndian.PutUint16(b[4:], payloadLen)
	b[6] = next
	b[7] = hops
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

func tcp(sport, dport uint16, flags uint8) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 5 << 4
	b[13] = flags
	return b
}

func udp(sport, dport uint16, length uint16) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], length)
	return b
}

func icmp(typ, code uint8) []byte { return []byte{typ, code, 0, 0, 0, 1, 0, 1} }
