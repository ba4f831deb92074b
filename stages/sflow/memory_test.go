package sflow

import (
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

var cleanAgent = netip.MustParseAddr("192.0.2.200")

// cleanStream is the stream sent after a hostile sequence: datagrams of
// cleanAgent with 7 flow samples each, numbered in sequence.
func cleanStream() [][]byte {
	d, _ := benchDatagram()
	var pkts [][]byte
	for i := uint32(0); i < 20; i++ {
		p := append([]byte(nil), d...)
		copy(p[4:], xdr{}.addr(cleanAgent))
		copy(p[16:], xdr{}.u32(0, 1000+i)) // sub-agent, sequence number
		pkts = append(pkts, p)
	}
	return pkts
}

type flowKey struct {
	src, dst       netip.Addr
	sport, dport   uint16
	bytes, packets uint64
	in, out        uint32
}

func keyOf(r *flow.Record) flowKey {
	return flowKey{r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort, r.Bytes, r.Packets, r.InIfIndex, r.OutIfIndex}
}

// TestHostileChild runs an sflow source with default settings for
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
	src, diags := New(cfg, engine.Env{ID: engine.ID{Kind: engine.KindSource, Type: "sflow", Name: "hostile"}, Metrics: reg})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// What the clean stream must give, from the decoder itself.
	left := map[flowKey]int{}
	for _, p := range cleanStream() {
		b := flow.NewBatch()
		if _, err := (&Decoder{}).Decode(p, testSrc, testNow, b); err != nil {
			t.Fatal(err)
		}
		for i := range b.Records {
			left[keyOf(&b.Records[i])]++
		}
		b.Release()
	}
	hostiletest.ServeChild(t, src, src.Addr, reg, cleanAgent, left, keyOf)
}

var hostileSequences = []hostiletest.Sequence{
	{Name: "clean stream only", Send: func(s *hostiletest.Sender) error { return nil }},
	{Name: "agents flood", Send: func(s *hostiletest.Sender) error {
		// 300,000 agent and sub-agent pairs, from 64 source addresses:
		// sequence tracking and exporter series fill.
		for i := 0; i < 300000; i++ {
			agent := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			from := netip.AddrFrom4([4]byte{127, 6, 0, byte(i % 64)})
			if err := s.Send(from, datagramSeq(agent, uint32(i), uint32(i)), true); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "sequence chaos", Send: func(s *hostiletest.Sender) error {
		// One agent's sub-agents jumping back and forth.
		agent := netip.MustParseAddr("192.0.2.1")
		for i := uint32(0); i < 100000; i++ {
			if err := s.Send(netip.MustParseAddr("127.6.1.1"), datagramSeq(agent, i%16, i*2654435761), true); err != nil {
				return err
			}
		}
		return nil
	}},
}

// TestHostilePeakMemory sends each hostile sequence to an sflow source with
// default settings running in a child process, then a clean stream: the
// source stays up, its peak resident memory stays under 256 MiB, and the
// clean stream is delivered exactly.
func TestHostilePeakMemory(t *testing.T) {
	clean := cleanStream()
	hostiletest.PeakMemory(t, "TestHostileChild", hostileSequences, netip.MustParseAddr("127.0.0.1"), clean, peakLimit)
}
