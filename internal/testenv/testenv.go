// Package testenv lets tests find the real programs they talk to (exporters,
// SNMP agents, database servers) and free ports to run them on. Under CI=true a
// missing program fails the test; elsewhere it skips with how to install it.
//
// ClickHouse tests run against two servers, Debian's ClickHouse 18.16 and a
// current ClickHouse (26.7) served from libchdb.so by the chdbserver program:
// ForEachClickHouse runs a test against both, SharedClickHouse gives one, and
// TestMain calls StopSharedClickHouse.
package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// CI reports whether tests run under continuous integration.
func CI() bool { return os.Getenv("CI") != "" }

// LookPath returns the path of program, failing (CI) or skipping the test when
// it is missing. debian names the package that provides it.
func LookPath(t testing.TB, program, debian string) string {
	t.Helper()
	for _, p := range []string{program, "/usr/sbin/" + program, "/usr/bin/" + program} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if CI() {
		t.Fatalf("%s not found: `make test` installs the Debian package %s", program, debian)
	}
	t.Skipf("%s not found: install the Debian package %s (make test-deps, as root)", program, debian)
	return ""
}

// FreePort reserves a port on 127.0.0.1 for network ("tcp" or "udp") until
// the test ends, for a program the test starts (a server that takes its port
// on the command line). Tests of several packages run in parallel, so a port
// that was merely free a moment ago could be taken by another one before the
// program binds it. Instead the port is drawn outside the kernel's ephemeral
// range (which serves every bind to port 0), locked in a file shared by all
// test processes of the machine, and checked to bind; a taken one is skipped.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	lo, hi := portRange()
	dir := filepath.Join(os.TempDir(), "flowengine-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatalf("free %s port: %v", network, err)
	}
	for range 1000 {
		port := lo + rand.IntN(hi-lo+1)
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Fatalf("free %s port: %v", network, err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // another test holds it
			continue
		}
		if !binds(network, port) {
			f.Close() // closing releases the lock
			continue
		}
		t.Cleanup(func() { f.Close() })
		return port
	}
	t.Fatalf("free %s port: none found in %d-%d", network, lo, hi)
	return 0
}

// narrowRange, when set, replaces portRange (tests of FreePort itself).
var narrowRange [2]int

// portRange returns ports the kernel does not hand out for port 0.
func portRange() (lo, hi int) {
	if narrowRange[1] != 0 {
		return narrowRange[0], narrowRange[1]
	}
	ephLo, ephHi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if l, err := strconv.Atoi(f[0]); err == nil {
				ephLo = l
			}
			if h, err := strconv.Atoi(f[1]); err == nil {
				ephHi = h
			}
		}
	}
	switch {
	case ephLo-1 >= 20000+1000:
		return 20000, ephLo - 1
	case 65535-ephHi >= 1000:
		return ephHi + 1, 65535
	}
	return 1024, 65535
}

func binds(network string, port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}
