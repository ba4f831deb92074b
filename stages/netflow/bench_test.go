package netflow

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
)

const benchFlows = 26

func benchPackets(b *testing.B, ipfix bool) (tmpl, data []byte) {
	r := rand.New(rand.NewPCG(7, 7))
	tmpl, data, _ = generatedPackets(r, ipfix, false, benchFlows)
	return tmpl, data
}

func benchmarkDecode(b *testing.B, ipfix bool) {
	tp, dp := benchPackets(b, ipfix)
	d := NewDecoder(Config{})
	batch := flow.NewBatch()
	now := time.Now()
	if _, err := d.Decode(tp, testExporter, now, batch); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(dp)))
	b.ResetTimer()
	for b.Loop() {
		batch.Records = batch.Records[:0]
		if n, err := d.Decode(dp, testExporter, now, batch); err != nil || n != benchFlows {
			b.Fatalf("decoded %d flows: %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchFlows), "ns/flow")
}

func benchmarkGoflow(b *testing.B, ipfix bool) {
	tp, dp := benchPackets(b, ipfix)
	ref := newGoflowReference()
	if _, err := ref.decode(tp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(dp)))
	b.ResetTimer()
	for b.Loop() {
		msgs, err := ref.decode(dp)
		if err != nil || len(msgs) != benchFlows {
			b.Fatalf("decoded %d flows: %v", len(msgs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchFlows), "ns/flow")
}

// BenchmarkDecodeV9 decodes a NetFlow v9 packet of 26 flows into a batch.
func BenchmarkDecodeV9(b *testing.B) { benchmarkDecode(b, false) }

// BenchmarkDecodeIPFIX decodes an IPFIX packet of 26 flows into a batch.
func BenchmarkDecodeIPFIX(b *testing.B) { benchmarkDecode(b, true) }

// BenchmarkGoflow2V9 is goflow2's decoder and protobuf producer on the same packet.
func BenchmarkGoflow2V9(b *testing.B) { benchmarkGoflow(b, false) }

// BenchmarkGoflow2IPFIX is goflow2's decoder and protobuf producer on the same packet.
func BenchmarkGoflow2IPFIX(b *testing.B) { benchmarkGoflow(b, true) }

// BenchmarkDecodeV5 decodes a NetFlow v5 packet of 30 flows.
func BenchmarkDecodeV5(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 7))
	var flows []testFlow
	for i := 0; i < 30; i++ {
		flows = append(flows, randomFlow(r, false))
	}
	pkt := v5Packet(1000, 1_700_000_000, 0, 0, 100, flows)
	d := NewDecoder(Config{})
	batch := flow.NewBatch()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		batch.Records = batch.Records[:0]
		if n, err := d.Decode(pkt, testExporter, now, batch); err != nil || n != 30 {
			b.Fatalf("decoded %d flows: %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*30), "ns/flow")
}
