package sflow

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

// pcapPacket is one frame of the capture the test writes, with what the
// source must decode from its sFlow sample.
type pcapPacket struct {
	frame []byte
	want  flow.Record
}

// writePcap writes a libpcap file (Ethernet link type) of the frames.
func writePcap(t *testing.T, path string, pkts []pcapPacket) {
	t.Helper()
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1) // LINKTYPE_ETHERNET
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, p := range pkts {
		at := ts.Add(time.Duration(i) * time.Millisecond)
		b = binary.LittleEndian.AppendUint32(b, uint32(at.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(at.Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.frame)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.frame)))
		b = append(b, p.frame...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// capturePackets builds n known frames: IPv4 and IPv6, TCP and UDP, with
// whole payloads so that the IP lengths are true.
func capturePackets(n int) []pcapPacket {
	var out []pcapPacket
	for i := range n {
		size := 60 + (i*37)%1400 // IP total length
		sport, dport := uint16(10000+i), uint16(443)
		var frame []byte
		r := flow.Record{SrcMAC: macA, DstMAC: macB, SrcPort: sport, DstPort: dport, Bytes: uint64(size), Packets: 1, SamplingRate: 1}
		v6 := i%3 == 2
		isTCP := i%2 == 0
		proto := uint8(17)
		if isTCP {
			proto = 6
		}
		r.Proto = proto
		var l4 []byte
		if v6 {
			plen := size - 40
			if isTCP {
				l4 = tcp(sport, dport, 0x18)
				r.TCPFlags = 0x18
			} else {
				l4 = udp(sport, dport, uint16(plen))
			}
			l4 = append(l4, make([]byte, plen-len(l4))...)
			src, dst := fmt.Sprintf("2001:db8::%x", i+1), "2001:db8:ffff::1"
			frame = ether(macB, macA, 0, 0x86dd, ipv6(src, dst, proto, 0, 64, uint16(plen), l4))
			r.SrcAddr, r.DstAddr, r.EType, r.IPTTL = a(src), a(dst), 0x86dd, 64
		} else {
			if isTCP {
				l4 = tcp(sport, dport, 0x18)
				r.TCPFlags = 0x18
			} else {
				l4 = udp(sport, dport, uint16(size-20))
			}
			l4 = append(l4, make([]byte, size-20-len(l4))...)
			src, dst := fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), "192.0.2.200"
			frame = ether(macB, macA, 0, 0x0800, ipv4(src, dst, proto, 0, 64, uint16(size), l4))
			r.SrcAddr, r.DstAddr, r.EType, r.IPTTL = a(src), a(dst), 0x0800, 64
		}
		out = append(out, pcapPacket{frame: frame, want: r})
	}
	return out
}

// TestPmacctSfprobe runs Debian's pmacctd with the sfprobe plugin on a
// capture the test writes, exporting to the source.
func TestPmacctSfprobe(t *testing.T) {
	pmacctd := testenv.LookPath(t, "pmacctd", "pmacct")
	_, col, reg, addr := startSource(t, `sockets = 1`)
	dir := t.TempDir()
	const n = 300
	pkts := capturePackets(n)
	// sfprobe sends a datagram when it is full, so the last samples would
	// stay in its buffer: filler packets after the known ones push them out.
	const fillers = 40
	filler := capturePackets(n + fillers)[n:]
	pcap := filepath.Join(dir, "capture.pcap")
	writePcap(t, pcap, append(append([]pcapPacket(nil), pkts...), filler...))
	conf := filepath.Join(dir, "pmacctd.conf")
	agent := "127.0.0.7"
	const ifIndex = 7
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemonize: false
pcap_savefile: %s
pcap_savefile_wait: true
plugins: sfprobe[fe]
sampling_rate: 1
sfprobe_receiver: %s
sfprobe_agentip: %s
sfprobe_agentsubid: 1
sfprobe_direction[fe]: in
sfprobe_ifindex[fe]: %d
`, pcap, addr, agent, ifIndex)), 0o644); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	cmd := exec.Command(pmacctd, "-f", conf)
	cmd.Dir = dir
	// pmacctd forks its sfprobe plugin: a process group lets cleanup end both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(filepath.Join(dir, "pmacctd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "pmacctd.log"))
			t.Logf("pmacctd output:\n%s", log)
		}
	}()
	// pmacctd stays alive after the capture (pcap_savefile_wait), so its
	// last datagram gets out; the wait is a bound against hangs.
	got := col.waitFor(t, n, 30*time.Second)
	if len(got) < n {
		t.Errorf("received %d flows, want at least the %d known ones", len(got), n)
	}
	received := time.Now()
	got = got[:min(len(got), n)]
	// sFlow carries no time of its own (only the agent's uptime): a flow
	// is stamped when its datagram arrives, so its times lie between the
	// start of pmacctd and the last arrival, all three equal, in the order
	// of the capture.
	var prev time.Time
	for i, g := range got {
		if g.TimeReceived.Before(started) || g.TimeReceived.After(received) {
			t.Errorf("flow %d: received at %v, outside the run [%v, %v]", i, g.TimeReceived, started, received)
		}
		if !g.TimeFlowStart.Equal(g.TimeReceived) || !g.TimeFlowEnd.Equal(g.TimeReceived) {
			t.Errorf("flow %d: start %v, end %v, want both the reception time %v", i, g.TimeFlowStart, g.TimeFlowEnd, g.TimeReceived)
		}
		if g.TimeReceived.Before(prev) {
			t.Errorf("flow %d: received at %v, before flow %d (%v)", i, g.TimeReceived, i-1, prev)
		}
		prev = g.TimeReceived
	}
	want := make([]flow.Record, 0, n)
	for i := range got {
		w := pkts[i].want
		w.ExporterAddress = a(agent)
		// The input is the configured ifIndex; pmacctd knows no output
		// and sends sFlow's 0x3FFFFFFF (format 0, the agent's own
		// interface), which the source passes on as is.
		w.InIfIndex, w.OutIfIndex = ifIndex, 0x3FFFFFFF
		// Checked above against the run's clock.
		w.TimeReceived, w.TimeFlowStart, w.TimeFlowEnd = got[i].TimeReceived, got[i].TimeFlowStart, got[i].TimeFlowEnd
		want = append(want, w)
	}
	if diff := cmp.Diff(got, want, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("flows from pmacctd (-got +want):\n%s", diff)
	}
	if errs := metricValue(t, reg, "flowengine_sflow_decode_errors_total", map[string]string{"exporter": agent}); errs != 0 {
		t.Errorf("%v decode errors", errs)
	}
}
