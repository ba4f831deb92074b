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
