package netflow

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
)

func TestConfig(t *testing.T) {
	cases := []struct {
		name, hcl, err string
	}{
		{name: "defaults", hcl: ``},
		{name: "rates", hcl: `default_sampling_rate = 100
override_sampling_rate = { "10.0.0.0/8" = 10, "2001:db8::/32" = 1000 }
missing_sampling_rate = "drop"`},
		{name: "bad listen", hcl: `listen = "2055"`, err: "Invalid listen address"},
		{name: "bad sockets", hcl: `sockets = 0`, err: "Invalid number of sockets"},
		{name: "bad rate", hcl: `default_sampling_rate = "often"`, err: "Invalid sampling rate"},
		{name: "bad prefix", hcl: `override_sampling_rate = { "10.0.0.0" = 10 }`, err: "is not a CIDR prefix"},
		{name: "bad missing", hcl: `missing_sampling_rate = "kep"`, err: `Did you mean "keep"`},
		{name: "bad pending", hcl: `pending_limit = 0`, err: "Invalid pending limit"},
		{name: "bad pending bytes", hcl: `pending_bytes = "2MiB"
pending_bytes_total = "1MiB"`, err: "pending_bytes_total must be at least pending_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := dsl.DecodeString(tc.hcl, Spec)
			if !diags.HasErrors() {
				_, diags = New(cfg, engine.Env{ID: engine.ID{Kind: engine.KindSource, Type: "netflow", Name: "x"}})
			}
			switch {
			case tc.err == "" && diags.HasErrors():
				t.Fatalf("unexpected diagnostics: %v", diags)
			case tc.err != "" && !strings.Contains(diags.Error(), tc.err):
				t.Fatalf("diagnostics %q, want %q", diags.Error(), tc.err)
			}
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic without range: %v", d)
				}
			}
		})
	}
	cfg, _ := dsl.DecodeString(`listen = "127.0.0.1:9995"`, Spec)
	s, _ := New(cfg, engine.Env{})
	if l := s.Listens(); len(l) != 1 || l[0].Network != "udp" || l[0].Address != "127.0.0.1:9995" {
		t.Errorf("Listens() = %+v", l)
	}
}

// TestSourceStateAcrossRestart sends a template to a running source with two
// SO_REUSEPORT sockets, restarts it, and sends only data: the flows decode
// with the template from the state file.
func TestSourceStateAcrossRestart(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	tp, dp, want := generatedPackets(r, false, false, 10)
	state := filepath.Join(t.TempDir(), "state.json")
	src := `listen = "127.0.0.1:0"
sockets = 2
state_file = "` + state + `"`
	send := func(addr string, pkt []byte) {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	addr, flows, stop := startSource(t, src)
	send(addr, tp)
	send(addr, dp)
	waitFor("first flows", func() bool { return len(flows()) == len(want) })
	stop()
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("state file not written: %v", err)
	}

	addr, flows, stop = startSource(t, src)
	defer stop()
	send(addr, dp)
	waitFor("flows after restart", func() bool { return len(flows()) == len(want) })
	got := flows()
	for i := range got {
		if got[i].SrcAddr != want[i].src || got[i].Bytes != want[i].bytes {
			t.Errorf("flow %d: %v %d, want %v %d", i, got[i].SrcAddr, got[i].Bytes, want[i].src, want[i].bytes)
		}
	}
}
