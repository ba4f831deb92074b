// Package hostiletest runs a flow source in a child process, sends it
// hostile traffic over loopback from many source addresses, and reads the
// child's peak memory, for the tests of the netflow and sflow sources.
//
// The child is the test binary itself, re-executed to run one test function
// that starts the source and answers on its standard input and output. Its
// peak memory is VmHWM from /proc/<pid>/status: the resident set high-water
// mark of the whole process as the kernel (and an OOM killer or a cgroup
// limit) sees it, GC headroom, stacks and fragmentation included, and
// nothing of the parent's own work (building and sending packets) or of
// other tests in the binary. The Go heap peak alone (runtime/metrics) would
// understate what an operator pays.
package hostiletest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ChildEnv is set in the child's environment.
const ChildEnv = "FLOWENGINE_HOSTILE_CHILD"

// IsChild reports whether this process is a child started by Start.
func IsChild() bool { return os.Getenv(ChildEnv) != "" }

const prefix = "HOSTILE "

// Serve is the child's side: it announces addr, then answers each "stats"
// line on standard input with stats() as JSON, until standard input closes.
func Serve(addr string, stats func() any) error {
	fmt.Printf("%saddr %s\n", prefix, addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "stats" {
			continue
		}
		b, err := json.Marshal(stats())
		if err != nil {
			return err
		}
		fmt.Printf("%sstats %s\n", prefix, b)
	}
	return in.Err()
}

// Child is a source running in a child process.
type Child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	Addr  *net.UDPAddr
}

// Start re-executes the test binary to run the test named test, and waits
// for the address it listens on.
func Start(t testing.TB, test string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		defer close(c.lines)
		s := bufio.NewScanner(out)
		s.Buffer(nil, 1<<20)
		for s.Scan() {
			if l, ok := strings.CutPrefix(s.Text(), prefix); ok {
				c.lines <- l
			}
		}
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	l, err := c.line(30 * time.Second)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	a, ok := strings.CutPrefix(l, "addr ")
	if !ok {
		t.Fatalf("child said %q, want its address", l)
	}
	if c.Addr, err = net.ResolveUDPAddr("udp", a); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *Child) line(d time.Duration) (string, error) {
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", errors.New("the child process ended")
		}
		return l, nil
	case <-time.After(d):
		return "", errors.New("the child process did not answer")
	}
}

// Stats asks the child for its stats and decodes them into v. An error
// means the child is gone or hung.
func (c *Child) Stats(v any) error {
	if _, err := io.WriteString(c.in, "stats\n"); err != nil {
		return fmt.Errorf("the child process ended: %w", err)
	}
	l, err := c.line(30 * time.Second)
	if err != nil {
		return err
	}
	s, ok := strings.CutPrefix(l, "stats ")
	if !ok {
		return fmt.Errorf("child said %q", l)
	}
	return json.Unmarshal([]byte(s), v)
}

// PeakRSS returns the child's resident set high-water mark (VmHWM), bytes.
func (c *Child) PeakRSS() (int64, error) {
	return statusField(c.cmd.Process.Pid, "VmHWM:")
}

func statusField(pid int, name string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", name, pid)
}

// Queue returns the bytes waiting in the receive queues of the UDP sockets
// bound to port and their drop counts, from /proc/net/udp and udp6.
func Queue(port int) (queued, drops int64, err error) {
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, 0, err
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 13 {
				continue
			}
			_, p, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			if lp, err := strconv.ParseInt(p, 16, 32); err != nil || int(lp) != port {
				continue
			}
			_, rx, _ := strings.Cut(fs[4], ":")
			q, _ := strconv.ParseInt(rx, 16, 64)
			d, _ := strconv.ParseInt(fs[12], 10, 64)
			queued += q
			drops += d
		}
	}
	return queued, drops, nil
}

// Sender sends packets to a child from chosen loopback source addresses
// (all of 127.0.0.0/8 is local on Linux), pacing itself on the child's
// receive queues so that the kernel drops nothing.
type Sender struct {
	to    *net.UDPAddr
	conns map[netip.Addr]*net.UDPConn
	sent  int
	Sent  int64 // bytes sent
}

// NewSender returns a sender to c.
func NewSender(c *Child) *Sender {
	return &Sender{to: c.Addr, conns: map[netip.Addr]*net.UDPConn{}}
}

// Send sends pkt from address from (a loopback address), keeping the socket
// open for the next packets from there when keep is true.
func (s *Sender) Send(from netip.Addr, pkt []byte, keep bool) error {
	c := s.conns[from]
	if c == nil {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0)))
		if err != nil {
			return err
		}
		if keep {
			s.conns[from] = c
		} else {
			defer c.Close()
		}
	}
	if _, err := c.WriteToUDP(pkt, s.to); err != nil {
		return err
	}
	s.Sent += int64(len(pkt))
	s.sent++
	if s.sent%16 == 0 {
		return s.pace(1 << 20)
	}
	return nil
}

// pace waits while more than max bytes wait in the child's queues.
func (s *Sender) pace(max int64) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		q, _, err := Queue(s.to.Port)
		if err != nil || q <= max {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the child has not read %d bytes in a minute", q)
		}
		time.Sleep(time.Millisecond)
	}
}

// Drain waits until the child has read everything sent, and returns the
// kernel's drop count for its sockets.
func (s *Sender) Drain() (int64, error) {
	if err := s.pace(0); err != nil {
		return 0, err
	}
	_, drops, err := Queue(s.to.Port)
	return drops, err
}

// Close closes the sockets kept open.
func (s *Sender) Close() {
	for _, c := range s.conns {
		c.Close()
	}
}

// Stats is what a child reports about the flows its source handed on.
type Stats struct {
	Flows    int64 // all flows handed on
	Clean    int   // flows from the clean stream's exporter
	Mismatch int   // flows from that exporter not in the clean stream
	Series   int   // metric series in the registry
	Want     int   // flows the clean stream carries
}

// Sequence is one hostile sequence of packets.
type Sequence struct {
	Name string
	Send func(s *Sender) error
}

// PeakMemory runs each sequence against a fresh child running test, then
// sends the clean stream from cleanFrom: the source must stay up, deliver the
// clean stream exactly (the child counts it in Stats), and keep its peak
// resident memory under limit.
func PeakMemory(t *testing.T, test string, seqs []Sequence, cleanFrom netip.Addr, clean [][]byte, limit int64) {
	if IsChild() {
		t.Skip("the child runs " + test + " only")
	}
	if RaceEnabled {
		t.Skip("peak memory under the race detector (5-10x) says nothing; the plain test run measures it")
	}
	if testing.Short() {
		t.Skip("sends hundreds of thousands of packets over loopback")
	}
	for _, seq := range seqs {
		t.Run(seq.Name, func(t *testing.T) {
			c := Start(t, test)
			s := NewSender(c)
			defer s.Close()
			start := time.Now()
			if err := seq.Send(s); err != nil {
				t.Fatal(err)
			}
			drops, err := s.Drain()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range clean {
				if err := s.Send(cleanFrom, p, true); err != nil {
					t.Fatal(err)
				}
			}
			// Wait for the clean stream, then for the flows to stop coming.
			var st Stats
			deadline := time.Now().Add(time.Minute)
			for last := int64(-1); ; last = st.Flows {
				if err := c.Stats(&st); err != nil {
					t.Fatalf("the source is down: %v", err)
				}
				if st.Clean >= st.Want && st.Flows == last {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("clean stream: %d of %d flows after a minute", st.Clean, st.Want)
				}
				time.Sleep(50 * time.Millisecond)
			}
			peak, err := c.PeakRSS()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("peak RSS %.1f MiB; sent %.1f MB in %v, %d kernel drops; %d flows handed on, %d metric series",
				float64(peak)/(1<<20), float64(s.Sent)/1e6, time.Since(start).Round(time.Millisecond), drops, st.Flows, st.Series)
			if st.Clean != st.Want || st.Mismatch != 0 {
				t.Errorf("clean stream: %d flows, %d not sent, want the %d sent", st.Clean, st.Mismatch, st.Want)
			}
			if peak > limit {
				t.Errorf("peak RSS %d bytes, over %d", peak, limit)
			}
		})
	}
}
