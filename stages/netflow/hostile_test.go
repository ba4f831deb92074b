package netflow

import (
	"runtime"
	"testing"

	"github.com/flowengine/flowengine/flow"
)

// allocBytes returns the bytes f allocates (averaged over runs).
func allocBytes(runs int, f func()) uint64 {
	var before, after runtime.MemStats
	f()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// TestTemplateAnnouncingManyFields sends template records that announce
// 65,535 fields but hold one: the decoder must allocate for what the set
// holds, not for what the record claims.
func TestTemplateAnnouncingManyFields(t *testing.T) {
	rec := cat(u16(300), u16(65535), u16(ieOctetDeltaCount), u16(4))
	pkts := [][]byte{
		v9Packet(1, 1, 1, 0, set(0, rec)),
		ipfixPacket(1, 1, 0, set(2, rec)),
		ipfixPacket(1, 1, 0, set(3, cat(u16(300), u16(65535), u16(1), u16(ieOctetDeltaCount), u16(4)))),
	}
	d := NewDecoder(Config{})
	b := flow.NewBatch()
	defer b.Release()
	for _, p := range pkts {
		if _, err := d.Decode(p, testExporter, testNow, b); err != ErrTruncated {
			t.Errorf("decode: %v, want %v", err, ErrTruncated)
		}
		if n := allocBytes(20, func() { d.Decode(p, testExporter, testNow, b) }); n > 4096 {
			t.Errorf("a %d-byte packet announcing 65535 fields allocates %d bytes", len(p), n)
		}
	}
}
