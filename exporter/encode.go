package exporter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Protocols an Encoder speaks.
const (
	NetFlow5 = "netflow5"
	NetFlow9 = "netflow9"
	IPFIX    = "ipfix"
	SFlow    = "sflow"
)

// Protocols lists the protocol names NewEncoder accepts.
var Protocols = []string{NetFlow5, NetFlow9, IPFIX, SFlow}

// Encoder packs flows into export datagrams.
type Encoder interface {
	// Encode appends one datagram to dst holding as many of flows as fit
	// (at least one when flows is not empty) and returns it with the number
	// of flows it took. Flows an encoder cannot carry (IPv6 in NetFlow v5)
	// are consumed and skipped: Skipped counts them.
	Encode(dst []byte, now time.Time, flows []Flow) (pkt []byte, n int)
	// Skipped returns how many flows were consumed without being encoded.
	Skipped() uint64
}

// Template and option template IDs of the NetFlow v9 and IPFIX encoders.
const (
	TemplateIPv4    = 256
	TemplateIPv6    = 257
	TemplateOptions = 258
)

// IPFIX sampling announcements.
const (
	SamplingInterval    = "interval"     // samplingInterval (34) and samplingAlgorithm (35)
	SamplingPacketSpace = "packet-space" // samplingPacketInterval (305) = 1 and samplingPacketSpace (306) = rate-1
)

// EncoderOptions configures an encoder.
type EncoderOptions struct {
	Agent        netip.Addr // sFlow agent address (the exporter's address)
	SourceID     uint32     // NetFlow v9 source ID, IPFIX observation domain, sFlow sub-agent
	SamplingRate uint32     // announced sampling rate (1 = every packet); default 1
	Boot         time.Time  // when the exporter "booted": sysUptime is relative to it
	// TemplateInterval is how often v9/IPFIX datagrams carry the templates and
	// the sampling options again (the first datagram always does); default 10s.
	TemplateInterval time.Duration
	MaxSize          int    // datagram size budget; default 1400 bytes
	IPFIXSampling    string // SamplingInterval (default) or SamplingPacketSpace
}

func (o *EncoderOptions) defaults(now time.Time) {
	if o.SamplingRate == 0 {
		o.SamplingRate = 1
	}
	if o.Boot.IsZero() {
		o.Boot = now.Add(-time.Hour)
	}
	if o.TemplateInterval <= 0 {
		o.TemplateInterval = 10 * time.Second
	}
	if o.MaxSize <= 0 {
		o.MaxSize = 1400
	}
	if o.IPFIXSampling == "" {
		o.IPFIXSampling = SamplingInterval
	}
}

// NewEncoder returns the encoder of a protocol name (see Protocols).
func NewEncoder(protocol string, opts EncoderOptions) (Encoder, error) {
	switch protocol {
	case NetFlow5:
		return NewNetFlow5(opts), nil
	case NetFlow9:
		return NewNetFlow9(opts), nil
	case IPFIX:
		return NewIPFIX(opts)
	case SFlow:
		return NewSFlow(opts), nil
	}
	return nil, fmt.Errorf("unknown protocol %q (want one of %q)", protocol, Protocols)
}

// uptime returns t as milliseconds since boot, clamped to 0.
func uptime(boot, t time.Time) uint32 {
	d := t.Sub(boot).Milliseconds()
	if d < 0 {
		return 0
	}
	return uint32(d)
}

func be16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func be64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func clamp32(v uint64) uint32 {
	if v > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(v)
}

func addr4(b []byte, a netip.Addr) []byte {
	if !a.Is4() {
		return append(b, 0, 0, 0, 0)
	}
	v := a.As4()
	return append(b, v[:]...)
}

func addr16(b []byte, a netip.Addr) []byte {
	v := a.As16()
	return append(b, v[:]...)
}

// NetFlow v5.

type netflow5 struct {
	opts    EncoderOptions
	seq     uint32 // flows sent
	skipped uint64
}

// NewNetFlow5 returns a NetFlow v5 encoder (IPv4 only: IPv6 flows are
// skipped). The sampling rate goes in the header's sampling_interval.
func NewNetFlow5(opts EncoderOptions) Encoder {
	opts.defaults(time.Now())
	return &netflow5{opts: opts}
}

func (e *netflow5) Skipped() uint64 { return e.skipped }

func (e *netflow5) Encode(dst []byte, now time.Time, flows []Flow) ([]byte, int) {
	max := min((e.opts.MaxSize-24)/48, 30)
	if max < 1 {
		max = 1
	}
	start := len(dst)
	dst = be16(dst, 5)
	dst = be16(dst, 0) // count, patched below
	dst = be32(dst, uptime(e.opts.Boot, now))
	dst = be32(dst, uint32(now.Unix()))
	dst = be32(dst, uint32(now.Nanosecond()))
	dst = be32(dst, e.seq)
	dst = append(dst, 0, byte(e.opts.SourceID))
	rate := e.opts.SamplingRate
	if rate > 0x3fff {
		rate = 0x3fff
	}
	if rate > 1 {
		dst = be16(dst, 1<<14|uint16(rate)) // deterministic, interval
	} else {
		dst = be16(dst, 0)
	}
	count, n := 0, 0
	for n < len(flows) && count < max {
		f := &flows[n]
		n++
		if !f.SrcAddr.Is4() {
			e.skipped++
			continue
		}
		dst = addr4(dst, f.SrcAddr)
		dst = addr4(dst, f.DstAddr)
		dst = addr4(dst, f.NextHop)
		dst = be16(dst, uint16(f.InIfIndex))
		dst = be16(dst, uint16(f.OutIfIndex))
		dst = be32(dst, clamp32(f.Packets))
		dst = be32(dst, clamp32(f.Bytes))
		dst = be32(dst, uptime(e.opts.Boot, f.Start))
		dst = be32(dst, uptime(e.opts.Boot, f.End))
		dst = be16(dst, f.SrcPort)
		dst = be16(dst, f.DstPort)
		dst = append(dst, 0, f.TCPFlags, f.Proto, f.IPTos)
		dst = be16(dst, uint16(f.SrcAS))
		dst = be16(dst, uint16(f.DstAS))
		dst = append(dst, f.SrcMask, f.DstMask, 0, 0)
		count++
	}
	binary.BigEndian.PutUint16(dst[start+2:], uint16(count))
	e.seq += uint32(count)
	if count == 0 {
		return dst[:start], n
	}
	return dst, n
}
