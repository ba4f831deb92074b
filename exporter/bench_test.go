package exporter_test

import (
	"testing"
	"time"

	"github.com/flowengine/flowengine/exporter"
)

// BenchmarkEncode measures packet building: generating flows and packing
// them into datagrams, per protocol.
func BenchmarkEncode(b *testing.B) {
	for _, proto := range exporter.Protocols {
		b.Run(proto, func(b *testing.B) {
			now := time.Now()
			gen := exporter.NewGenerator(exporter.GeneratorOptions{Seed: 1, Interfaces: 8, IPv6Share: 0.3, PerPacket: proto == exporter.SFlow})
			enc, err := exporter.NewEncoder(proto, exporter.EncoderOptions{SourceID: 1, SamplingRate: 100})
			if err != nil {
				b.Fatal(err)
			}
			flows := make([]exporter.Flow, 64)
			buf := make([]byte, 0, 65536)
			var n int
			b.ReportAllocs()
			b.ResetTimer()
			for n < b.N {
				for i := range flows {
					gen.Next(now, &flows[i])
				}
				for pending := flows; len(pending) > 0; {
					_, k := enc.Encode(buf[:0], now, pending)
					pending = pending[k:]
				}
				n += len(flows)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/flow")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
		})
	}
}
