package netflow

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/hostiletest"
)

// peakLimit is the peak memory (resident set) a source with default
// settings must stay under whatever it receives.
const peakLimit = 256 << 20

// cleanExporter sends the clean stream after the hostile sequences.
var cleanExporter = netip.MustParseAddr("127.0.0.1")

// cleanStream is the stream sent after a hostile sequence and the flows it
// carries: a v9 template (IPv4) and an IPFIX one (IPv6), then data.
func cleanStream() (pkts [][]byte, flows []testFlow) {
	for i, ipfix := range []bool{false, true} {
		r := rand.New(rand.NewPCG(uint64(i), 42))
		for j := 0; j < 5; j++ {
			tp, dp, fl := generatedPackets(r, ipfix, ipfix, 20)
			if j == 0 {
				pkts = append(pkts, tp)
			}
			pkts = append(pkts, dp)
			flows = append(flows, fl...)
		}
	}
	return pkts, flows
}

type flowKey struct {
	src, dst       netip.Addr
	sport, dport   uint16
	bytes, packets uint64
}

// TestHostileChild runs a netflow source with default settings for
// TestHostilePeakMemory, in a process of its own.
func TestHostileChild(t *testing.T) {
	if !hostiletest.IsChild() {
		t.Skip("run by TestHostilePeakMemory")
	}
	cfg, diags := dsl.DecodeString(`listen = "127.0.0.1:0"`, Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	reg := prometheus.NewRegistry()
	src, diags := New(cfg, engine.Env{ID: engine.ID{Kind: engine.KindSource, Type: "netflow", Name: "hostile"}, Metrics: reg})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, want := cleanStream()
	left := map[flowKey]int{}
	for _, f := range want {
		left[flowKey{f.src, f.dst, f.sport, f.dport, f.bytes, f.packets}]++
	}
	addr := func(ctx context.Context) (net.Addr, error) {
		if a := src.LocalAddr(ctx); a != nil {
			return a, nil
		}
		return nil, errors.New("the source did not bind")
	}
	hostiletest.ServeChild(t, src, addr, reg, cleanExporter, left, func(r *flow.Record) flowKey {
		return flowKey{r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort, r.Bytes, r.Packets}
	})
}

func loopback(a, b, c byte) netip.Addr { return netip.AddrFrom4([4]byte{127, a, b, c}) }

// hostileSequences are the sequences of the hostile input items, each sent
// to a fresh source.
var hostileSequences = []hostiletest.Sequence{
	{Name: "clean stream only", Send: func(s *hostiletest.Sender) error { return nil }},
	{Name: "held data amplification", Send: func(s *hostiletest.Sender) error {
		// 80 exporters hold 16 data sets of 64,000 bytes each, more than
		// pending_bytes per exporter and pending_bytes_total; then 8 send a
		// template with one 1-byte field: a flow per byte held.
		body := make([]byte, 64000)
		for x := 0; x < 80; x++ {
			for i := 0; i < 16; i++ {
				if err := s.Send(loopback(1, 0, byte(x)), v9Packet(1, 1_700_000_000, uint32(i), 0, set(300, body)), true); err != nil {
					return err
				}
			}
		}
		for x := 0; x < 8; x++ {
			if err := s.Send(loopback(1, 0, byte(x)), heldAmplification(0)[0], true); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "sequence domains", Send: func(s *hostiletest.Sender) error {
		// 100,000 observation domains from one exporter.
		for i := uint32(0); i < 50000; i++ {
			if err := s.Send(loopback(2, 0, 1), v9Packet(1, 1, i, i), true); err != nil {
				return err
			}
			if err := s.Send(loopback(2, 0, 1), ipfixPacket(1, i, i), true); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "exporter table flood", Send: func(s *hostiletest.Sender) error {
		// 70,000 spoofed exporters, each with a v9 and an IPFIX template
		// and a held data set: the table, the series and the state fill.
		tv9, _, _ := generatedPackets(rand.New(rand.NewPCG(1, 1)), false, false, 1)
		tfix, _, _ := generatedPackets(rand.New(rand.NewPCG(1, 1)), true, true, 1)
		held := v9Packet(1, 1, 2, 0, set(400, make([]byte, 1000)))
		for i := 0; i < 70000; i++ {
			from := loopback(3, byte(i>>8), byte(i))
			for _, p := range [][]byte{tv9, tfix, held} {
				if err := s.Send(from, p, false); err != nil {
					return err
				}
			}
		}
		return nil
	}},
	{Name: "IPFIX data before template", Send: func(s *hostiletest.Sender) error {
		tp := set(2, tmpl(300, fs{t: ieOctetDeltaCount, l: 4}))
		for x := 0; x < 200; x++ {
			from := loopback(4, 0, byte(x))
			for _, p := range [][]byte{ipfixPacket(1, 0, 1, set(300, make([]byte, 400))), ipfixPacket(1, 100, 1, tp),
				ipfixPacket(1, 100, 1, set(300, make([]byte, 400)))} {
				if err := s.Send(from, p, true); err != nil {
					return err
				}
			}
		}
		return nil
	}},
	{Name: "templates announcing 65535 fields", Send: func(s *hostiletest.Sender) error {
		var sets []byte
		for len(sets) < 1400 {
			sets = cat(sets, set(2, cat(u16(300), u16(65535), u16(ieOctetDeltaCount), u16(4))))
		}
		pkt := ipfixPacket(1, 1, 0, sets)
		for i := 0; i < 20000; i++ {
			if err := s.Send(loopback(5, 0, byte(i)), pkt, true); err != nil {
				return err
			}
		}
		return nil
	}},
}

// TestHostilePeakMemory sends each hostile sequence to a netflow source with
// default settings running in a child process, then a clean stream: the
// source stays up, its peak resident memory stays under 256 MiB, and the
// clean stream is delivered exactly.
func TestHostilePeakMemory(t *testing.T) {
	clean, _ := cleanStream()
	hostiletest.PeakMemory(t, "TestHostileChild", hostileSequences, cleanExporter, clean, peakLimit)
}
