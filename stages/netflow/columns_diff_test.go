package netflow

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	feexporter "github.com/flowengine/flowengine/exporter"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/goflowref"
	"github.com/flowengine/flowengine/internal/testenv"
)

// compareSource decodes pkts with this decoder and with goflow2, compares
// every column of every flow, and checks that the columns that differ are
// exactly the keys of known (column → why the difference is kept).
func compareSource(t *testing.T, pkts [][]byte, known map[string]string) {
	t.Helper()
	ref := newGoflowReference()
	d := NewDecoder(Config{})
	b := flow.NewBatch()
	defer b.Release()
	seen := map[string]string{}
	total := 0
	if _, ok := known[keyCount]; ok {
		// goflow2 reads only as many sets as the v9 header count says; give it
		// the whole packet (count 0xffff: it stops at the end of the data).
		short := 0
		for _, pkt := range pkts {
			msgs, _ := newGoflowReference().decode(pkt)
			short += len(msgs)
			fixed := append([]byte(nil), pkt...)
			fixed[2], fixed[3] = 0xff, 0xff
			full, _ := ref.decode(fixed)
			if len(full) > len(msgs) {
				seen[keyCount] = fmt.Sprintf("%d flows, goflow2 %d", len(full), len(msgs))
			}
		}
		ref = newGoflowReference()
	}
	for p, pkt := range pkts {
		if _, ok := known[keyCount]; ok {
			pkt = append([]byte(nil), pkt...)
			pkt[2], pkt[3] = 0xff, 0xff
		}
		msgs, err := ref.decode(pkt)
		if err != nil {
			t.Fatalf("packet %d: goflow2: %v", p, err)
		}
		b.Records = b.Records[:0]
		if _, err := d.Decode(pkt, testExporter, testNow, b); err != nil {
			t.Fatalf("packet %d: %v", p, err)
		}
		if err := goflowref.Diff(seen, fmt.Sprintf("packet %d", p), b.Records, msgs, testExporter, testNow); err != nil {
			t.Fatal(err)
		}

		total += len(b.Records)
	}
	if total == 0 {
		t.Fatal("no flows compared")
	}
	var unexpected, missing []string
	for col, ex := range seen {
		if _, ok := known[col]; !ok {
			unexpected = append(unexpected, col+" ("+ex+")")
		}
	}
	for col := range known {
		if _, ok := seen[col]; !ok {
			missing = append(missing, col)
		}
	}
	sort.Strings(unexpected)
	sort.Strings(missing)
	if len(unexpected) > 0 {
		t.Errorf("columns differing from goflow2 (flowengine vs goflow2), not in the known list:\n  %s", strings.Join(unexpected, "\n  "))
	}
	if len(missing) > 0 {
		t.Errorf("known differences that no longer occur (remove them): %v", missing)
	}
	t.Logf("%d flows, %d columns compared, known differences: %v", total, len(flow.Columns), slices.Sorted(mapKeys(known)))
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// keyCount, in a known list, stands for a difference in the number of flows.
const keyCount = "(flow count)"

// Differences kept on purpose, shared by the sources below.
const (
	whyCount       = "softflowd's v9 header count is the number of flows, not of records (RFC 3954); goflow2 stops reading after count sets and loses the data, this decoder reads every set of the datagram (the comparison then gives goflow2 the whole datagram)"
	whyWrap        = "softflowd reading a capture sends sysUpTime 0 with first/last switched near 2^32 ms: this decoder subtracts modulo 2^32 (sysUpTime wraps every 49.7 days), so the flow ends before the export; goflow2 subtracts in 64 bits and dates the flow 31 days after the export"
	whyV9Millis    = "pmacctd's nfprobe sends flowStart/EndMilliseconds (152/153) in NetFlow v9: this decoder reads them in v9 as in IPFIX, goflow2 only in IPFIX and stamps the export time"
	whyPacketSpace = "with samplingPacketInterval (305) = 1 and samplingPacketSpace (306) = rate-1, RFC 5476 makes the rate (interval+space)/interval: this decoder computes it, goflow2 takes the interval (1) alone"
	whyUptime      = "softflowd's IPFIX flowStart/EndSysUpTime (22/21) are relative to systemInitTimeMilliseconds (160) in its options record: this decoder applies it, goflow2 ignores 21/22 in IPFIX and stamps the export time"
	whyRate        = "goflow2 reports 0 when no sampling rate is announced; this decoder keeps the flow with rate 1 (unsampled), which scales counters correctly"
	whyIPTTL       = "goflow2 reads the TTL from minimumTTL (52) only; this decoder prefers ipTTL (192), which IPFIX exporters send, then minimumTTL, then maximumTTL (53)"
	whyDot1q       = "goflow2 ignores dot1qVlanId (243); this decoder takes it as SrcVlan when vlanId (58) is absent"
)

// exporterPackets encodes synthetic flows with flowengine exporter's encoders.
func exporterPackets(t *testing.T, ipfix bool, v6share float64, rate uint32, sampling ...string) [][]byte {
	t.Helper()
	now := testNow.Add(-time.Second)
	g := feexporter.NewGenerator(feexporter.GeneratorOptions{Seed: 11, Interfaces: 16, IPv6Share: v6share})
	flows := make([]feexporter.Flow, 200)
	for i := range flows {
		g.Next(now, &flows[i])
	}
	opts := feexporter.EncoderOptions{SourceID: 3, SamplingRate: rate, Boot: now.Add(-time.Hour)}
	if len(sampling) > 0 {
		opts.IPFIXSampling = sampling[0]
	}
	var enc feexporter.Encoder = feexporter.NewNetFlow9(opts)
	if ipfix {
		var err error
		if enc, err = feexporter.NewIPFIX(opts); err != nil {
			t.Fatal(err)
		}
	}
	var pkts [][]byte
	for len(flows) > 0 {
		pkt, n := enc.Encode(nil, now, flows)
		if n == 0 {
			t.Fatal("Encode took no flow")
		}
		flows = flows[n:]
		pkts = append(pkts, pkt)
	}
	return pkts
}

func TestDifferentialGoflow2Columns(t *testing.T) {
	cases := []struct {
		name  string
		pkts  func(t *testing.T) [][]byte
		known map[string]string
	}{
		{"exporter v9 ipv4", func(t *testing.T) [][]byte { return exporterPackets(t, false, 0, 1) }, nil},
		{"exporter v9 ipv6", func(t *testing.T) [][]byte { return exporterPackets(t, false, 1, 1) }, nil},
		{"exporter v9 sampled mixed", func(t *testing.T) [][]byte { return exporterPackets(t, false, 0.5, 1000) }, nil},
		{"exporter ipfix ipv4", func(t *testing.T) [][]byte { return exporterPackets(t, true, 0, 1) }, nil},
		{"exporter ipfix ipv6", func(t *testing.T) [][]byte { return exporterPackets(t, true, 1, 1) }, nil},
		{"exporter ipfix sampled mixed", func(t *testing.T) [][]byte { return exporterPackets(t, true, 0.5, 1000) }, nil},
		{"exporter ipfix packet-space sampling", func(t *testing.T) [][]byte {
			return exporterPackets(t, true, 0.5, 1000, feexporter.SamplingPacketSpace)
		}, map[string]string{"SamplingRate": whyPacketSpace}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { compareSource(t, tc.pkts(t), tc.known) })
	}
}

func u8(v uint8) []byte   { return []byte{v} }
func u24(v uint32) []byte { return []byte{byte(v >> 16), byte(v >> 8), byte(v)} }
func u64(v uint64) []byte { return cat(u32(uint32(v>>32)), u32(uint32(v))) }

// varlen is an IPFIX variable-length value with its length: one byte, or
// 255 and two bytes from 255 on (RFC 7011, section 7).
func varlen(s string) []byte {
	if len(s) >= 255 {
		return cat(u8(255), u16(uint16(len(s))), []byte(s))
	}
	return cat(u8(uint8(len(s))), []byte(s))
}

// mpls is an MPLS label stack entry: label, traffic class, bottom of stack.
func mpls(label uint32, bottom bool) []byte {
	v := label << 4
	if bottom {
		v |= 1
	}
	return u24(v)
}

const handSecs = 1_714_564_790 // export time, ten seconds before testNow

// v9MACVLANMPLS is a NetFlow v9 template as routers send them with MPLS:
// MAC and VLAN fields, three MPLS labels, forwarding status, and reduced-size
// counters, interfaces and AS numbers (2 and 4 bytes instead of 8 and 4).
func v9MACVLANMPLS() [][]byte {
	fields := []fs{{t: 8, l: 4}, {t: 12, l: 4}, {t: 15, l: 4}, {t: 7, l: 2}, {t: 11, l: 2}, {t: 4, l: 1}, {t: 5, l: 1},
		{t: 6, l: 1}, {t: 1, l: 4}, {t: 2, l: 2}, {t: 10, l: 2}, {t: 14, l: 2}, {t: 16, l: 2}, {t: 17, l: 2},
		{t: 9, l: 1}, {t: 13, l: 1}, {t: 56, l: 6}, {t: 80, l: 6}, {t: 58, l: 2}, {t: 59, l: 2},
		{t: 70, l: 3}, {t: 71, l: 3}, {t: 72, l: 3}, {t: 89, l: 1}, {t: 22, l: 4}, {t: 21, l: 4}}
	rec := func(i uint32) []byte {
		return cat(u32(0x0a000001+i), u32(0xc6336401), u32(0xc0000201), u16(40000+uint16(i)), u16(443), u8(6), u8(0x28),
			u8(0x18), u32(150000+i), u16(100+uint16(i)), u16(3), u16(7), u16(64500), u16(15169),
			u8(24), u8(16), mac6(0x0200000000aa+uint64(i)), mac6(0x0200000000bb), u16(100), u16(200),
			mpls(16000+i, false), mpls(24001, false), mpls(3, true), u8(0x40), u32(980_000), u32(995_000))
	}
	var data []byte
	for i := uint32(0); i < 5; i++ {
		data = append(data, rec(i)...)
	}
	return [][]byte{v9Packet(1_000_000, handSecs, 1, 5, set(0, tmpl(300, fields...)), set(300, data))}
}

// ipfixEnterpriseVarlen is an IPFIX template with enterprise fields (fixed
// and variable length), variable-length standard fields, MPLS labels,
// reduced-size counters and seconds timestamps.
func ipfixEnterpriseVarlen() [][]byte {
	fields := []fs{{t: 8, l: 4}, {t: 12, l: 4}, {t: 7, l: 2}, {t: 11, l: 2}, {t: 4, l: 1},
		{t: 1, l: 4}, {t: 2, l: 4}, {t: 10, l: 4}, {t: 14, l: 4},
		{t: 82, l: 0xffff},                // interfaceName, variable length
		{t: 1001, l: 4, pen: 9},           // Cisco enterprise field
		{t: 100, l: 0xffff, pen: 29305},   // reverse field (RFC 5103), variable length
		{t: 12235, l: 0xffff, pen: 35632}, // another vendor's string
		{t: 70, l: 3}, {t: 71, l: 3},      // MPLS label stack
		{t: 150, l: 4}, {t: 151, l: 4}, // flowStartSeconds, flowEndSeconds
		{t: 192, l: 1}, {t: 136, l: 1}, // ipTTL, flowEndReason
		{t: 56, l: 6}, {t: 80, l: 6}, {t: 243, l: 2}} // MACs, dot1qVlanId
	rec := func(i uint32) []byte {
		return cat(u32(0x0a000101+i), u32(0x08080808), u16(53000+uint16(i)), u16(53), u8(17),
			u32(1200+i), u32(3+i), u32(11), u32(12),
			varlen(fmt.Sprintf("et-0/0/%d", i)), u32(0xdeadbeef), varlen("reverse"), varlen(strings.Repeat("x", int(i)*70)),
			mpls(299776+i, false), mpls(17, true), u32(handSecs-20), u32(handSecs-5),
			u8(63), u8(2), mac6(0x02aabbccdd00+uint64(i)), mac6(0x02aabbccddff), u16(42))
	}
	var data []byte
	for i := uint32(0); i < 6; i++ {
		data = append(data, rec(i)...)
	}
	return [][]byte{ipfixPacket(handSecs, 0, 9, set(2, tmpl(400, fields...)), set(400, data))}
}

// ipfixIPv6Reduced is an IPFIX IPv6 template with reduced-size counters
// (2-byte packetDeltaCount, 4-byte octetDeltaCount), 2-byte interfaces,
// ICMPv6 type/code, ethernetType, VLANs and millisecond timestamps.
func ipfixIPv6Reduced() [][]byte {
	fields := []fs{{t: 27, l: 16}, {t: 28, l: 16}, {t: 62, l: 16}, {t: 4, l: 1}, {t: 139, l: 2},
		{t: 1, l: 4}, {t: 2, l: 2}, {t: 10, l: 2}, {t: 14, l: 2}, {t: 29, l: 1}, {t: 30, l: 1},
		{t: 16, l: 4}, {t: 17, l: 4}, {t: 256, l: 2}, {t: 58, l: 2}, {t: 59, l: 2},
		{t: 152, l: 8}, {t: 153, l: 8}, {t: 5, l: 1}}
	src := netip.MustParseAddr("2001:db8::1").As16()
	dst := netip.MustParseAddr("2a00:1450::2").As16()
	nh := netip.MustParseAddr("fe80::1").As16()
	var data []byte
	for i := uint32(0); i < 4; i++ {
		s := src
		s[15] += byte(i)
		data = append(data, cat(s[:], dst[:], nh[:], u8(58), u16(0x8000|uint16(i)),
			u32(64*(i+1)), u16(uint16(i+1)), u16(21), u16(22), u8(48), u8(32),
			u32(4200000000), u32(15169), u16(0x86dd), u16(300), u16(301),
			u64(uint64(handSecs)*1000-3000), u64(uint64(handSecs)*1000-1000), u8(0xb8))...)
	}
	return [][]byte{ipfixPacket(handSecs, 0, 10, set(2, tmpl(401, fields...)), set(401, data))}
}

func TestDifferentialGoflow2HandBuilt(t *testing.T) {
	cases := []struct {
		name  string
		pkts  [][]byte
		known map[string]string
	}{
		{"v9 mac vlan mpls reduced", v9MACVLANMPLS(), map[string]string{"SamplingRate": whyRate}},
		{"ipfix enterprise varlen mpls", ipfixEnterpriseVarlen(), map[string]string{"SamplingRate": whyRate,
			"IPTTL": whyIPTTL, "SrcVlan": whyDot1q}},
		{"ipfix ipv6 reduced icmp", ipfixIPv6Reduced(), map[string]string{"SamplingRate": whyRate}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { compareSource(t, tc.pkts, tc.known) })
	}
}

// captureUDP listens on a local UDP port, runs the exporter run starts
// (sending to that port), and returns the datagrams received until none came
// for a while; then it calls the stop function run returned.
func captureUDP(t *testing.T, run func(addr string) (stop func())) [][]byte {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan [][]byte, 1)
	go func() {
		var pkts [][]byte
		buf := make([]byte, 65535)
		for {
			wait := 1500 * time.Millisecond
			if len(pkts) == 0 {
				wait = 20 * time.Second
			}
			_ = conn.SetReadDeadline(time.Now().Add(wait))
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				got <- pkts
				return
			}
			pkts = append(pkts, append([]byte(nil), buf[:n]...))
		}
	}()
	stop := run(conn.LocalAddr().String())
	pkts := <-got
	stop()
	return pkts
}

// softflowdPackets captures what Debian's softflowd sends for the capture
// of TestSoftflowd in NetFlow v9 (version "9") or IPFIX ("10").
func softflowdPackets(t *testing.T, version string) [][]byte {
	t.Helper()
	softflowd := testenv.LookPath(t, "softflowd", "softflowd")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "capture.pcap")
	writePcap(t, pcap, softflowdCapture())
	pkts := captureUDP(t, func(addr string) func() {
		cmd := exec.Command(softflowd, "-r", pcap, "-n", addr, "-v", version, "-d", "-6",
			"-c", "none", "-p", filepath.Join(dir, "pid"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("softflowd: %v\n%s", err, out)
		}
		return func() {}
	})
	if len(pkts) == 0 {
		t.Fatal("softflowd sent nothing")
	}
	return pkts
}

func TestDifferentialGoflow2Softflowd(t *testing.T) {
	for _, tc := range []struct {
		version string
		known   map[string]string
	}{
		{"9", map[string]string{keyCount: whyCount, "TimeFlowStart": whyWrap, "TimeFlowEnd": whyWrap}},
		{"10", map[string]string{"TimeFlowStart": whyUptime, "TimeFlowEnd": whyUptime}},
	} {
		t.Run("v"+tc.version, func(t *testing.T) { compareSource(t, softflowdPackets(t, tc.version), tc.known) })
	}
}

// pmacctdPackets captures what Debian's pmacctd with the nfprobe plugin
// sends for the capture of TestSoftflowd in NetFlow v9 ("9") or IPFIX ("10").
func pmacctdPackets(t *testing.T, version string) [][]byte {
	t.Helper()
	pmacctd := testenv.LookPath(t, "pmacctd", "pmacct")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "capture.pcap")
	writePcap(t, pcap, softflowdCapture())
	pkts := captureUDP(t, func(addr string) func() {
		conf := filepath.Join(dir, "pmacctd.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemonize: false
pcap_savefile: %s
pcap_savefile_wait: true
plugins: nfprobe[fe]
nfprobe_timeouts: general=1:maxlife=1:expint=1:tcp=1:tcp.rst=1:tcp.fin=1:udp=1:icmp=1
nfprobe_receiver: %s
nfprobe_version: %s
nfprobe_source_ip: 127.0.0.1
aggregate[fe]: src_host, dst_host, src_port, dst_port, proto, tos, src_mac, dst_mac, vlan, tcpflags
`, pcap, addr, version)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(pmacctd, "-f", conf)
		cmd.Dir = dir
		// pmacctd forks its plugin: a process group lets the test end both.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := os.Create(filepath.Join(dir, "pmacctd.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	if len(pkts) == 0 {
		log, _ := os.ReadFile(filepath.Join(dir, "pmacctd.log"))
		t.Fatalf("pmacctd sent nothing:\n%s", log)
	}
	return pkts
}

func TestDifferentialGoflow2Pmacctd(t *testing.T) {
	for _, tc := range []struct {
		version string
		known   map[string]string
	}{
		{"9", map[string]string{"SamplingRate": whyRate, "TimeFlowStart": whyV9Millis, "TimeFlowEnd": whyV9Millis}},
		{"10", map[string]string{"SamplingRate": whyRate}},
	} {
		t.Run("v"+tc.version, func(t *testing.T) { compareSource(t, pmacctdPackets(t, tc.version), tc.known) })
	}
}
