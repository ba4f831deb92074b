package snmpagent

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"

	"github.com/flowengine/flowengine/internal/testenv"
)

var testData = Data{
	SysName:  "edge1.par",
	SysDescr: "flowengine synthetic exporter",
	Interfaces: []Interface{
		{Index: 17, Name: "Gi0/0/17", Description: "Transit: Cogent", SpeedMbps: 10000},
		{Index: 2, Name: "Gi0/0/2", Description: "PNI: Google", SpeedMbps: 100000},
		{Index: 3, Name: "Gi0/0/3", Descr: "GigabitEthernet0/0/3", Description: "IX: FranceIX", SpeedMbps: 1000},
	},
}

// startAgent serves a on a free UDP port and returns its address.
func startAgent(t testing.TB, a *Agent) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return conn.LocalAddr().String()
}

// netSNMP runs one Net-SNMP command-line tool against addr and returns its
// output lines, numeric OIDs, values without type prefixes.
func netSNMP(t *testing.T, tool string, args ...string) []string {
	t.Helper()
	path := testenv.LookPath(t, tool, "snmp")
	dir := t.TempDir()
	cmd := exec.Command(path, append([]string{"-On", "-Oq", "-Ov", "-t", "2", "-r", "1"}, args...)...)
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS="+dir, "SNMP_PERSISTENT_DIR="+dir, "SNMPCONFPATH="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s%s", tool, args, err, out, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		lines = append(lines, strings.Trim(l, `"`))
	}
	return lines
}

func TestNetSNMPOracle(t *testing.T) {
	addr := startAgent(t, New("s3cret", testData))
	cases := []struct {
		tool string
		args []string
		want []string
	}{
		{"snmpget", []string{OIDSysName}, []string{"edge1.par"}},
		{"snmpget", []string{OIDSysDescr, OIDIfName + ".17"}, []string{"flowengine synthetic exporter", "Gi0/0/17"}},
		{"snmpwalk", []string{OIDIfName}, []string{"Gi0/0/2", "Gi0/0/3", "Gi0/0/17"}},
		{"snmpbulkwalk", []string{OIDIfAlias}, []string{"PNI: Google", "IX: FranceIX", "Transit: Cogent",
			"No more variables left in this MIB View (It is past the end of the MIB tree)"}}, // ifAlias is the last object served
		{"snmpbulkwalk", []string{"-Cr2", OIDIfDescr}, []string{"Gi0/0/2", "GigabitEthernet0/0/3", "Gi0/0/17"}},
		{"snmpbulkwalk", []string{OIDIfHighSpeed}, []string{"100000", "1000", "10000"}},
		{"snmpwalk", []string{OIDIfSpeed}, []string{"4294967295", "1000000000", "4294967295"}},
		{"snmpgetnext", []string{"1.3.6.1.2.1.1.1"}, []string{"flowengine synthetic exporter"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.tool, c.args), func(t *testing.T) {
			got := netSNMP(t, c.tool, append([]string{"-v2c", "-c", "s3cret", addr}, c.args...)...)
			if diff := cmp.Diff(got, c.want); diff != "" {
				t.Errorf("(-got +want)\n%s", diff)
			}
		})
	}
	t.Run("v1 get", func(t *testing.T) {
		got := netSNMP(t, "snmpget", "-v1", "-c", "s3cret", addr, OIDSysName)
		if diff := cmp.Diff(got, []string{"edge1.par"}); diff != "" {
			t.Errorf("(-got +want)\n%s", diff)
		}
	})
}

func TestWrongCommunityIgnored(t *testing.T) {
	a := New("s3cret", testData)
	addr := startAgent(t, a)
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Community: "public", Version: gosnmp.Version2c,
		Timeout: 200 * time.Millisecond, Retries: 0}
	host, port, _ := net.SplitHostPort(addr)
	g.Target = host
	fmt.Sscan(port, &g.Port)
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	if _, err := g.Get([]string{OIDSysName}); err == nil {
		t.Fatal("wrong community answered")
	}
	if _, rejected := a.Requests(); rejected == 0 {
		t.Error("rejected request not counted")
	}
}

func TestHandleGarbage(t *testing.T) {
	a := New("s3cret", testData)
	inputs := [][]byte{nil, {0x30}, {0x30, 0x82, 0xff, 0xff}, []byte("hello world"), {0x30, 0x03, 0x02, 0x01, 0x01}}
	for i := 0; i < 200; i++ {
		b := make([]byte, i%64)
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
		inputs = append(inputs, b)
	}
	for _, in := range inputs {
		if _, ok := a.Handle(in); ok {
			t.Errorf("garbage %x answered", in)
		}
	}
}

func TestGetBulkEndOfMib(t *testing.T) {
	a := New("c", testData)
	addr := startAgent(t, a)
	host, port, _ := net.SplitHostPort(addr)
	g := &gosnmp.GoSNMP{Target: host, Community: "c", Version: gosnmp.Version2c, Timeout: time.Second}
	fmt.Sscan(port, &g.Port)
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	p, err := g.GetBulk([]string{OIDSysName, OIDIfAlias + ".3"}, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range p.Variables {
		got = append(got, fmt.Sprintf("%s %v", v.Name, v.Type))
	}
	want := []string{
		".1.3.6.1.2.1.2.2.1.2.2 OctetString",       // non-repeater: next after sysName
		".1.3.6.1.2.1.31.1.1.1.18.17 OctetString",  // repetition 1
		".1.3.6.1.2.1.31.1.1.1.18.17 EndOfMibView", // repetition 2: end, then stop
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want)\n%s", diff)
	}
}
