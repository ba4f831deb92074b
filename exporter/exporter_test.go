package exporter_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	gfsflow "github.com/netsampler/goflow2/v2/decoders/sflow"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	"github.com/flowengine/flowengine/exporter"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
	"github.com/flowengine/flowengine/stages/sflow"
)

// seen is what a decoded flow must carry; times are in milliseconds.
type seen struct {
	Src, Dst, NextHop  netip.Addr
	SrcPort, DstPort   uint16
	Proto, Flags, Tos  uint8
	SrcMask, DstMask   uint8
	SrcAS, DstAS       uint32
	In, Out            uint32
	Bytes, Packets     uint64
	SrcVlan, DstVlan   uint16
	ICMPType, ICMPCode uint8
	Rate               uint64
	StartMs, EndMs     int64
}

func fromFlow(f *exporter.Flow, rate uint64) seen {
	s := seen{Src: f.SrcAddr, Dst: f.DstAddr, NextHop: f.NextHop, SrcPort: f.SrcPort, DstPort: f.DstPort,
		Proto: f.Proto, Flags: f.TCPFlags, Tos: f.IPTos, SrcMask: f.SrcMask, DstMask: f.DstMask,
		SrcAS: f.SrcAS, DstAS: f.DstAS, In: f.InIfIndex, Out: f.OutIfIndex, Bytes: f.Bytes, Packets: f.Packets,
		SrcVlan: f.SrcVlan, DstVlan: f.DstVlan, Rate: rate, StartMs: f.Start.UnixMilli(), EndMs: f.End.UnixMilli()}
	if f.Proto == 1 || f.Proto == 58 {
		s.ICMPType, s.ICMPCode = f.ICMPType(), f.ICMPCode()
	}
	return s
}

func ip(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap()
}

func fromGoflow2(m *protoproducer.ProtoProducerMessage) seen {
	return seen{Src: ip(m.SrcAddr), Dst: ip(m.DstAddr), NextHop: ip(m.NextHop), SrcPort: uint16(m.SrcPort), DstPort: uint16(m.DstPort),
		Proto: uint8(m.Proto), Flags: uint8(m.TcpFlags), Tos: uint8(m.IpTos), SrcMask: uint8(m.SrcNet), DstMask: uint8(m.DstNet),
		SrcAS: m.SrcAs, DstAS: m.DstAs, In: m.InIf, Out: m.OutIf, Bytes: m.Bytes, Packets: m.Packets,
		SrcVlan: uint16(m.SrcVlan), DstVlan: uint16(m.DstVlan), ICMPType: uint8(m.IcmpType), ICMPCode: uint8(m.IcmpCode),
		Rate: m.SamplingRate, StartMs: int64(m.TimeFlowStartNs / 1e6), EndMs: int64(m.TimeFlowEndNs / 1e6)}
}

// msTolerance compares millisecond times within 2 ms: NetFlow v5/v9 carry
// them as sysUptime offsets, rounded to the millisecond twice.
var msTolerance = cmp.FilterPath(func(p cmp.Path) bool {
	n := p.Last().String()
	return n == ".StartMs" || n == ".EndMs"
}, cmp.Comparer(func(a, b int64) bool { return a-b <= 2 && b-a <= 2 }))

var addrCmp = cmp.Comparer(func(x, y netip.Addr) bool { return x == y })

func generate(n int, opts exporter.GeneratorOptions, now time.Time) []exporter.Flow {
	g := exporter.NewGenerator(opts)
	flows := make([]exporter.Flow, n)
	for i := range flows {
		g.Next(now, &flows[i])
	}
	return flows
}

// encodeAll packs flows into datagrams, checking the size budget.
func encodeAll(t *testing.T, enc exporter.Encoder, now time.Time, flows []exporter.Flow) [][]byte {
	t.Helper()
	var pkts [][]byte
	for len(flows) > 0 {
		pkt, n := enc.Encode(nil, now, flows)
		if n == 0 {
			t.Fatal("Encode took no flow")
		}
		if len(pkt) > 1400 {
			t.Fatalf("datagram of %d bytes, budget 1400", len(pkt))
		}
		flows = flows[n:]
		if len(pkt) > 0 {
			pkts = append(pkts, pkt)
		}
	}
	return pkts
}

func TestNetFlow5Goflow2(t *testing.T) {
	now := time.Now()
	flows := generate(200, exporter.GeneratorOptions{Seed: 5, Interfaces: 10}, now)
	enc := exporter.NewNetFlow5(exporter.EncoderOptions{SamplingRate: 100, Boot: now.Add(-time.Hour)})
	pkts := encodeAll(t, enc, now, flows)
	var got []seen
	for _, pkt := range pkts {
		var p netflowlegacy.PacketNetFlowV5
		if err := netflowlegacy.DecodeMessageVersion(bytes.NewBuffer(pkt), &p); err != nil {
			t.Fatal(err)
		}
		msgs, err := protoproducer.ProcessMessageNetFlowLegacy(&p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			s := fromGoflow2(m.(*protoproducer.ProtoProducerMessage))
			s.SrcVlan, s.DstVlan = 0, 0 // not in v5
			if s.Proto == 1 {
				// v5 carries ICMP type/code in the destination port only.
				s.ICMPType, s.ICMPCode = uint8(s.DstPort>>8), uint8(s.DstPort)
			}
			got = append(got, s)
		}
	}
	var want []seen
	for i := range flows {
		s := fromFlow(&flows[i], 100)
		s.SrcVlan, s.DstVlan = 0, 0
		want = append(want, s)
	}
	if len(pkts) != (200+27)/28 {
		t.Errorf("%d datagrams for 200 flows, want %d (28 per datagram)", len(pkts), (200+27)/28)
	}
	if diff := cmp.Diff(got, want, addrCmp, msTolerance); diff != "" {
		t.Errorf("goflow2 decoded (-got +want):\n%s", diff)
	}
}

func TestNetFlow5SkipsIPv6(t *testing.T) {
	now := time.Now()
	flows := generate(100, exporter.GeneratorOptions{Seed: 5, IPv6Share: 0.5}, now)
	enc := exporter.NewNetFlow5(exporter.EncoderOptions{})
	var records int
	for _, pkt := range encodeAll(t, enc, now, flows) {
		records += int(binary.BigEndian.Uint16(pkt[2:]))
	}
	if v6 := int(enc.Skipped()); records+v6 != 100 || v6 == 0 {
		t.Errorf("%d records and %d skipped, want 100 in all with some skipped", records, v6)
	}
}

func TestTemplatedGoflow2(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ipfix    bool
		sampling string
	}{
		{"netflow9", false, ""},
		{"ipfix interval", true, exporter.SamplingInterval},
		{"ipfix packet-space", true, exporter.SamplingPacketSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now().Truncate(time.Millisecond)
			flows := generate(300, exporter.GeneratorOptions{Seed: 9, Interfaces: 12, IPv6Share: 0.4}, now)
			opts := exporter.EncoderOptions{SourceID: 7, SamplingRate: 1000, Boot: now.Add(-time.Hour), IPFIXSampling: tc.sampling}
			var enc exporter.Encoder
			if tc.ipfix {
				var err error
				if enc, err = exporter.NewIPFIX(opts); err != nil {
					t.Fatal(err)
				}
			} else {
				enc = exporter.NewNetFlow9(opts)
			}
			pkts := encodeAll(t, enc, now, flows)
			templates := netflow.CreateTemplateSystem()
			sampling := protoproducer.CreateSamplingSystem()
			var got []seen
			var optionRates []uint64
			for _, pkt := range pkts {
				var v9 netflow.NFv9Packet
				var ipfix netflow.IPFIXPacket
				if err := netflow.DecodeMessageVersion(bytes.NewBuffer(pkt), templates, &v9, &ipfix); err != nil {
					t.Fatal(err)
				}
				var msgs []producer.ProducerMessage
				var err error
				var sets []any
				if tc.ipfix {
					msgs, err = protoproducer.ProcessMessageIPFIXConfig(&ipfix, sampling, nil)
					sets = ipfix.FlowSets
				} else {
					msgs, err = protoproducer.ProcessMessageNetFlowV9Config(&v9, sampling, nil)
					sets = v9.FlowSets
				}
				if err != nil {
					t.Fatal(err)
				}
				optionRates = append(optionRates, announcedRates(t, sets)...)
				for _, m := range msgs {
					got = append(got, fromGoflow2(m.(*protoproducer.ProtoProducerMessage)))
				}
			}
			var want []seen
			for i := range flows {
				s := fromFlow(&flows[i], 1000)
				if tc.sampling == exporter.SamplingPacketSpace {
					s.Rate = 1 // goflow2 takes samplingPacketInterval (305) as the rate
				}
				want = append(want, s)
			}
			if diff := cmp.Diff(got, want, addrCmp, msTolerance); diff != "" {
				t.Errorf("goflow2 decoded (-got +want):\n%s", diff)
			}
			if len(optionRates) != 1 || optionRates[0] != 1000 {
				t.Errorf("options data announced sampling rates %v, want [1000] (first datagram only)", optionRates)
			}
		})
	}
}

// announcedRates reads the sampling rate from options data records: 34, or
// (305+306)/305.
func announcedRates(t *testing.T, sets []any) []uint64 {
	var rates []uint64
	for _, s := range sets {
		od, ok := s.(netflow.OptionsDataFlowSet)
		if !ok {
			continue
		}
		for _, r := range od.Records {
			vals := map[uint16]uint64{}
			for _, f := range r.OptionsValues {
				b := f.Value.([]byte)
				var v uint64
				for _, c := range b {
					v = v<<8 | uint64(c)
				}
				vals[f.Type] = v
			}
			switch {
			case vals[34] != 0:
				rates = append(rates, vals[34])
			case vals[305] != 0:
				rates = append(rates, (vals[305]+vals[306])/vals[305])
			default:
				t.Errorf("options data without a sampling rate: %v", vals)
			}
		}
	}
	return rates
}

func TestSFlowDecoders(t *testing.T) {
	now := time.Now()
	flows := generate(150, exporter.GeneratorOptions{Seed: 3, Interfaces: 6, IPv6Share: 0.3, PerPacket: true}, now)
	agent := netip.MustParseAddr("127.0.0.9")
	enc := exporter.NewSFlow(exporter.EncoderOptions{Agent: agent, SourceID: 1, SamplingRate: 2048})
	pkts := encodeAll(t, enc, now, flows)
	var want []seen
	for i := range flows {
		s := fromFlow(&flows[i], 2048)
		s.StartMs, s.EndMs = 0, 0
		want = append(want, s)
	}

	t.Run("goflow2", func(t *testing.T) {
		var got []seen
		for _, pkt := range pkts {
			var p gfsflow.Packet
			if err := gfsflow.DecodeMessageVersion(bytes.NewBuffer(pkt), &p); err != nil {
				t.Fatal(err)
			}
			msgs, err := protoproducer.ProcessMessageSFlowConfig(&p, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				fm := m.(*protoproducer.ProtoProducerMessage)
				s := fromGoflow2(fm)
				s.NextHop = ip(fm.BgpNextHop)
				s.Bytes -= 18 // goflow2 reports the frame length (Ethernet header and FCS)
				s.StartMs, s.EndMs = 0, 0
				if ip(fm.SamplerAddress) != agent {
					t.Errorf("agent %v, want %v", ip(fm.SamplerAddress), agent)
				}
				// goflow2 v2.2.6 does not fill ICMP type/code from sFlow headers.
				if s.Proto == 1 || s.Proto == 58 {
					s.ICMPType, s.ICMPCode = uint8(s.DstPort>>8), uint8(s.DstPort)
					s.DstPort = uint16(s.ICMPType)<<8 | uint16(s.ICMPCode)
				}
				got = append(got, s)
			}
		}
		// goflow2 leaves ports of ICMP flows at 0, as the generator does for
		// SrcPort; DstPort holds type<<8|code for the generator.
		for i := range got {
			if got[i].Proto == 1 || got[i].Proto == 58 {
				got[i].ICMPType, got[i].ICMPCode, got[i].DstPort = want[i].ICMPType, want[i].ICMPCode, want[i].DstPort
			}
		}
		if diff := cmp.Diff(got, want, addrCmp); diff != "" {
			t.Errorf("goflow2 decoded (-got +want):\n%s", diff)
		}
	})

	t.Run("flowengine", func(t *testing.T) {
		var dec sflow.Decoder
		var got []seen
		for _, pkt := range pkts {
			b := flow.NewBatch()
			if _, err := dec.Decode(pkt, netip.MustParseAddr("127.0.0.1"), now, b); err != nil {
				t.Fatal(err)
			}
			for _, r := range b.Records {
				if r.ExporterAddress != agent {
					t.Errorf("exporter %v, want %v", r.ExporterAddress, agent)
				}
				s := seen{Src: r.SrcAddr, Dst: r.DstAddr, NextHop: r.NextHop, SrcPort: r.SrcPort, DstPort: r.DstPort,
					Proto: r.Proto, Flags: r.TCPFlags, Tos: r.IPTos, SrcMask: r.SrcNetMask, DstMask: r.DstNetMask,
					SrcAS: r.SrcAS, DstAS: r.DstAS, In: r.InIfIndex, Out: r.OutIfIndex, Bytes: r.Bytes, Packets: r.Packets,
					SrcVlan: r.SrcVlan, DstVlan: r.DstVlan, ICMPType: r.ICMPType, ICMPCode: r.ICMPCode, Rate: r.SamplingRate}
				if s.Proto == 1 || s.Proto == 58 {
					s.DstPort = uint16(s.ICMPType)<<8 | uint16(s.ICMPCode)
				}
				got = append(got, s)
			}
			b.Release()
		}
		if diff := cmp.Diff(got, want, addrCmp); diff != "" {
			t.Errorf("flowengine decoded (-got +want):\n%s", diff)
		}
	})
}

func TestInterfaces(t *testing.T) {
	itfs := exporter.Interfaces(20)
	if len(itfs) != 20 || itfs[0].Index != 1 || itfs[19].Index != 20 {
		t.Fatalf("Interfaces(20) = %v", itfs)
	}
	var ext, core int
	for _, i := range itfs {
		if i.External {
			ext++
		} else {
			core++
		}
		if i.Name == "" || i.Description == "" || i.SpeedMbps == 0 {
			t.Errorf("incomplete interface %+v", i)
		}
	}
	if ext == 0 || core == 0 {
		t.Errorf("%d external and %d core interfaces, want some of each", ext, core)
	}
	// Flows only use the interfaces that exist.
	for _, f := range generate(500, exporter.GeneratorOptions{Seed: 1, Interfaces: 3}, time.Now()) {
		if f.InIfIndex < 1 || f.InIfIndex > 3 || f.OutIfIndex < 1 || f.OutIfIndex > 3 {
			t.Fatalf("flow on interfaces %d -> %d, want 1..3", f.InIfIndex, f.OutIfIndex)
		}
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	now := time.Now()
	a := generate(100, exporter.GeneratorOptions{Seed: 42, IPv6Share: 0.3}, now)
	b := generate(100, exporter.GeneratorOptions{Seed: 42, IPv6Share: 0.3}, now)
	if diff := cmp.Diff(a, b, addrCmp); diff != "" {
		t.Errorf("same seed, different flows:\n%s", diff)
	}
	// Heavy hitters: the most common source prefix carries a large share.
	counts := map[netip.Prefix]int{}
	protos := map[uint8]int{}
	v6 := 0
	for _, f := range generate(5000, exporter.GeneratorOptions{Seed: 1, IPv6Share: 0.3}, now) {
		p, _ := f.SrcAddr.Prefix(8)
		counts[p]++
		protos[f.Proto]++
		if f.IsIPv6() {
			v6++
		}
	}
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	if top < 500 || protos[6] == 0 || protos[17] == 0 || protos[1]+protos[58] == 0 || v6 == 0 {
		t.Errorf("mix: top /8 %d flows of 5000, protocols %v, %d IPv6", top, protos, v6)
	}
}

// fakeClock advances only when the limiter sleeps.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return nil
}

func TestLimiterCounts(t *testing.T) {
	for _, rate := range []float64{1000, 1e6} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1e9, 0)}
			l := exporter.NewLimiter(rate)
			l.Now, l.Sleep = clock.Now, clock.Sleep
			start := clock.now
			flows := 0
			const perPacket = 21
			for clock.now.Sub(start) < 10*time.Second {
				if err := l.Wait(context.Background(), perPacket); err != nil {
					t.Fatal(err)
				}
				flows += perPacket
			}
			// In 10 simulated seconds: 10*rate flows, plus the burst allowance
			// and one datagram.
			want := 10 * rate
			burst := rate*l.Burst.Seconds() + 2*perPacket
			if float64(flows) < want || float64(flows) > want+burst {
				t.Errorf("%d flows in 10 simulated seconds at %v/s, want %v to %v", flows, rate, want, want+burst)
			}
		})
	}
}

func TestLimiterNoBurstCatchUp(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	l := exporter.NewLimiter(100)
	l.Now, l.Sleep = clock.Now, clock.Sleep
	l.Wait(context.Background(), 10)
	clock.now = clock.now.Add(time.Hour) // idle for an hour
	start := clock.now
	flows := 0
	for clock.now.Sub(start) < time.Second {
		l.Wait(context.Background(), 10)
		flows += 10
	}
	if flows > 100+10+10 {
		t.Errorf("%d flows in the second after an idle hour at 100/s: the limiter caught up", flows)
	}
}

func TestRunLoopback(t *testing.T) {
	for _, proto := range exporter.Protocols {
		t.Run(proto, func(t *testing.T) {
			port := testenv.FreePort(t, "udp")
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetReadBuffer(4 << 20)
			var mu sync.Mutex
			sources := map[netip.Addr]int{}
			var datagrams int
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 65536)
				for {
					_, from, err := conn.ReadFromUDPAddrPort(buf)
					if err != nil {
						return
					}
					mu.Lock()
					sources[from.Addr().Unmap()]++
					datagrams++
					mu.Unlock()
				}
			}()
			var stats exporter.Stats
			var truth bytes.Buffer
			err = exporter.Run(context.Background(), exporter.Config{
				Collector: conn.LocalAddr().String(), Protocol: proto, Exporters: 3, Count: 600, Rate: 0, Seed: 1, SamplingRate: 10,
				Truth: &truth,
			}, &stats)
			if err != nil {
				t.Fatal(err)
			}
			if stats.Flows.Load() != 600 {
				t.Errorf("sent %d flows, want 600", stats.Flows.Load())
			}
			// The truth holds every flow sent, from its exporter, with the
			// sampling rate announced.
			lines := strings.Split(strings.TrimSuffix(truth.String(), "\n"), "\n")
			if len(lines) != 600 {
				t.Errorf("%d truth lines, want 600", len(lines))
			}
			truthSources := map[string]int{}
			for i, l := range lines {
				var r struct {
					ExporterAddress string
					SamplingRate    uint64
					Bytes, Packets  uint64
				}
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("truth line %d: %v: %s", i+1, err, l)
				}
				if r.SamplingRate != 10 || r.Bytes == 0 || r.Packets == 0 {
					t.Errorf("truth line %d: %s", i+1, l)
				}
				truthSources[r.ExporterAddress]++
			}
			if len(truthSources) != 3 {
				t.Errorf("truth exporters %v, want 3", truthSources)
			}
			// Wait for the datagrams (bounded, not a timing assertion).
			for range 200 {
				mu.Lock()
				n := datagrams
				mu.Unlock()
				if uint64(n) >= stats.Packets.Load() {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			conn.Close()
			<-done
			if uint64(datagrams) != stats.Packets.Load() {
				t.Errorf("received %d datagrams, sent %d", datagrams, stats.Packets.Load())
			}
			for i := range 3 {
				if sources[exporter.ExporterAddress(i)] == 0 {
					t.Errorf("nothing from %v; sources %v", exporter.ExporterAddress(i), sources)
				}
			}
		})
	}
}
