package sflow

import (
	"bytes"
	"testing"

	gfsflow "github.com/netsampler/goflow2/v2/decoders/sflow"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	"github.com/flowengine/flowengine/flow"
)

// benchDatagram is a typical switch datagram: 7 flow samples with raw
// headers and extended switch/router/gateway records, one counter sample.
func benchDatagram() ([]byte, int) {
	tcp4 := ether(macB, macA, 100, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, 0x28, 61, 1500, tcp(443, 51000, 0x18)))
	udp6 := ether(macB, macA, 0, 0x86dd, ipv6("2001:db8::1", "2a00::2", 17, 0xb8, 57, 1200, udp(53, 33333, 1200)))
	var samples [][]byte
	for i := range 7 {
		h := tcp4
		if i%3 == 2 {
			h = udp6
		}
		samples = append(samples, flowSample(1000, 3, 5, rawHeader(1, 1518, h), extSwitch(10, 20),
			extRouter(a("192.0.2.254"), 24, 16), extGateway(a("203.0.113.1"), 64500, 64501, 64502, 64502, 3356, 15169)))
	}
	samples = append(samples, counterSample())
	return datagram(testAgent, samples...), 7
}

func BenchmarkDecode(b *testing.B) {
	d, flows := benchDatagram()
	var dec Decoder
	batch := flow.NewBatch()
	defer batch.Release()
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if batch.Len()+MaxFlows(len(d)) > cap(batch.Records) {
			batch.Records = batch.Records[:0]
		}
		if _, err := dec.Decode(d, testSrc, testNow, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*flows), "ns/flow")
}

// BenchmarkGoflow2 decodes the same datagram with goflow2's decoder and
// producer, for comparison.
func BenchmarkGoflow2(b *testing.B) {
	d, flows := benchDatagram()
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var p gfsflow.Packet
		if err := gfsflow.DecodeMessageVersion(bytes.NewBuffer(d), &p); err != nil {
			b.Fatal(err)
		}
		msgs, err := protoproducer.ProcessMessageSFlowConfig(&p, nil)
		if err != nil || len(msgs) != flows {
			b.Fatal(err, len(msgs))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*flows), "ns/flow")
}
