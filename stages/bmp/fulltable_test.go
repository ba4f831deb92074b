package bmp

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/flowengine/flowengine/flow"
)

// table generates a routing table: v4 IPv4 prefixes (mostly /24, some /23
// and /20) and v6 IPv6 prefixes (/48 and /44), grouped 10 to an update
// sharing one attribute set.
type table struct {
	v4, v6 []netip.Prefix
}

func genTable(v4, v6 int) table {
	var t table
	for i := range v4 {
		a := uint32(0x01000000) + uint32(i)*13*256%(222<<24)
		bits := 24
		switch {
		case i%64 == 0:
			bits = 20
		case i%16 == 0:
			bits = 23
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], a)
		t.v4 = append(t.v4, netip.PrefixFrom(netip.AddrFrom4(b), bits).Masked())
	}
	for i := range v6 {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], 0x2a00000000000000+uint64(i)*7919<<16)
		bits := 48
		if i%8 == 0 {
			bits = 44
		}
		t.v6 = append(t.v6, netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked())
	}
	return t
}

// feed sends the whole table from one peer, as a router would.
func (t table) feed(c *testClient, p testPeer, peerAS uint32, nextHop4, nextHop6 string) {
	c.peerUp(p)
	send := func(prefixes []netip.Prefix, nh string) {
		for g := 0; g*10 < len(prefixes); g++ {
			asPath := []uint32{peerAS, 3356 + uint32(g%50), 10000 + uint32(g%5000)}
			comms := []uint32{peerAS<<16 | uint32(g%100), 65000<<16 | uint32(g%7)}
			lcomms := []LargeCommunity{{ASN: peerAS, Local1: uint32(g % 10), Local2: 0}}
			c.announce(p, nh, asPath, comms, lcomms, prefixes[g*10:min(len(prefixes), g*10+10)]...)
		}
	}
	send(t.v4, nextHop4)
	send(t.v6, nextHop6)
	c.send(bmp.NewBMPRouteMonitoring(p.hdr, endOfRIB()))
	c.flush()
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// loadTable starts a station and loads tb from peers peers of one router
// over BMP. It returns the enricher, the heap the RIB takes, and the time
// the load took.
func loadTable(tb testing.TB, tab table, peers int) (*Enricher, uint64, time.Duration) {
	e, _ := newTestEnricher(tb, "")
	before := heapInUse()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range peers {
		c := dialStation(tb, e.Addr(), "127.0.0.1")
		p := newTestPeer("198.51.100."+strconv.Itoa(i+1), uint32(64501+i), false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tab.feed(c, p, uint32(64501+i), "198.51.100."+strconv.Itoa(i+1), "2001:db8::"+strconv.Itoa(i+1))
		}()
	}
	wg.Wait()
	want := peers * (len(tab.v4) + len(tab.v6))
	waitFor(tb, 10*time.Minute, "full table", func() bool { return e.RIB().Stats().Paths >= want })
	elapsed := time.Since(start)
	return e, heapInUse() - before, elapsed
}

// TestFullTable loads a generated full table (by default 1,000,000 IPv4 and
// 200,000 IPv6 prefixes from each of 4 peers; BMP_TABLE_V4/V6 change the
// sizes) and reports memory and load time. It runs with -run TestFullTable
// when BMP_FULL_TABLE is set (make bench-bmp).
func TestFullTable(t *testing.T) {
	if os.Getenv("BMP_FULL_TABLE") == "" {
		t.Skip("set BMP_FULL_TABLE=1 to load a full table (about 1 GB, a minute)")
	}
	v4, v6 := envInt("BMP_TABLE_V4", 1_000_000), envInt("BMP_TABLE_V6", 200_000)
	tab := genTable(v4, v6)
	e, heap, took := loadTable(t, tab, 4)
	st := e.RIB().Stats()
	t.Logf("table: %d IPv4 + %d IPv6 prefixes x 4 peers = %d paths; %d prefixes, %d attribute sets, %d AS paths, %d community sets",
		v4, v6, st.Paths, st.Prefixes, st.AttrSets, st.ASPaths, st.CommunitySets)
	t.Logf("load: %s (%.0f routes/s); RIB heap %.1f MiB, %.1f bytes/route", took.Round(time.Millisecond),
		float64(st.Paths)/took.Seconds(), float64(heap)/(1<<20), float64(heap)/float64(st.Paths))
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmHWM:") || strings.HasPrefix(l, "VmRSS:") {
				t.Logf("process (station and the generating client): %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
	if heap > 1<<30 {
		t.Errorf("RIB heap %d bytes, over 1 GiB", heap)
	}
	res := testing.Benchmark(func(b *testing.B) { benchProcess(b, e, tab) })
	t.Logf("Process with the full table: %.1f ns/flow (wall), %.1f cpu-ns/flow, %d allocs/op", float64(res.NsPerOp())/256,
		res.Extra["cpu-ns/flow"], res.AllocsPerOp())
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// flowsFor returns a batch of flows to and from random addresses of tab.
func flowsFor(tab table, n int) []flow.Record {
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func() netip.Addr {
		var p netip.Prefix
		if rng.IntN(6) == 0 {
			p = tab.v6[rng.IntN(len(tab.v6))]
			b := p.Addr().As16()
			b[15] = byte(rng.IntN(256))
			return netip.AddrFrom16(b)
		}
		p = tab.v4[rng.IntN(len(tab.v4))]
		b := p.Addr().As4()
		b[3] = byte(rng.IntN(256))
		return netip.AddrFrom4(b)
	}
	recs := make([]flow.Record, n)
	for i := range recs {
		src := pick()
		dst := pick()
		if src.Is4() != dst.Is4() {
			dst = src
		}
		recs[i] = flow.Record{ExporterAddress: netip.MustParseAddr("127.0.0.1"), SrcAddr: src, DstAddr: dst}
		// Most exporters send the next hop: it picks among the peers'
		// routes.
		if dst.Is4() {
			recs[i].NextHop = netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%4)})
		} else {
			recs[i].NextHop = netip.MustParseAddr("2001:db8::" + strconv.Itoa(1+i%4))
		}
	}
	return recs
}

func benchProcess(b *testing.B, e *Enricher, tab table) {
	recs := flowsFor(tab, 256)
	batch := &flow.Batch{Records: make([]flow.Record, len(recs))}
	b.ReportAllocs()
	cpu := startCPUClock()
	b.ResetTimer()
	for range b.N {
		copy(batch.Records, recs)
		if err := e.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/flow")
	b.ReportMetric(float64(cpu())/float64(b.N*len(recs)), "cpu-ns/flow")
}

var benchTable = sync.OnceValues(func() (*Enricher, table) {
	tab := genTable(envInt("BMP_BENCH_V4", 100_000), envInt("BMP_BENCH_V6", 20_000))
	e, _, _ := loadTable(&testing.B{}, tab, 4)
	return e, tab
})

// BenchmarkProcess enriches batches of 256 flows (two lookups each) against
// a table of 100,000 IPv4 and 20,000 IPv6 prefixes from 4 peers
// (BMP_BENCH_V4 and BMP_BENCH_V6 change the sizes).
func BenchmarkProcess(b *testing.B) {
	e, tab := benchTable()
	benchProcess(b, e, tab)
}

// BenchmarkLookup is one longest-prefix lookup of a destination: by the
// walk from the root (lookup, the fallback) and by the direct index
// (lookupFast, the geoip enricher's routing step).
func BenchmarkLookup(b *testing.B) {
	e, tab := benchTable()
	recs := flowsFor(tab, 1024)
	r := e.RIB()
	router := r.routerIDs[netip.MustParseAddr("127.0.0.1")]
	for _, bc := range []struct {
		name   string
		lookup func(addr netip.Addr, router uint32, nextHop netip.Addr) (path, int, bool)
	}{{"walk", r.lookup}, {"direct", r.lookupFast}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPUClock()
			b.ResetTimer()
			n := 0
			for i := range b.N {
				if _, _, ok := bc.lookup(recs[i%len(recs)].DstAddr, router, netip.Addr{}); ok {
					n++
				}
			}
			b.ReportMetric(float64(cpu())/float64(b.N), "cpu-ns/op")
			if n != b.N {
				b.Fatalf("%d of %d found", n, b.N)
			}
		})
	}
}

// startCPUClock locks the goroutine to its thread and returns a function
// that gives the CPU time the thread used since: on a machine shared with
// other work, wall time counts the time the benchmark waited for a core.
func startCPUClock() func() int64 {
	runtime.LockOSThread()
	now := func() int64 {
		var ru syscall.Rusage
		_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	start := now()
	return func() int64 {
		defer runtime.UnlockOSThread()
		return now() - start
	}
}
