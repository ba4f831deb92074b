package netflow

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
)

// FuzzDecode feeds arbitrary packets to the decoder, after a template packet
// so that data sets get decoded too. It must never panic, never append more
// flows than the packet could carry, and keep its held state bounded.
func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, ipfix := range []bool{false, true} {
		for _, v6 := range []bool{false, true} {
			tp, dp, _ := generatedPackets(r, ipfix, v6, 3)
			f.Add(tp)
			f.Add(dp)
			f.Add(cat(tp, dp))
		}
	}
	f.Add(v5Packet(1, 2, 3, 4, 100, []testFlow{randomFlow(r, false)}))
	f.Add(ipfixPacket(1, 1, 0, set(2, tmpl(300, fs{t: 82, l: varLength}, fs{t: 1, l: 4, pen: 9}, fs{t: 8, l: 4})),
		set(300, cat([]byte{255, 0, 2}, []byte("e0"), u32(7), u32(0x0a000001)))))
	f.Add(v9Packet(1, 1, 1, 0, set(1, v9OptTmpl(260, []fs{{t: 1, l: 4}}, []fs{{t: ieSamplerID, l: 1}, {t: ieSamplingInterval, l: 4}})),
		set(260, cat(u32(0), []byte{1}, u32(100)))))
	// Hostile input: a held data set of 65,000 bytes, a template with one
	// 1-byte field, a template record announcing 65,535 fields.
	for _, p := range heldAmplification(1) {
		f.Add(p)
	}
	f.Add(ipfixPacket(1, 1, 0, set(2, cat(u16(300), u16(65535), u16(ieOctetDeltaCount), u16(4)))))
	exporter := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		d := NewDecoder(Config{PendingLimit: 4, MaxTemplates: 8})
		b := flow.NewBatch()
		defer b.Release()
		// Templates from the corpus first, so data sets in pkt can decode.
		for _, ipfix := range []bool{false, true} {
			tp, _, _ := generatedPackets(rand.New(rand.NewPCG(1, 1)), ipfix, false, 1)
			d.Decode(tp, exporter, now, b)
		}
		b.Records = b.Records[:0]
		n, _ := d.Decode(pkt, exporter, now, b)
		if n != b.Len() {
			t.Fatalf("Decode returned %d, batch has %d", n, b.Len())
		}
		if n > len(pkt) {
			t.Fatalf("%d flows from %d bytes", n, len(pkt))
		}
		// Decode it again: templates it brought apply to its own data now.
		d.Decode(pkt, exporter, now, b)
		e := d.exporter(exporter)
		if len(e.pending) > 4 || len(e.templates) > 8 {
			t.Fatalf("state not bounded: %d pending, %d templates", len(e.pending), len(e.templates))
		}
		for i := range b.Records {
			if b.Records[i].ExporterAddress != exporter {
				t.Fatalf("record %d: exporter %v", i, b.Records[i].ExporterAddress)
			}
		}
	})
}

// sequence encodes packets for FuzzSequence: each one is preceded by the
// exporter it comes from (an index) and its length.
func sequence(pkts ...[]byte) []byte {
	var out []byte
	for i, p := range pkts {
		out = append(out, byte(i%3))
		out = append(out, u16(uint16(len(p)))...)
		out = append(out, p...)
	}
	return out
}

// FuzzSequence feeds sequences of packets from three exporters to a decoder
// with small bounds, handing batches on as they fill: whatever comes, the
// batches stay bounded, and so do the held bytes, templates, exporters and
// sequence domains. The seeds are the hostile input sequences.
func FuzzSequence(f *testing.F) {
	f.Add(sequence(heldAmplification(4)...))
	r := rand.New(rand.NewPCG(5, 5))
	tp, dp, _ := generatedPackets(r, true, false, 3)
	tpl := set(2, tmpl(300, fs{t: ieOctetDeltaCount, l: 4}))
	f.Add(sequence(ipfixPacket(1, 0, 1, set(300, make([]byte, 20))), ipfixPacket(1, 5, 1, tpl), ipfixPacket(1, 5, 1, set(300, make([]byte, 12)))))
	f.Add(sequence(ipfixPacket(1, 1, 0, set(2, cat(u16(300), u16(65535), u16(ieOctetDeltaCount), u16(4)))), tp, dp))
	var domains [][]byte
	for i := uint32(0); i < 40; i++ {
		domains = append(domains, v9Packet(1, 1, i, i), ipfixPacket(1, i, i))
	}
	f.Add(sequence(domains...))
	f.Add(sequence(tp, dp, ipfixPacket(1, 0, 7, set(2, u16(256), u16(0))), dp))
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, seq []byte) {
		d := NewDecoder(Config{PendingLimit: 8, PendingBytes: 4000, PendingBytesTotal: 6000, MaxTemplates: 8,
			MaxTemplatesTotal: 12, MaxExporters: 2, MaxDomains: 4, MaxExporterLabels: 1})
		b := flow.NewBatch()
		var handed []*flow.Batch
		flush := func(full *flow.Batch) *flow.Batch {
			handed = append(handed, full)
			return flow.NewBatch()
		}
		total := 0
		for len(seq) >= 3 {
			from := netip.AddrFrom4([4]byte{192, 0, 2, seq[0]})
			n := int(seq[1])<<8 | int(seq[2])
			seq = seq[3:]
			if n > len(seq) {
				n = len(seq)
			}
			got, _ := d.DecodeBatches(seq[:n], from, now, &b, flush)
			total += got
			seq = seq[n:]
			now = now.Add(time.Millisecond)
			if held := d.HeldBytes(); held < 0 || held > 6000 {
				t.Fatalf("%d bytes held", held)
			}
			if n := d.templates.Load(); n < 0 || n > 12 {
				t.Fatalf("%d templates", n)
			}
			d.mu.RLock()
			if len(d.exporters) > 2 {
				t.Fatalf("%d exporters", len(d.exporters))
			}
			for _, e := range d.exporters {
				if len(e.seq) > 4 || len(e.templates) > 8 || len(e.pending) > 8 || e.heldBytes > 4000 {
					t.Fatalf("exporter state: %d domains, %d templates, %d held (%d bytes)", len(e.seq), len(e.templates), len(e.pending), e.heldBytes)
				}
			}
			d.mu.RUnlock()
		}
		sum := b.Len()
		for _, h := range handed {
			if h.Len() > flow.BatchSize {
				t.Fatalf("a batch of %d flows", h.Len())
			}
			sum += h.Len()
			h.Release()
		}
		b.Release()
		if sum != total {
			t.Fatalf("decoders said %d flows, batches hold %d", total, sum)
		}
	})
}
