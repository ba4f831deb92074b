package exporter

import (
	"encoding/binary"
	"time"
)

// sFlow v5 encoder: one compact flow sample per flow, each with a raw packet
// header (Ethernet, IPv4/IPv6, TCP/UDP/ICMP), an extended switch, an
// extended router and an extended gateway record.
type sflow struct {
	opts    EncoderOptions
	seq     uint32 // datagrams sent
	samples uint32 // flow samples sent
	hdr     []byte // scratch sampled header
}

// NewSFlow returns an sFlow v5 encoder. Each flow is one sampled packet: the
// IP total length is f.Bytes, the sampling rate opts.SamplingRate, the agent
// address opts.Agent and the sub-agent opts.SourceID.
func NewSFlow(opts EncoderOptions) Encoder {
	opts.defaults(time.Now())
	return &sflow{opts: opts, hdr: make([]byte, 0, 128)}
}

func (e *sflow) Skipped() uint64 { return 0 }

// sampleSize is an upper bound of one encoded flow sample.
const sflowSampleMax = 8 + 32 + 8 + 16 + 80 + 8 + 16 + 8 + 24 + 8 + 56

func (e *sflow) Encode(dst []byte, now time.Time, flows []Flow) ([]byte, int) {
	start := len(dst)
	dst = be32(dst, 5)
	switch {
	case e.opts.Agent.Is4():
		dst = be32(dst, 1)
		dst = addr4(dst, e.opts.Agent)
	case e.opts.Agent.Is6():
		dst = be32(dst, 2)
		dst = addr16(dst, e.opts.Agent)
	default:
		dst = be32(dst, 0)
	}
	dst = be32(dst, e.opts.SourceID)
	dst = be32(dst, e.seq)
	dst = be32(dst, uptime(e.opts.Boot, now))
	countAt := len(dst)
	dst = be32(dst, 0)
	n := 0
	for n < len(flows) && (n == 0 || len(dst)-start+sflowSampleMax <= e.opts.MaxSize) {
		dst = e.appendSample(dst, &flows[n])
		n++
	}
	binary.BigEndian.PutUint32(dst[countAt:], uint32(n))
	e.seq++
	return dst, n
}

func (e *sflow) appendSample(dst []byte, f *Flow) []byte {
	e.samples++
	sampleStart := len(dst)
	dst = be32(dst, 1) // flow sample
	dst = be32(dst, 0) // length, patched
	dst = be32(dst, e.samples)
	dst = be32(dst, f.InIfIndex) // source id: type 0, ifIndex
	dst = be32(dst, e.opts.SamplingRate)
	dst = be32(dst, e.samples*e.opts.SamplingRate) // sample pool
	dst = be32(dst, 0)                             // drops
	dst = be32(dst, f.InIfIndex&0x3fffffff)
	dst = be32(dst, f.OutIfIndex&0x3fffffff)
	dst = be32(dst, 4) // records

	// Raw packet header.
	h := e.header(f)
	dst = be32(dst, 1)
	dst = be32(dst, uint32(16+(len(h)+3)&^3))
	dst = be32(dst, 1)                    // Ethernet
	dst = be32(dst, uint32(f.Bytes)+14+4) // frame length with FCS
	dst = be32(dst, 4)                    // stripped: the FCS
	dst = be32(dst, uint32(len(h)))
	dst = append(dst, h...)
	for len(dst)%4 != 0 {
		dst = append(dst, 0)
	}
	// Extended switch.
	dst = be32(dst, 1001)
	dst = be32(dst, 16)
	dst = be32(dst, uint32(f.SrcVlan))
	dst = be32(dst, 0)
	dst = be32(dst, uint32(f.DstVlan))
	dst = be32(dst, 0)
	// Extended router.
	dst = be32(dst, 1002)
	if f.NextHop.Is6() {
		dst = be32(dst, 4+16+8)
		dst = be32(dst, 2)
		dst = addr16(dst, f.NextHop)
	} else {
		dst = be32(dst, 4+4+8)
		dst = be32(dst, 1)
		dst = addr4(dst, f.NextHop)
	}
	dst = be32(dst, uint32(f.SrcMask))
	dst = be32(dst, uint32(f.DstMask))
	// Extended gateway: the path is one AS_SEQUENCE ending with DstAS.
	dst = be32(dst, 1003)
	at := len(dst)
	dst = be32(dst, 0)
	if f.NextHop.Is6() {
		dst = be32(dst, 2)
		dst = addr16(dst, f.NextHop)
	} else {
		dst = be32(dst, 1)
		dst = addr4(dst, f.NextHop)
	}
	dst = be32(dst, LocalAS)
	dst = be32(dst, f.SrcAS)
	dst = be32(dst, f.SrcAS) // source peer AS
	dst = be32(dst, 1)       // one segment
	dst = be32(dst, 2)       // AS_SEQUENCE
	dst = be32(dst, 1)
	dst = be32(dst, f.DstAS)
	dst = be32(dst, 0)   // no communities
	dst = be32(dst, 100) // local preference
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))

	binary.BigEndian.PutUint32(dst[sampleStart+4:], uint32(len(dst)-sampleStart-8))
	return dst
}

// header builds the sampled packet's first bytes.
func (e *sflow) header(f *Flow) []byte {
	h := e.hdr[:0]
	h = append(h, byte(f.DstMAC>>40), byte(f.DstMAC>>32), byte(f.DstMAC>>24), byte(f.DstMAC>>16), byte(f.DstMAC>>8), byte(f.DstMAC))
	h = append(h, byte(f.SrcMAC>>40), byte(f.SrcMAC>>32), byte(f.SrcMAC>>24), byte(f.SrcMAC>>16), byte(f.SrcMAC>>8), byte(f.SrcMAC))
	if f.IsIPv6() {
		h = be16(h, 0x86dd)
		h = be32(h, 6<<28|uint32(f.IPTos)<<20)
		plen := uint64(0)
		if f.Bytes > 40 {
			plen = f.Bytes - 40
		}
		h = be16(h, uint16(min(plen, 0xffff)))
		h = append(h, f.Proto, 64)
		h = addr16(h, f.SrcAddr)
		h = addr16(h, f.DstAddr)
	} else {
		h = be16(h, 0x0800)
		h = append(h, 0x45, f.IPTos)
		h = be16(h, uint16(min(f.Bytes, 0xffff)))
		h = be16(h, uint16(e.samples)) // identification
		h = append(h, 0x40, 0, 64, f.Proto)
		h = be16(h, 0) // checksum
		h = addr4(h, f.SrcAddr)
		h = addr4(h, f.DstAddr)
	}
	switch f.Proto {
	case 6:
		h = be16(h, f.SrcPort)
		h = be16(h, f.DstPort)
		h = be32(h, e.samples) // sequence
		h = be32(h, 0)         // acknowledgment
		h = append(h, 5<<4, f.TCPFlags)
		h = be16(h, 65535) // window
		h = be32(h, 0)     // checksum, urgent pointer
	case 1, 58:
		h = append(h, f.ICMPType(), f.ICMPCode(), 0, 0, 0, 0, 0, 0)
	default:
		h = be16(h, f.SrcPort)
		h = be16(h, f.DstPort)
		l := uint64(8)
		if f.IsIPv6() && f.Bytes > 40 {
			l = f.Bytes - 40
		} else if !f.IsIPv6() && f.Bytes > 20 {
			l = f.Bytes - 20
		}
		h = be16(h, uint16(min(l, 0xffff)))
		h = be16(h, 0)
	}
	e.hdr = h
	return h
}
