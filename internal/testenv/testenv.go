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
	"net"
	"os"
	"os/exec"
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

// FreePort returns a port on 127.0.0.1 that was free a moment ago, for network ("tcp" or "udp").
func FreePort(t testing.TB, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free udp port: %v", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free tcp port: %v", err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}
