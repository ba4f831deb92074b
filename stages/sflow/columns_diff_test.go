package sflow

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	gfsflow "github.com/netsampler/goflow2/v2/decoders/sflow"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"

	feexporter "github.com/flowengine/flowengine/exporter"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/goflowref"
	"github.com/flowengine/flowengine/internal/testenv"
)

// compareDatagrams decodes datagrams with this decoder and with goflow2,
// compares every column of every flow, and checks that the columns that
// differ are exactly the keys of known (column → why the difference is kept).
func compareDatagrams(t *testing.T, dgrams [][]byte, known map[string]string) {
	t.Helper()
	seen := map[string]string{}
	total := 0
	b := flow.NewBatch()
	defer b.Release()
	var dec Decoder
	for p, d := range dgrams {
		var gp gfsflow.Packet
		if err := gfsflow.DecodeMessageVersion(bytes.NewBuffer(d), &gp); err != nil {
			t.Fatalf("datagram %d: goflow2: %v", p, err)
		}
		msgs, err := protoproducer.ProcessMessageSFlowConfig(&gp, nil)
		if err != nil {
			t.Fatalf("datagram %d: goflow2 producer: %v", p, err)
		}
		b.Records = b.Records[:0]
		if _, err := dec.Decode(d, testSrc, testNow, b); err != nil {
			t.Fatalf("datagram %d: %v", p, err)
		}
		if err := goflowref.Diff(seen, fmt.Sprintf("datagram %d", p), b.Records, msgs, netip.Addr{}, testNow); err != nil {
			t.Fatal(err)
		}

		total += len(b.Records)
	}
	if total == 0 {
		t.Fatal("no flows compared")
	}
	var unexpected, missing, kept []string
	for col, ex := range seen {
		if _, ok := known[col]; !ok {
			unexpected = append(unexpected, col+" ("+ex+")")
		}
	}
	for col := range known {
		if _, ok := seen[col]; !ok {
			missing = append(missing, col)
		}
		kept = append(kept, col)
	}
	sort.Strings(unexpected)
	sort.Strings(missing)
	sort.Strings(kept)
	if len(unexpected) > 0 {
		t.Errorf("columns differing from goflow2 (flowengine vs goflow2), not in the known list:\n  %s", strings.Join(unexpected, "\n  "))
	}
	if len(missing) > 0 {
		t.Errorf("known differences that no longer occur (remove them): %v", missing)
	}
	t.Logf("%d flows, %d columns compared, known differences: %v", total, len(flow.Columns), kept)
}

// exporterDatagrams encodes synthetic flows (MACs, VLANs, IPv4 and IPv6)
// with flowengine exporter's sFlow encoder.
func exporterDatagrams(t *testing.T, v6share float64, rate uint32) [][]byte {
	t.Helper()
	now := testNow.Add(-time.Second)
	g := feexporter.NewGenerator(feexporter.GeneratorOptions{Seed: 13, Interfaces: 16, IPv6Share: v6share, PerPacket: true})
	flows := make([]feexporter.Flow, 200)
	for i := range flows {
		g.Next(now, &flows[i])
	}
	enc := feexporter.NewSFlow(feexporter.EncoderOptions{Agent: testAgent, SourceID: 2, SamplingRate: rate, Boot: now.Add(-time.Hour)})
	var out [][]byte
	for len(flows) > 0 {
		pkt, n := enc.Encode(nil, now, flows)
		if n == 0 {
			t.Fatal("Encode took no flow")
		}
		flows = flows[n:]
		out = append(out, pkt)
	}
	return out
}

// sampledIP is a sampled IPv4 (format 3) or IPv6 (format 4) record.
func sampledIP(length, proto uint32, src, dst string, sport, dport, flags, tos uint32) []byte {
	sa, da := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	x := xdr{}.u32(length, proto)
	x = append(append(x, sa.AsSlice()...), da.AsSlice()...)
	x = x.u32(sport, dport, flags, tos)
	format := uint32(3)
	if sa.Is6() {
		format = 4
	}
	return record(format, x)
}

// sampledDatagrams are datagrams with sampled IPv4/IPv6 records instead of
// headers, and headers that start at the IP layer (header protocols 11, 12).
func sampledDatagrams() map[string][]byte {
	return map[string][]byte{
		"sampled ipv4": datagram(testAgent,
			flowSample(512, 3, 4, sampledIP(1500, 6, "10.9.0.1", "10.9.0.2", 443, 50000, 0x18, 0x28), extSwitch(11, 12)),
			flowSample(512, 4, 3, sampledIP(120, 17, "10.9.0.2", "10.9.0.1", 53, 40000, 0, 0),
				extRouter(netip.MustParseAddr("10.9.0.254"), 24, 22))),
		"sampled ipv6": datagram(testAgent,
			flowSample(64, 5, 6, sampledIP(1280, 6, "2001:db8::10", "2001:db8::20", 80, 41000, 0x11, 0xb8), extSwitch(7, 8),
				extRouter(netip.MustParseAddr("2001:db8::fe"), 64, 48)),
			flowSample(64, 6, 5, sampledIP(80, 58, "2001:db8::20", "2001:db8::10", 0, 0, 0, 0))),
		"ip headers": datagram(testAgent,
			flowSample(100, 1, 2, rawHeader(11, 1500, ipv4("10.8.0.1", "10.8.0.2", 6, 0x10, 60, 1500, tcp(22, 51000, 0x10)))),
			flowSample(100, 2, 1, rawHeader(12, 1240, ipv6("2001:db8::1", "2001:db8::2", 17, 0, 60, 1200, udp(4789, 4789, 1200))))),
	}
}

// Differences kept on purpose, with the reason each is kept.
const (
	whyBytes        = "goflow2 counts the sampled frame length (Ethernet header and FCS included); this decoder counts the IP total length, as NetFlow and IPFIX octet counters do, so sFlow and NetFlow bytes add up alike"
	whyTime         = "sFlow carries no flow time: goflow2 leaves it 0 (its collector adds the reception time apart), this decoder stamps start and end with the reception time"
	whyICMP         = "goflow2 v2.2.6 never fills ICMP type and code from sampled headers (its parser sees Calls == 1 on the first ICMP layer); TestDecode checks this decoder's values"
	whyVlan         = "goflow2 puts the 802.1Q tag of the sampled header in VlanId only; this decoder takes it as SrcVlan when no extended switch data gives one"
	whySampledFlags = "goflow2 does not read tcp_flags from sampled IPv4/IPv6 records (formats 3, 4); this decoder does"
	whyIPHeader     = "goflow2 parses sampled headers of protocol Ethernet (1) only; this decoder also parses headers that start at the IP layer (protocols 11 IPv4, 12 IPv6), as routers without a MAC layer send them"
	whyNH           = "flow.Record has one next hop: this decoder keeps the extended gateway's BGP next hop when there is one (goflow2 has it apart, in BgpNextHop) and the extended router's otherwise"
)

// knownDiffs is the base list (Bytes, times) with the extra columns.
func knownDiffs(extra ...string) map[string]string {
	why := map[string]string{"ICMPType": whyICMP, "ICMPCode": whyICMP, "SrcVlan": whyVlan, "NextHop": whyNH}
	m := map[string]string{"Bytes": whyBytes, "TimeFlowStart": whyTime, "TimeFlowEnd": whyTime}
	for _, c := range extra {
		m[c] = why[c]
	}
	return m
}

func TestDifferentialGoflow2Columns(t *testing.T) {
	hand := differentialDatagrams()
	for name, d := range sampledDatagrams() {
		hand[name] = d
	}
	names := make([]string, 0, len(hand))
	for name := range hand {
		names = append(names, name)
	}
	sort.Strings(names)
	cases := []struct {
		name   string
		dgrams func(t *testing.T) [][]byte
		known  map[string]string
	}{
		{"exporter ipv4", func(t *testing.T) [][]byte { return exporterDatagrams(t, 0, 1) }, knownDiffs("ICMPType", "ICMPCode")},
		{"exporter ipv6", func(t *testing.T) [][]byte { return exporterDatagrams(t, 1, 1) }, knownDiffs("ICMPType", "ICMPCode")},
		{"exporter sampled mixed", func(t *testing.T) [][]byte { return exporterDatagrams(t, 0.5, 1000) }, knownDiffs("ICMPType", "ICMPCode")},
	}
	handKnown := map[string]map[string]string{
		"counter": knownDiffs(), "expanded": knownDiffs(), "tcp4": knownDiffs(), "udp6": knownDiffs(),
		"extended":     knownDiffs("NextHop"),
		"icmp":         knownDiffs("ICMPType", "ICMPCode", "SrcVlan"),
		"mixed":        knownDiffs("ICMPType", "ICMPCode", "SrcVlan", "NextHop"),
		"vlan":         knownDiffs("SrcVlan"),
		"sampled ipv4": {"TimeFlowStart": whyTime, "TimeFlowEnd": whyTime, "TCPFlags": whySampledFlags},
		"sampled ipv6": {"TimeFlowStart": whyTime, "TimeFlowEnd": whyTime, "TCPFlags": whySampledFlags},
		"ip headers": {"TimeFlowStart": whyTime, "TimeFlowEnd": whyTime, "SrcAddr": whyIPHeader, "DstAddr": whyIPHeader,
			"EType": whyIPHeader, "Proto": whyIPHeader, "SrcPort": whyIPHeader, "DstPort": whyIPHeader,
			"IPTTL": whyIPHeader, "IPTos": whyIPHeader, "TCPFlags": whyIPHeader},
	}
	for _, name := range names {
		d := hand[name]
		known, ok := handKnown[name]
		if !ok {
			t.Fatalf("datagram %q has no known differences list", name)
		}
		cases = append(cases, struct {
			name   string
			dgrams func(t *testing.T) [][]byte
			known  map[string]string
		}{"hand " + name, func(*testing.T) [][]byte { return [][]byte{d} }, known})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { compareDatagrams(t, tc.dgrams(t), tc.known) })
	}
}

// pmacctdDatagrams captures what Debian's pmacctd with the sfprobe plugin
// sends for the capture of TestPmacctSfprobe.
func pmacctdDatagrams(t *testing.T) [][]byte {
	t.Helper()
	pmacctd := testenv.LookPath(t, "pmacctd", "pmacct")
	dir := t.TempDir()
	const n = 120
	// sfprobe sends a datagram when it is full: fillers push the last out.
	pcap := filepath.Join(dir, "capture.pcap")
	writePcap(t, pcap, capturePackets(n+40))
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conf := filepath.Join(dir, "pmacctd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemonize: false
pcap_savefile: %s
pcap_savefile_wait: true
plugins: sfprobe[fe]
sampling_rate: 1
sfprobe_receiver: %s
sfprobe_agentip: 127.0.0.7
sfprobe_agentsubid: 1
sfprobe_direction[fe]: in
sfprobe_ifindex[fe]: 7
`, pcap, conn.LocalAddr())), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pmacctd, "-f", conf)
	cmd.Dir = dir
	// pmacctd forks its plugin: a process group lets the test end both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	var out [][]byte
	buf := make([]byte, 65535)
	for {
		wait := 1500 * time.Millisecond
		if len(out) == 0 {
			wait = 20 * time.Second
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		m, _, err := conn.ReadFrom(buf)
		if err != nil {
			break
		}
		out = append(out, append([]byte(nil), buf[:m]...))
	}
	if len(out) == 0 {
		t.Fatal("pmacctd sent nothing")
	}
	return out
}

func TestDifferentialGoflow2Pmacctd(t *testing.T) {
	compareDatagrams(t, pmacctdDatagrams(t), knownDiffs())
}
