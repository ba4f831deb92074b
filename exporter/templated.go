package exporter

import (
	"encoding/binary"
	"fmt"
	"time"
)

// field is one template field: an information element and its length.
type field struct {
	id, length uint16
}

// NetFlow v9 / IPFIX information elements used by the templates.
const (
	ieInBytes       = 1
	ieInPkts        = 2
	ieProtocol      = 4
	ieTos           = 5
	ieTCPFlags      = 6
	ieSrcPort       = 7
	ieSrcAddr4      = 8
	ieSrcMask4      = 9
	ieInputSNMP     = 10
	ieDstPort       = 11
	ieDstAddr4      = 12
	ieDstMask4      = 13
	ieOutputSNMP    = 14
	ieNextHop4      = 15
	ieSrcAS         = 16
	ieDstAS         = 17
	ieLastSwitched  = 21
	ieFirstSwitched = 22
	ieSrcAddr6      = 27
	ieDstAddr6      = 28
	ieSrcMask6      = 29
	ieDstMask6      = 30
	ieICMPType4     = 32
	ieSamplingInt   = 34
	ieSamplingAlgo  = 35
	ieSrcVlan       = 58
	ieDstVlan       = 59
	ieDirection     = 61
	ieNextHop6      = 62
	ieICMPType6     = 139
	ieObsDomain     = 149
	ieStartMillis   = 152
	ieEndMillis     = 153
	ieSamplingPkt   = 305
	ieSamplingSpace = 306
)

// templateFields returns the data template of one family and version.
func templateFields(v6, ipfix bool) []field {
	fs := []field{}
	if v6 {
		fs = append(fs, field{ieSrcAddr6, 16}, field{ieDstAddr6, 16}, field{ieNextHop6, 16})
	} else {
		fs = append(fs, field{ieSrcAddr4, 4}, field{ieDstAddr4, 4}, field{ieNextHop4, 4})
	}
	fs = append(fs, field{ieInputSNMP, 4}, field{ieOutputSNMP, 4}, field{ieInPkts, 8}, field{ieInBytes, 8})
	if ipfix {
		fs = append(fs, field{ieStartMillis, 8}, field{ieEndMillis, 8})
	} else {
		fs = append(fs, field{ieFirstSwitched, 4}, field{ieLastSwitched, 4})
	}
	fs = append(fs, field{ieSrcPort, 2}, field{ieDstPort, 2})
	if v6 {
		fs = append(fs, field{ieICMPType6, 2})
	} else {
		fs = append(fs, field{ieICMPType4, 2})
	}
	fs = append(fs, field{ieTCPFlags, 1}, field{ieProtocol, 1}, field{ieTos, 1})
	if v6 {
		fs = append(fs, field{ieSrcMask6, 1}, field{ieDstMask6, 1})
	} else {
		fs = append(fs, field{ieSrcMask4, 1}, field{ieDstMask4, 1})
	}
	fs = append(fs, field{ieDirection, 1}, field{ieSrcAS, 4}, field{ieDstAS, 4}, field{ieSrcVlan, 2}, field{ieDstVlan, 2})
	return fs
}

func recordSize(fs []field) int {
	n := 0
	for _, f := range fs {
		n += int(f.length)
	}
	return n
}

// templated encodes NetFlow v9 or IPFIX.
type templated struct {
	opts      EncoderOptions
	ipfix     bool
	fields    [2][]field // IPv4, IPv6
	sizes     [2]int
	seq       uint32 // v9: datagrams sent; IPFIX: data records sent
	nextTmpl  time.Time
	sentFirst bool
}

// NewNetFlow9 returns a NetFlow v9 encoder. Its first datagram, and one every
// TemplateInterval, starts with the IPv4 and IPv6 templates (IDs 256, 257),
// an options template (258) with samplingInterval (34) and samplingAlgorithm
// (35), and the options data announcing the sampling rate. Times are
// sysUptime-relative.
func NewNetFlow9(opts EncoderOptions) Encoder {
	opts.defaults(time.Now())
	return newTemplated(opts, false)
}

// NewIPFIX returns an IPFIX encoder, like NewNetFlow9 but with absolute
// millisecond timestamps (152, 153) and the sampling rate announced as
// opts.IPFIXSampling says.
func NewIPFIX(opts EncoderOptions) (Encoder, error) {
	opts.defaults(time.Now())
	if opts.IPFIXSampling != SamplingInterval && opts.IPFIXSampling != SamplingPacketSpace {
		return nil, fmt.Errorf("unknown IPFIX sampling announcement %q (want %q or %q)", opts.IPFIXSampling, SamplingInterval, SamplingPacketSpace)
	}
	return newTemplated(opts, true), nil
}

func newTemplated(opts EncoderOptions, ipfix bool) *templated {
	e := &templated{opts: opts, ipfix: ipfix}
	for i := range 2 {
		e.fields[i] = templateFields(i == 1, ipfix)
		e.sizes[i] = recordSize(e.fields[i])
	}
	return e
}

func (e *templated) Skipped() uint64 { return 0 }

func (e *templated) optionFields() (scope, opts []field) {
	scope = []field{{ieObsDomain, 4}}
	if !e.ipfix {
		scope = []field{{1, 4}} // scope "System"
	}
	if e.ipfix && e.opts.IPFIXSampling == SamplingPacketSpace {
		return scope, []field{{ieSamplingPkt, 4}, {ieSamplingSpace, 4}}
	}
	return scope, []field{{ieSamplingInt, 4}, {ieSamplingAlgo, 1}}
}

func pad4(b []byte, start int) []byte {
	for (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// appendTemplates appends the template set, the options template set and the
// options data set; it returns the number of records it added.
func (e *templated) appendTemplates(dst []byte) ([]byte, int) {
	tmplSet, optSet := uint16(0), uint16(1)
	if e.ipfix {
		tmplSet, optSet = 2, 3
	}
	// Data templates.
	start := len(dst)
	dst = be16(dst, tmplSet)
	dst = be16(dst, 0)
	for i, id := range []uint16{TemplateIPv4, TemplateIPv6} {
		dst = be16(dst, id)
		dst = be16(dst, uint16(len(e.fields[i])))
		for _, f := range e.fields[i] {
			dst = be16(dst, f.id)
			dst = be16(dst, f.length)
		}
	}
	binary.BigEndian.PutUint16(dst[start+2:], uint16(len(dst)-start))
	// Options template.
	scope, opts := e.optionFields()
	start = len(dst)
	dst = be16(dst, optSet)
	dst = be16(dst, 0)
	dst = be16(dst, TemplateOptions)
	if e.ipfix {
		dst = be16(dst, uint16(len(scope)+len(opts)))
		dst = be16(dst, uint16(len(scope)))
	} else {
		dst = be16(dst, uint16(4*len(scope)))
		dst = be16(dst, uint16(4*len(opts)))
	}
	for _, f := range append(scope, opts...) {
		dst = be16(dst, f.id)
		dst = be16(dst, f.length)
	}
	dst = pad4(dst, start)
	binary.BigEndian.PutUint16(dst[start+2:], uint16(len(dst)-start))
	// Options data.
	start = len(dst)
	dst = be16(dst, TemplateOptions)
	dst = be16(dst, 0)
	dst = be32(dst, e.opts.SourceID) // the scope
	rate := e.opts.SamplingRate
	if e.ipfix && e.opts.IPFIXSampling == SamplingPacketSpace {
		dst = be32(dst, 1)
		dst = be32(dst, rate-1)
	} else {
		dst = be32(dst, rate)
		algo := byte(1) // deterministic
		if rate <= 1 {
			algo = 0
		}
		dst = append(dst, algo)
	}
	dst = pad4(dst, start)
	binary.BigEndian.PutUint16(dst[start+2:], uint16(len(dst)-start))
	return dst, 3 // two templates and one options template (v9 counts records)
}

func (e *templated) Encode(dst []byte, now time.Time, flows []Flow) ([]byte, int) {
	start := len(dst)
	if e.ipfix {
		dst = be16(dst, 10)
		dst = be16(dst, 0) // length, patched
		dst = be32(dst, uint32(now.Unix()))
		dst = be32(dst, e.seq)
		dst = be32(dst, e.opts.SourceID)
	} else {
		// The header names one instant twice, as sysUptime and in whole
		// seconds: use the next whole second for both, so that collectors
		// turning uptimes into times get them to the millisecond.
		export := now.Truncate(time.Second)
		if export.Before(now) {
			export = export.Add(time.Second)
		}
		dst = be16(dst, 9)
		dst = be16(dst, 0) // count, patched
		dst = be32(dst, uptime(e.opts.Boot, export))
		dst = be32(dst, uint32(export.Unix()))
		dst = be32(dst, e.seq)
		dst = be32(dst, e.opts.SourceID)
	}
	count := 0
	if !e.sentFirst || !now.Before(e.nextTmpl) {
		var n int
		dst, n = e.appendTemplates(dst)
		count += n + 1 // and the options data record
		e.sentFirst = true
		e.nextTmpl = now.Add(e.opts.TemplateInterval)
	}
	n := 0
	setStart := -1
	family := -1
	data := 0
	for n < len(flows) {
		f := &flows[n]
		fam := 0
		if f.IsIPv6() {
			fam = 1
		}
		need := e.sizes[fam]
		if fam != family {
			need += 4 + 3 // a new set header, and the previous set's padding
		}
		if len(dst)-start+need > e.opts.MaxSize && n > 0 {
			break
		}
		if fam != family {
			if setStart >= 0 {
				dst = pad4(dst, setStart)
				binary.BigEndian.PutUint16(dst[setStart+2:], uint16(len(dst)-setStart))
			}
			setStart = len(dst)
			dst = be16(dst, uint16(TemplateIPv4+fam))
			dst = be16(dst, 0)
			family = fam
		}
		dst = e.appendRecord(dst, f, fam == 1)
		n++
		data++
	}
	if setStart >= 0 {
		dst = pad4(dst, setStart)
		binary.BigEndian.PutUint16(dst[setStart+2:], uint16(len(dst)-setStart))
	}
	count += data
	if e.ipfix {
		binary.BigEndian.PutUint16(dst[start+2:], uint16(len(dst)-start))
		e.seq += uint32(data)
	} else {
		binary.BigEndian.PutUint16(dst[start+2:], uint16(count))
		e.seq++
	}
	return dst, n
}

func (e *templated) appendRecord(dst []byte, f *Flow, v6 bool) []byte {
	if v6 {
		dst = addr16(dst, f.SrcAddr)
		dst = addr16(dst, f.DstAddr)
		dst = addr16(dst, f.NextHop)
	} else {
		dst = addr4(dst, f.SrcAddr)
		dst = addr4(dst, f.DstAddr)
		dst = addr4(dst, f.NextHop)
	}
	dst = be32(dst, f.InIfIndex)
	dst = be32(dst, f.OutIfIndex)
	dst = be64(dst, f.Packets)
	dst = be64(dst, f.Bytes)
	if e.ipfix {
		dst = be64(dst, uint64(f.Start.UnixMilli()))
		dst = be64(dst, uint64(f.End.UnixMilli()))
	} else {
		dst = be32(dst, uptime(e.opts.Boot, f.Start))
		dst = be32(dst, uptime(e.opts.Boot, f.End))
	}
	var icmp uint16
	if f.Proto == 1 || f.Proto == 58 {
		icmp = f.DstPort
	}
	dst = be16(dst, f.SrcPort)
	dst = be16(dst, f.DstPort)
	dst = be16(dst, icmp)
	dst = append(dst, f.TCPFlags, f.Proto, f.IPTos, f.SrcMask, f.DstMask, 0 /* ingress */)
	dst = be32(dst, f.SrcAS)
	dst = be32(dst, f.DstAS)
	dst = be16(dst, f.SrcVlan)
	dst = be16(dst, f.DstVlan)
	return dst
}
