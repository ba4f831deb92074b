package sflow

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/flow"
)

var (
	testNow   = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	testAgent = netip.MustParseAddr("192.0.2.10")
	testSrc   = netip.MustParseAddr("198.51.100.99")
	a         = netip.MustParseAddr
)

const (
	macA = 0x0200_0000_00aa
	macB = 0x0200_0000_00bb
)

// base is a record with what every test flow of testAgent shares.
func base(r flow.Record) flow.Record {
	r.TimeReceived, r.TimeFlowStart, r.TimeFlowEnd = testNow, testNow, testNow
	if !r.ExporterAddress.IsValid() {
		r.ExporterAddress = testAgent
	}
	if r.Packets == 0 {
		r.Packets = 1
	}
	return r
}

func TestDecode(t *testing.T) {
	tcp4 := ether(macB, macA, 0, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, 0x28, 61, 1500, tcp(443, 51000, 0x18)))
	tcp4vlan := ether(macB, macA, 100, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, 0, 64, 60, tcp(22, 40000, 0x02)))
	udp6 := ether(macB, macA, 0, 0x86dd, ipv6("2001:db8::1", "2001:db8::2", 17, 0xb8, 57, 1200, udp(53, 33333, 1200)))
	icmp4 := ether(macB, macA, 0, 0x0800, ipv4("10.0.0.3", "10.0.0.4", 1, 0, 255, 84, icmp(8, 0)))
	icmp6 := ether(macB, macA, 0, 0x86dd, ipv6("2001:db8::3", "2001:db8::4", 58, 0, 255, 64, icmp(128, 0)))
	rawIP := ipv4("10.9.9.9", "10.8.8.8", 17, 0, 30, 576, udp(5000, 6000, 556))

	tcp4Rec := flow.Record{SrcAddr: a("10.0.0.1"), DstAddr: a("10.0.0.2"), EType: 0x0800, Proto: 6,
		SrcPort: 443, DstPort: 51000, TCPFlags: 0x18, IPTos: 0x28, IPTTL: 61, SrcMAC: macA, DstMAC: macB,
		Bytes: 1500, SamplingRate: 1000, InIfIndex: 3, OutIfIndex: 5}

	cases := []struct {
		name    string
		dgram   []byte
		decoder Decoder
		want    []flow.Record
		counter int
		err     error
	}{
		{
			name:  "ipv4 tcp",
			dgram: datagram(testAgent, flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4))),
			want:  []flow.Record{base(tcp4Rec)},
		},
		{
			name:  "vlan tcp syn",
			dgram: datagram(testAgent, flowSample(512, 1, 2, rawHeader(1, 78, tcp4vlan))),
			want: []flow.Record{base(flow.Record{SrcAddr: a("10.0.0.1"), DstAddr: a("10.0.0.2"), EType: 0x0800, Proto: 6,
				SrcPort: 22, DstPort: 40000, TCPFlags: 0x02, IPTTL: 64, SrcMAC: macA, DstMAC: macB, SrcVlan: 100,
				Bytes: 60, SamplingRate: 512, InIfIndex: 1, OutIfIndex: 2})},
		},
		{
			name:  "ipv6 udp",
			dgram: datagram(testAgent, flowSample(100, 7, 8, rawHeader(1, 1258, udp6))),
			want: []flow.Record{base(flow.Record{SrcAddr: a("2001:db8::1"), DstAddr: a("2001:db8::2"), EType: 0x86dd, Proto: 17,
				SrcPort: 53, DstPort: 33333, IPTos: 0xb8, IPTTL: 57, SrcMAC: macA, DstMAC: macB,
				Bytes: 1240, SamplingRate: 100, InIfIndex: 7, OutIfIndex: 8})},
		},
		{
			name:  "icmp and icmpv6",
			dgram: datagram(testAgent, flowSample(10, 1, 2, rawHeader(1, 102, icmp4)), flowSample(10, 2, 1, rawHeader(1, 122, icmp6))),
			want: []flow.Record{
				base(flow.Record{SrcAddr: a("10.0.0.3"), DstAddr: a("10.0.0.4"), EType: 0x0800, Proto: 1, ICMPType: 8,
					IPTTL: 255, SrcMAC: macA, DstMAC: macB, Bytes: 84, SamplingRate: 10, InIfIndex: 1, OutIfIndex: 2}),
				base(flow.Record{SrcAddr: a("2001:db8::3"), DstAddr: a("2001:db8::4"), EType: 0x86dd, Proto: 58, ICMPType: 128,
					IPTTL: 255, SrcMAC: macA, DstMAC: macB, Bytes: 104, SamplingRate: 10, InIfIndex: 2, OutIfIndex: 1}),
			},
		},
		{
			name:  "raw ipv4 header",
			dgram: datagram(testAgent, flowSample(1, 1, 2, rawHeader(11, 576, rawIP))),
			want: []flow.Record{base(flow.Record{SrcAddr: a("10.9.9.9"), DstAddr: a("10.8.8.8"), EType: 0x0800, Proto: 17,
				SrcPort: 5000, DstPort: 6000, IPTTL: 30, Bytes: 576, SamplingRate: 1, InIfIndex: 1, OutIfIndex: 2})},
		},
		{
			name: "extended switch router gateway",
			dgram: datagram(testAgent, flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4), extSwitch(10, 20),
				extRouter(a("192.0.2.254"), 24, 16), extGateway(a("203.0.113.1"), 64500, 64501, 64502, 64502, 3356, 15169))),
			want: []flow.Record{base(func() flow.Record {
				r := tcp4Rec
				r.SrcVlan, r.DstVlan = 10, 20
				r.NextHop = a("203.0.113.1")
				r.SrcNetMask, r.DstNetMask = 24, 16
				r.SrcAS, r.DstAS = 64501, 15169
				return r
			}())},
		},
		{
			name:  "gateway without path nor source AS",
			dgram: datagram(testAgent, flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4), extRouter(a("192.0.2.254"), 24, 16), extGateway(netip.Addr{}, 64500, 0, 0))),
			want: []flow.Record{base(func() flow.Record {
				r := tcp4Rec
				r.NextHop = a("192.0.2.254")
				r.SrcNetMask, r.DstNetMask = 24, 16
				r.SrcAS, r.DstAS = 64500, 64500
				return r
			}())},
		},
		{
			name:  "expanded flow sample",
			dgram: datagram(testAgent, expandedFlowSample(1000, 3, 5, rawHeader(1, 1518, tcp4))),
			want:  []flow.Record{base(tcp4Rec)},
		},
		{
			name:  "interface format bits masked",
			dgram: datagram(testAgent, flowSample(1000, 1<<30|3, 2<<30|5, rawHeader(1, 1518, tcp4))),
			want: []flow.Record{base(func() flow.Record {
				r := tcp4Rec
				r.InIfIndex, r.OutIfIndex = 0, 0
				return r
			}())},
		},
		{
			name:    "counter samples skipped",
			dgram:   datagram(testAgent, counterSample(), flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4)), counterSample()),
			want:    []flow.Record{base(tcp4Rec)},
			counter: 2,
		},
		{
			name:  "ipv6 agent",
			dgram: datagram(a("2001:db8::a"), flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4))),
			want: []flow.Record{base(func() flow.Record {
				r := tcp4Rec
				r.ExporterAddress = a("2001:db8::a")
				return r
			}())},
		},
		{
			name:  "unset agent falls back to the UDP source",
			dgram: datagram(netip.Addr{}, flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4))),
			want: []flow.Record{base(func() flow.Record {
				r := tcp4Rec
				r.ExporterAddress = testSrc
				return r
			}())},
		},
		{
			name:    "default sampling rate applies to rate 0",
			dgram:   datagram(testAgent, flowSample(0, 3, 5, rawHeader(1, 1518, tcp4)), flowSample(7, 3, 5, rawHeader(1, 1518, tcp4))),
			decoder: Decoder{DefaultRate: NewRateTable(RateEntry{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Rate: 2048}, RateEntry{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Rate: 1})},
			want: []flow.Record{
				base(func() flow.Record { r := tcp4Rec; r.SamplingRate = 2048; return r }()),
				base(func() flow.Record { r := tcp4Rec; r.SamplingRate = 7; return r }()),
			},
		},
		{
			name:    "override sampling rate, most specific wins",
			dgram:   datagram(testAgent, flowSample(7, 3, 5, rawHeader(1, 1518, tcp4))),
			decoder: Decoder{OverrideRate: NewRateTable(RateEntry{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Rate: 1}, RateEntry{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Rate: 4096})},
			want:    []flow.Record{base(func() flow.Record { r := tcp4Rec; r.SamplingRate = 4096; return r }())},
		},
		{name: "not sflow", dgram: []byte{0, 0, 0, 9, 1, 2, 3, 4}, err: ErrVersion},
		{name: "empty", dgram: nil, err: ErrVersion},
		{name: "truncated header", dgram: datagram(testAgent)[:20], err: ErrTruncated},
		{
			name: "bogus sample count",
			dgram: func() []byte {
				d := datagram(testAgent, flowSample(1, 1, 1, rawHeader(1, 1518, tcp4)))
				d[27] = 200
				return d
			}(),
			err: ErrBogus,
		},
		{
			name: "sample count too low",
			dgram: func() []byte {
				d := datagram(testAgent, flowSample(1, 1, 1, rawHeader(1, 1518, tcp4)), counterSample())
				d[27] = 1
				return d
			}(),
			err: ErrBogus,
		},
		{
			name: "truncated sample",
			dgram: func() []byte {
				d := datagram(testAgent, flowSample(1, 1, 1, rawHeader(1, 1518, tcp4)))
				return d[:len(d)-10]
			}(),
			err: ErrTruncated,
		},
		{
			name: "absurd record length",
			dgram: datagram(testAgent, flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4)),
				sample(sampleFlow, xdr{}.u32(7, 3, 1, 1, 0, 1, 2, 1).u32(1, 0xfffffff0))),
			err: ErrTruncated,
		},
		{
			name: "bogus record count",
			dgram: datagram(testAgent, flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4)),
				sample(sampleFlow, xdr{}.u32(7, 3, 1, 1, 0, 1, 2, 0x7fffffff))),
			err: ErrBogus,
		},
		{
			name: "bogus as path",
			dgram: datagram(testAgent, flowSample(1000, 3, 5, rawHeader(1, 1518, tcp4),
				record(recordExtendedGateway, xdr{}.addr(a("192.0.2.1")).u32(1, 2, 3, 1, 2, 0x40000000)))),
			err: ErrBogus,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := flow.NewBatch()
			defer b.Release()
			// A record already in the batch must survive a failed datagram.
			b.Append().SrcPort = 1
			res, err := tc.decoder.Decode(tc.dgram, testSrc, testNow, b)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Decode() error = %v, want %v", err, tc.err)
			}
			got := b.Records[1:]
			if tc.err != nil {
				if len(got) != 0 || res.Flows != 0 {
					t.Fatalf("Decode() kept %d records after an error", len(got))
				}
				return
			}
			if res.Flows != len(tc.want) {
				t.Errorf("Result.Flows = %d, want %d", res.Flows, len(tc.want))
			}
			if res.CounterSamples != tc.counter {
				t.Errorf("Result.CounterSamples = %d, want %d", res.CounterSamples, tc.counter)
			}
			if diff := cmp.Diff(got, tc.want, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("Decode() records (-got +want):\n%s", diff)
			}
		})
	}
}

// TestDecodeNeverPanics truncates and corrupts valid datagrams at every
// position.
func TestDecodeNeverPanics(t *testing.T) {
	d := datagram(testAgent,
		flowSample(1000, 3, 5, rawHeader(1, 1518, ether(macB, macA, 100, 0x86dd, ipv6("2001:db8::1", "2001:db8::2", 6, 0, 1, 20, tcp(1, 2, 3)))),
			extSwitch(1, 2), extRouter(a("192.0.2.1"), 1, 2), extGateway(a("2001:db8::ff"), 1, 2, 3, 4, 5)),
		counterSample())
	var dec Decoder
	b := flow.NewBatch()
	defer b.Release()
	for i := range d {
		b.Records = b.Records[:0]
		dec.Decode(d[:i], testSrc, testNow, b)
		for _, v := range []byte{0, 1, 0x7f, 0xff} {
			c := append([]byte(nil), d...)
			c[i] = v
			b.Records = b.Records[:0]
			dec.Decode(c, testSrc, testNow, b)
		}
	}
}
