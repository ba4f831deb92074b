package netflow

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// Builders of NetFlow v5, v9 and IPFIX packets for tests and benchmarks.

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// fs is a template field: type, length (and enterprise number for IPFIX).
type fs struct {
	t, l uint16
	pen  uint32
}

// set wraps a body into a set with its header.
func set(id uint16, body ...[]byte) []byte {
	b := cat(body...)
	return cat(u16(id), u16(uint16(4+len(b))), b)
}

// tmpl is a template record (v9 or IPFIX).
func tmpl(id uint16, fields ...fs) []byte {
	out := cat(u16(id), u16(uint16(len(fields))))
	for _, f := range fields {
		if f.pen != 0 {
			out = cat(out, u16(f.t|0x8000), u16(f.l), u32(f.pen))
		} else {
			out = cat(out, u16(f.t), u16(f.l))
		}
	}
	return out
}

// v9OptTmpl is a v9 options template record.
func v9OptTmpl(id uint16, scopes []fs, options []fs) []byte {
	out := cat(u16(id), u16(uint16(4*len(scopes))), u16(uint16(4*len(options))))
	for _, f := range append(append([]fs{}, scopes...), options...) {
		out = cat(out, u16(f.t), u16(f.l))
	}
	return out
}

// ipfixOptTmpl is an IPFIX options template record.
func ipfixOptTmpl(id uint16, scopes []fs, options []fs) []byte {
	out := cat(u16(id), u16(uint16(len(scopes)+len(options))), u16(uint16(len(scopes))))
	for _, f := range append(append([]fs{}, scopes...), options...) {
		out = cat(out, u16(f.t), u16(f.l))
	}
	return out
}

func v9Packet(uptime, secs, seq, sourceID uint32, sets ...[]byte) []byte {
	return cat(u16(9), u16(uint16(len(sets))), u32(uptime), u32(secs), u32(seq), u32(sourceID), cat(sets...))
}

func ipfixPacket(secs, seq, domain uint32, sets ...[]byte) []byte {
	b := cat(sets...)
	return cat(u16(10), u16(uint16(16+len(b))), u32(secs), u32(seq), u32(domain), b)
}

// testFlow is what the generated packets carry.
type testFlow struct {
	src, dst         netip.Addr
	nextHop          netip.Addr
	sport, dport     uint16
	proto, tos, tcp  uint8
	ttl              uint8
	bytes, packets   uint64
	in, out          uint32
	srcAS, dstAS     uint32
	srcMask, dstMask uint8
	srcMAC, dstMAC   uint64
	srcVlan, dstVlan uint16
	fwd              uint8
	first, last      uint32 // v9: uptime ms; IPFIX: absolute ms
}

func randomFlow(r *rand.Rand, v6 bool) testFlow {
	addr := func() netip.Addr {
		if v6 {
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for i := 2; i < 16; i++ {
				a[i] = byte(r.UintN(256))
			}
			return netip.AddrFrom16(a)
		}
		return netip.AddrFrom4([4]byte{10, byte(r.UintN(256)), byte(r.UintN(256)), byte(1 + r.UintN(254))})
	}
	protos := []uint8{6, 17, 6, 17, 1}
	return testFlow{
		src: addr(), dst: addr(), nextHop: addr(),
		sport: uint16(r.UintN(65536)), dport: uint16(r.UintN(65536)),
		proto: protos[r.IntN(len(protos))], tos: uint8(r.UintN(256)), tcp: uint8(r.UintN(64)), ttl: uint8(1 + r.UintN(255)),
		bytes: 40 + r.Uint64N(1<<20), packets: 1 + r.Uint64N(1000),
		in: r.Uint32N(1000), out: r.Uint32N(1000), srcAS: r.Uint32N(1 << 31), dstAS: r.Uint32N(1 << 31),
		srcMask: uint8(r.UintN(33)), dstMask: uint8(r.UintN(33)),
		srcMAC: r.Uint64N(1 << 48), dstMAC: r.Uint64N(1 << 48), srcVlan: uint16(r.UintN(4096)), dstVlan: uint16(r.UintN(4096)),
		fwd: 64, first: 100000 + r.Uint32N(1000), last: 101000 + r.Uint32N(1000),
	}
}

func addrBytes(a netip.Addr) []byte { return a.AsSlice() }

func mac6(m uint64) []byte { return binary.BigEndian.AppendUint64(nil, m)[2:] }

// commonFields is the template used by generated v9 and IPFIX packets.
func commonFields(v6, ipfix bool) []fs {
	al := uint16(4)
	src, dst, nh := uint16(ieSourceIPv4Address), uint16(ieDestinationIPv4Address), uint16(ieIPNextHopIPv4Address)
	sm, dm := uint16(ieSourceIPv4PrefixLength), uint16(ieDestinationIPv4PrefixLen)
	if v6 {
		al = 16
		src, dst, nh = ieSourceIPv6Address, ieDestinationIPv6Address, ieIPNextHopIPv6Address
		sm, dm = ieSourceIPv6PrefixLength, ieDestinationIPv6PrefixLen
	}
	first, last, tl := uint16(ieFlowStartSysUpTime), uint16(ieFlowEndSysUpTime), uint16(4)
	if ipfix {
		first, last, tl = ieFlowStartMilliseconds, ieFlowEndMilliseconds, 8
	}
	return []fs{
		{t: src, l: al}, {t: dst, l: al}, {t: nh, l: al},
		{t: ieSourceTransportPort, l: 2}, {t: ieDestinationTransportPort, l: 2},
		{t: ieProtocol, l: 1}, {t: ieIPClassOfService, l: 1}, {t: ieTCPControlBits, l: 1}, {t: ieMinimumTTL, l: 1},
		{t: ieOctetDeltaCount, l: 8}, {t: iePacketDeltaCount, l: 4},
		{t: ieIngressInterface, l: 4}, {t: ieEgressInterface, l: 4},
		{t: ieBGPSourceAS, l: 4}, {t: ieBGPDestinationAS, l: 4},
		{t: sm, l: 1}, {t: dm, l: 1},
		{t: ieSourceMACAddress, l: 6}, {t: ieDestinationMACAddress, l: 6},
		{t: ieVlanID, l: 2}, {t: iePostVlanID, l: 2},
		{t: ieForwardingStatus, l: 1},
		{t: first, l: tl}, {t: last, l: tl},
	}
}

// record encodes f with commonFields.
func (f testFlow) record(ipfix bool) []byte {
	out := cat(addrBytes(f.src), addrBytes(f.dst), addrBytes(f.nextHop),
		u16(f.sport), u16(f.dport), []byte{f.proto, f.tos, f.tcp, f.ttl},
		binary.BigEndian.AppendUint64(nil, f.bytes), u32(uint32(f.packets)),
		u32(f.in), u32(f.out), u32(f.srcAS), u32(f.dstAS), []byte{f.srcMask, f.dstMask},
		mac6(f.srcMAC), mac6(f.dstMAC), u16(f.srcVlan), u16(f.dstVlan), []byte{f.fwd})
	if ipfix {
		base := uint64(1_700_000_000_000)
		return cat(out, binary.BigEndian.AppendUint64(nil, base+uint64(f.first)), binary.BigEndian.AppendUint64(nil, base+uint64(f.last)))
	}
	return cat(out, u32(f.first), u32(f.last))
}

// v5Record encodes f (IPv4) as a NetFlow v5 record.
func (f testFlow) v5Record() []byte {
	return cat(addrBytes(f.src), addrBytes(f.dst), addrBytes(f.nextHop), u16(uint16(f.in)), u16(uint16(f.out)),
		u32(uint32(f.packets)), u32(uint32(f.bytes)), u32(f.first), u32(f.last), u16(f.sport), u16(f.dport),
		[]byte{0, f.tcp, f.proto, f.tos}, u16(uint16(f.srcAS)), u16(uint16(f.dstAS)), []byte{f.srcMask, f.dstMask, 0, 0})
}

func v5Packet(uptime, secs, nsecs, seq uint32, rate uint16, flows []testFlow) []byte {
	out := cat(u16(5), u16(uint16(len(flows))), u32(uptime), u32(secs), u32(nsecs), u32(seq), []byte{0, 0}, u16(rate))
	for _, f := range flows {
		out = cat(out, f.v5Record())
	}
	return out
}

// generatedPackets returns a template packet and a data packet of n flows.
func generatedPackets(r *rand.Rand, ipfix, v6 bool, n int) (tmplPkt, dataPkt []byte, flows []testFlow) {
	tid := uint16(256)
	var recs []byte
	for i := 0; i < n; i++ {
		f := randomFlow(r, v6)
		flows = append(flows, f)
		recs = cat(recs, f.record(ipfix))
	}
	if ipfix {
		return ipfixPacket(1_700_000_100, 1, 7, set(2, tmpl(tid, commonFields(v6, true)...))),
			ipfixPacket(1_700_000_100, 1, 7, set(tid, recs)), flows
	}
	return v9Packet(200000, 1_700_000_100, 1, 7, set(0, tmpl(tid, commonFields(v6, false)...))),
		v9Packet(200000, 1_700_000_100, 2, 7, set(tid, recs)), flows
}
