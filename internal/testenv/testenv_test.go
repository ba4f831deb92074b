package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Ports come from outside the ephemeral range, each once, and bind.
func TestFreePortDistinct(t *testing.T) {
	ephLo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		ephLo, _ = strconv.Atoi(strings.Fields(string(b))[0])
	}
	seen := map[int]bool{}
	for i := range 40 {
		network := []string{"tcp", "udp"}[i%2]
		p := FreePort(t, network)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if ephLo > 21000 && p >= ephLo {
			t.Errorf("port %d is in the ephemeral range (from %d)", p, ephLo)
		}
	}
}

// A port reserved by one test process is not handed to another: the child
// reserves half of a narrow range and holds it while this process takes the
// other half.
func TestFreePortAcrossProcesses(t *testing.T) {
	if os.Getenv("TESTENV_HOLD_PORTS") != "" {
		holdPorts(t)
		return
	}
	lo := 20000 + os.Getpid()%10000
	narrowRange = [2]int{lo, lo + 9}
	defer func() { narrowRange = [2]int{} }()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFreePortAcrossProcesses$")
	cmd.Env = append(os.Environ(), "TESTENV_HOLD_PORTS="+strconv.Itoa(lo))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	held := map[int]bool{}
	sc := bufio.NewScanner(stdout)
	for lines := 0; lines < 5 && sc.Scan(); {
		if p, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "port ")); err == nil && strings.HasPrefix(sc.Text(), "port ") {
			held[p] = true
			lines++
		}
	}
	if len(held) != 5 {
		t.Fatalf("the child reserved %v, want 5 ports", held)
	}
	mine := map[int]bool{}
	for range 5 {
		p := FreePort(t, "tcp")
		if held[p] || mine[p] {
			t.Errorf("port %d is reserved already", p)
		}
		mine[p] = true
	}
}

func holdPorts(t *testing.T) {
	lo, _ := strconv.Atoi(os.Getenv("TESTENV_HOLD_PORTS"))
	narrowRange = [2]int{lo, lo + 9}
	for range 5 {
		fmt.Printf("port %d\n", FreePort(t, "tcp"))
	}
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
}
