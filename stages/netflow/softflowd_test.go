package netflow

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

// pcapPacket is one packet of a hand-written capture.
type pcapPacket struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	payload      int // bytes of L4 payload
	tcpFlags     uint8
}

// l3Len is the IP total length of the packet (what NetFlow counts in bytes).
func (p pcapPacket) l3Len() int {
	l4 := 8
	if p.proto == 6 {
		l4 = 20
	}
	if p.src.Is4() {
		return 20 + l4 + p.payload
	}
	return 40 + l4 + p.payload
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// frame builds the Ethernet frame of p.
func (p pcapPacket) frame() []byte {
	var l4 []byte
	if p.proto == 6 {
		l4 = cat(u16(p.sport), u16(p.dport), u32(1), u32(0), []byte{5 << 4, p.tcpFlags}, u16(65535), u16(0), u16(0))
	} else {
		l4 = cat(u16(p.sport), u16(p.dport), u16(uint16(8+p.payload)), u16(0))
	}
	l4 = append(l4, make([]byte, p.payload)...)
	var ip []byte
	etype := uint16(0x0800)
	if p.src.Is4() {
		ip = cat([]byte{0x45, 0}, u16(uint16(p.l3Len())), u16(1), u16(0x4000), []byte{64, p.proto}, u16(0),
			p.src.AsSlice(), p.dst.AsSlice())
		binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	} else {
		etype = 0x86dd
		ip = cat(u32(6<<28), u16(uint16(len(l4))), []byte{p.proto, 64}, p.src.AsSlice(), p.dst.AsSlice())
	}
	return cat([]byte{0, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10}, u16(etype), ip, l4)
}

// writePcap writes packets as a pcap file (Ethernet link type), one second apart.
func writePcap(t *testing.T, path string, pkts []pcapPacket) {
	t.Helper()
	out := cat(u32le(0xa1b2c3d4), u16le(2), u16le(4), u32le(0), u32le(0), u32le(65535), u32le(1))
	for i, p := range pkts {
		f := p.frame()
		out = cat(out, u32le(uint32(1_700_000_000+i)), u32le(0), u32le(uint32(len(f))), u32le(uint32(len(f))), f)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func u16le(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func u32le(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

type fiveTuple struct {
	Src, Dst     string
	Proto        uint8
	SPort, DPort uint16
}

type counts struct{ Packets, Bytes uint64 }

// startSource runs a netflow source on a free port and collects its flows.
func startSource(t *testing.T, hcl string) (addr string, flows func() []flow.Record, stop func()) {
	t.Helper()
	cfg, diags := dsl.DecodeString(hcl, Spec)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	st, diags := New(cfg, engine.Env{ID: engine.ID{Kind: engine.KindSource, Type: "netflow", Name: "test"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	src := st
	var mu sync.Mutex
	var got []flow.Record
	out := engine.OutputFunc(func(ctx context.Context, b *flow.Batch) bool {
		mu.Lock()
		got = append(got, b.Records...)
		mu.Unlock()
		b.Release()
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	a := src.LocalAddr(wctx)
	if a == nil {
		cancel()
		t.Fatalf("source did not start: %v", <-done)
	}
	return a.String(), func() []flow.Record {
			mu.Lock()
			defer mu.Unlock()
			return append([]flow.Record(nil), got...)
		}, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("source: %v", err)
			}
		}
}

// softflowdCapture is the traffic of the softflowd test: IPv4 and IPv6, TCP and UDP.
func softflowdCapture() []pcapPacket {
	a := netip.MustParseAddr
	var pkts []pcapPacket
	add := func(n int, p pcapPacket) {
		for i := 0; i < n; i++ {
			q := p
			q.payload = p.payload + 10*i
			q.tcpFlags = p.tcpFlags
			if p.proto == 6 {
				q.tcpFlags = 0x10 // ACK
				if i == 0 {
					q.tcpFlags = 0x02 // SYN
				}
			}
			pkts = append(pkts, q)
		}
	}
	add(3, pcapPacket{src: a("192.0.2.1"), dst: a("198.51.100.1"), proto: 6, sport: 40000, dport: 443, payload: 100})
	add(2, pcapPacket{src: a("192.0.2.2"), dst: a("198.51.100.2"), proto: 17, sport: 5353, dport: 53, payload: 40})
	add(4, pcapPacket{src: a("192.0.2.3"), dst: a("198.51.100.3"), proto: 17, sport: 1000, dport: 2000, payload: 500})
	add(3, pcapPacket{src: a("2001:db8::1"), dst: a("2001:db8:1::1"), proto: 6, sport: 41000, dport: 80, payload: 200})
	add(2, pcapPacket{src: a("2001:db8::2"), dst: a("2001:db8:1::2"), proto: 17, sport: 123, dport: 123, payload: 48})
	return pkts
}

// TestSoftflowd exports a capture with Debian's softflowd in NetFlow v5, v9
// and IPFIX and checks the collected flows match the capture exactly.
func TestSoftflowd(t *testing.T) {
	softflowd := testenv.LookPath(t, "softflowd", "softflowd")
	a := netip.MustParseAddr
	pkts := softflowdCapture()
	pcap := filepath.Join(t.TempDir(), "capture.pcap")
	writePcap(t, pcap, pkts)

	for _, version := range []string{"5", "9", "10"} {
		t.Run("v"+version, func(t *testing.T) {
			want := map[fiveTuple]counts{}
			for _, p := range pkts {
				if version == "5" && !p.src.Is4() {
					continue
				}
				k := fiveTuple{p.src.String(), p.dst.String(), p.proto, p.sport, p.dport}
				c := want[k]
				c.Packets++
				c.Bytes += uint64(p.l3Len())
				want[k] = c
			}
			addr, flows, stop := startSource(t, `listen = "127.0.0.1:0"
sockets = 1
state_file = ""`)
			defer stop()
			dir := t.TempDir()
			// -c none: no control socket. softflowd 1.1.0 with -r and a control
			// socket path longer than a dozen bytes never sees the end of the file.
			cmd := exec.Command(softflowd, "-r", pcap, "-n", addr, "-v", version, "-d", "-6",
				"-c", "none", "-p", filepath.Join(dir, "pid"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("softflowd: %v\n%s", err, out)
			}
			var got map[fiveTuple]counts
			deadline := time.Now().Add(10 * time.Second)
			for {
				got = map[fiveTuple]counts{}
				for _, r := range flows() {
					k := fiveTuple{r.SrcAddr.String(), r.DstAddr.String(), r.Proto, r.SrcPort, r.DstPort}
					c := got[k]
					c.Packets += r.Packets
					c.Bytes += r.Bytes
					got[k] = c
					if r.ExporterAddress != a("127.0.0.1") {
						t.Errorf("exporter address %v", r.ExporterAddress)
					}
					wantEType := flow.ETypeIPv4
					if r.SrcAddr.Is6() {
						wantEType = flow.ETypeIPv6
					}
					if r.EType != wantEType {
						t.Errorf("%v: EType %#x", k, r.EType)
					}
					if r.TimeFlowStart.IsZero() || r.TimeFlowEnd.Before(r.TimeFlowStart) {
						t.Errorf("%v: flow times %v - %v", k, r.TimeFlowStart, r.TimeFlowEnd)
					}
				}
				if cmp.Equal(got, want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("flows per 5-tuple (-got +want):\n%s\n%s", diff, dump(flows()))
			}
		})
	}
}

func dump(rs []flow.Record) string {
	var lines []string
	for _, r := range rs {
		lines = append(lines, fmt.Sprintf("%v:%d > %v:%d proto %d pkts %d bytes %d", r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.Proto, r.Packets, r.Bytes))
	}
	sort.Strings(lines)
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}
