package rollup

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

func filled() flow.Record {
	var r flow.Record
	for i, c := range flow.Columns {
		a := flow.Access(c.Name)
		switch {
		case a.SetTime != nil:
			a.SetTime(&r, time.Unix(1700000000+int64(i), 0).UTC())
		case a.SetUint != nil:
			a.SetUint(&r, uint64(i%2+1))
		case a.SetString != nil:
			a.SetString(&r, c.Name)
		case a.SetAddr != nil:
			a.SetAddr(&r, netip.MustParseAddr("2001:db8::1"))
		case a.SetUint32s != nil:
			a.SetUint32s(&r, flow.MakeUint32s([]uint32{uint32(i), 2}))
		case a.SetLargeCommunities != nil:
			a.SetLargeCommunities(&r, flow.MakeLargeCommunities([]flow.LargeCommunity{{ASN: uint32(i), Local1: 1, Local2: 2}}))
		}
	}
	return r
}

func TestCopyDimensions(t *testing.T) {
	src := filled()
	var dst flow.Record
	copyDimensions(&dst, &src)
	for _, c := range flow.Columns {
		a := flow.Access(c.Name)
		var zero bool
		switch {
		case a.Time != nil:
			zero = a.Time(&dst).IsZero()
		case a.Uint != nil:
			zero = a.Uint(&dst) == 0
		case a.String != nil:
			zero = a.String(&dst) == ""
		case a.Addr != nil:
			zero = !a.Addr(&dst).IsValid()
		case a.Uint32s != nil:
			zero = a.Uint32s(&dst).Len() == 0
		case a.LargeCommunities != nil:
			zero = a.LargeCommunities(&dst).Len() == 0
		}
		keep := store.InRollups(c.Name) && c.Name != "TimeReceived" && c.Name != "Bytes" && c.Name != "Packets"
		if keep == zero {
			t.Errorf("%s: kept %v, want %v", c.Name, !zero, keep)
		}
	}
}

func TestAggregate(t *testing.T) {
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var recs []flow.Record
	var wantBytes, wantPackets, wantFlows uint64
	for i := 0; i < 1000; i++ {
		r := flow.Record{
			TimeReceived: base.Add(time.Duration(i) * 7 * time.Second),
			SamplingRate: uint64(1 + i%3*99),
			SrcAS:        uint32(64500 + i%4),
			SrcAddr:      netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}),
			Bytes:        uint64(100 + i),
			Packets:      uint64(1 + i%5),
		}
		wantBytes += r.Bytes * r.SamplingRate
		wantPackets += r.Packets * r.SamplingRate
		wantFlows += r.SamplingRate
		recs = append(recs, r)
	}
	s := NewSet(time.Minute, 5*time.Minute, time.Hour)
	s.Add(recs[:400])
	s.Add(recs[400:])
	s.Finish()
	for _, a := range s.Aggs {
		var b, p, f uint64
		seen := map[time.Time]map[uint32]bool{}
		for _, r := range a.Rows() {
			b += r.Key.Bytes
			p += r.Key.Packets
			f += r.Flows
			if r.Key.TimeReceived.Unix()%int64(a.Interval()/time.Second) != 0 {
				t.Errorf("%s: time %s not aligned", a.Interval(), r.Key.TimeReceived)
			}
			if seen[r.Key.TimeReceived] == nil {
				seen[r.Key.TimeReceived] = map[uint32]bool{}
			}
			if seen[r.Key.TimeReceived][r.Key.SrcAS] {
				t.Errorf("%s: duplicate row %s AS%d", a.Interval(), r.Key.TimeReceived, r.Key.SrcAS)
			}
			seen[r.Key.TimeReceived][r.Key.SrcAS] = true
			if r.Key.SrcAddr.IsValid() {
				t.Errorf("SrcAddr kept in a rollup")
			}
		}
		if b != wantBytes || p != wantPackets || f != wantFlows {
			t.Errorf("%s: sums %d/%d/%d, want %d/%d/%d", a.Interval(), b, p, f, wantBytes, wantPackets, wantFlows)
		}
	}
	// 7000 s of flows: 117 minutes, 24 five-minute intervals, 2 hours (base is on the hour); 4 ASes each.
	if n := s.Aggs[2].Len(); n != 8 {
		t.Errorf("1h rows: %d, want 8", n)
	}
	s.Reset()
	if s.Aggs[0].Len() != 0 {
		t.Error("Reset kept rows")
	}
}

func BenchmarkAggregate(b *testing.B) {
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	recs := make([]flow.Record, 1024)
	for i := range recs {
		recs[i] = filled()
		recs[i].TimeReceived = base.Add(time.Duration(i) * 10 * time.Millisecond)
		recs[i].SrcAS = uint32(i % 50)
		recs[i].InIfName = []string{"et0", "et1", "et2", "et3"}[i%4]
	}
	s := NewSet(time.Minute, 5*time.Minute, time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Add(recs)
		s.Finish()
		s.Reset()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/flow")
}

// TestDimensionFields checks that hashDims and sameDims read exactly the
// dimension columns of rollups: changing one of them makes another row,
// changing any other column does not.
func TestDimensionFields(t *testing.T) {
	base := filled()
	for _, c := range flow.Columns {
		if c.Name == "TimeReceived" || c.Name == "Bytes" || c.Name == "Packets" {
			continue
		}
		r := base
		a := flow.Access(c.Name)
		switch {
		case a.SetTime != nil:
			a.SetTime(&r, a.Time(&r).Add(time.Hour))
		case a.SetUint != nil:
			a.SetUint(&r, a.Uint(&r)^1)
		case a.SetString != nil:
			a.SetString(&r, a.String(&r)+"x")
		case a.SetAddr != nil:
			a.SetAddr(&r, a.Addr(&r).Next())
		case a.SetUint32s != nil:
			a.SetUint32s(&r, flow.MakeUint32s([]uint32{7}))
		case a.SetLargeCommunities != nil:
			a.SetLargeCommunities(&r, flow.LargeCommunities{})
		}
		keep := store.InRollups(c.Name)
		if same := sameDims(&base, &r); same == keep {
			t.Errorf("%s: sameDims %v after a change, in rollups %v", c.Name, same, keep)
		}
		if differ := hashDims(&base, 0, &strCache{}) != hashDims(&r, 0, &strCache{}); differ != keep {
			t.Errorf("%s: hash changed %v, in rollups %v", c.Name, differ, keep)
		}
	}
}
