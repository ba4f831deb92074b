package snmp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/exporter/snmpagent"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
)

// newEnricher decodes src and builds an enricher, failing on diagnostics.
func newEnricher(t testing.TB, src string, env engine.Env) *Enricher {
	t.Helper()
	cfg, diags := dsl.DecodeString(src, Spec)
	if diags.HasErrors() {
		t.Fatalf("decode: %s", diags.Error())
	}
	if env.Metrics == nil {
		env.Metrics = prometheus.NewRegistry()
	}
	e, diags := New(cfg, env)
	if diags.HasErrors() {
		t.Fatalf("new: %s", diags.Error())
	}
	return e
}

func start(t testing.TB, e *Enricher) {
	t.Helper()
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
}

// startAgent serves data with snmpagent on a free port and returns it.
func startAgent(t testing.TB, community string, data snmpagent.Data) (*snmpagent.Agent, int) {
	t.Helper()
	a := snmpagent.New(community, data)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Serve(ctx, conn); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a, conn.LocalAddr().(*net.UDPAddr).Port
}

type rec struct {
	Exporter          string
	In, Out           uint32
	ExporterName      string
	InName, OutName   string
	InDesc, OutDesc   string
	InSpeed, OutSpeed uint64
}

func process(t testing.TB, e *Enricher, in []rec) []rec {
	t.Helper()
	b := flow.NewBatch()
	defer b.Release()
	for _, x := range in {
		r := b.Append()
		r.ExporterAddress = netip.MustParseAddr(x.Exporter)
		r.InIfIndex, r.OutIfIndex = x.In, x.Out
		r.ExporterName, r.InIfName, r.InIfDescription = x.ExporterName, x.InName, x.InDesc
	}
	if err := e.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var out []rec
	for _, r := range b.Records {
		out = append(out, rec{Exporter: r.ExporterAddress.String(), In: r.InIfIndex, Out: r.OutIfIndex,
			ExporterName: r.ExporterName, InName: r.InIfName, OutName: r.OutIfName, InDesc: r.InIfDescription,
			OutDesc: r.OutIfDescription, InSpeed: r.InIfSpeed, OutSpeed: r.OutIfSpeed})
	}
	return out
}

var demoData = snmpagent.Data{
	SysName: "edge1.par",
	Interfaces: []snmpagent.Interface{
		{Index: 1, Name: "Gi0/0/1", Description: "Transit: Cogent", SpeedMbps: 10000},
		{Index: 2, Name: "Gi0/0/2", Description: "PNI: Google", SpeedMbps: 100000},
		{Index: 3, Name: "Gi0/0/3", Descr: "GigabitEthernet0/0/3", SpeedMbps: 1000},
		{Index: 70000, Name: "ae0.100", Description: "IX: FranceIX", SpeedMbps: 40000},
	},
}

func TestEnrichFromAgent(t *testing.T) {
	_, port := startAgent(t, "s3cret", demoData)
	reg := prometheus.NewRegistry()
	e := newEnricher(t, fmt.Sprintf(`
credentials = {
  "0.0.0.0/0"    = { community = "wrong" }
  "127.0.0.0/8"  = { version = "2c", community = "s3cret" }
  "127.0.0.2/32" = { community = "also-wrong" }
}
port = %d
wait = "5s"
`, port), engine.Env{Metrics: reg})
	start(t, e)
	in := []rec{
		{Exporter: "127.0.0.1", In: 1, Out: 2},
		{Exporter: "127.0.0.1", In: 3, Out: 70000},
		{Exporter: "127.0.0.1", In: 0, Out: 1},
		{Exporter: "127.0.0.1", In: 2, Out: 3, ExporterName: "kept", InName: "kept-name", InDesc: "kept-desc"},
	}
	want := []rec{
		{Exporter: "127.0.0.1", In: 1, Out: 2, ExporterName: "edge1.par", InName: "Gi0/0/1", OutName: "Gi0/0/2",
			InDesc: "Transit: Cogent", OutDesc: "PNI: Google", InSpeed: 10000, OutSpeed: 100000},
		{Exporter: "127.0.0.1", In: 3, Out: 70000, ExporterName: "edge1.par", InName: "Gi0/0/3", OutName: "ae0.100",
			InDesc: "GigabitEthernet0/0/3", OutDesc: "IX: FranceIX", InSpeed: 1000, OutSpeed: 40000},
		{Exporter: "127.0.0.1", In: 0, Out: 1, ExporterName: "edge1.par", OutName: "Gi0/0/1", OutDesc: "Transit: Cogent", OutSpeed: 10000},
		{Exporter: "127.0.0.1", In: 2, Out: 3, ExporterName: "kept", InName: "kept-name", OutName: "Gi0/0/3",
			InDesc: "kept-desc", OutDesc: "GigabitEthernet0/0/3", InSpeed: 100000, OutSpeed: 1000},
	}
	// First batch: misses, waits for the poll, enriched.
	if diff := cmp.Diff(process(t, e, in), want); diff != "" {
		t.Errorf("first batch (-got +want)\n%s", diff)
	}
	// Second batch: cache hits only.
	if diff := cmp.Diff(process(t, e, in), want); diff != "" {
		t.Errorf("second batch (-got +want)\n%s", diff)
	}
	for name, c := range map[string]struct {
		c    prometheus.Counter
		want float64
	}{
		"polls": {e.m.polls, 1}, "poll errors": {e.m.pollErrors, 0}, "hits": {e.m.hits, 4},
		"misses": {e.m.misses, 4}, "unenriched": {e.m.unenriched, 0},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", name, got, c.want)
		}
	}
}

func TestAgentsOverride(t *testing.T) {
	_, port := startAgent(t, "public", demoData)
	e := newEnricher(t, fmt.Sprintf(`
agents = { "192.0.2.1" = "127.0.0.1:%d" }
wait   = "5s"
`, port), engine.Env{})
	start(t, e)
	got := process(t, e, []rec{{Exporter: "192.0.2.1", In: 1}})
	if got[0].ExporterName != "edge1.par" || got[0].InName != "Gi0/0/1" {
		t.Errorf("got %+v", got[0])
	}
}

// TestBadAgents: an agent that never answers, one that answers garbage, one
// with the wrong community. Nothing crashes; flows pass unenriched, counted;
// the negative cache stops the enricher from polling again at once.
func TestBadAgents(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	garbage, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	go func() {
		buf := make([]byte, 65536)
		seed := uint32(1)
		for {
			n, from, err := garbage.ReadFrom(buf)
			if err != nil {
				return
			}
			// Answer random bytes, sometimes a truncated copy of the
			// request with a flipped byte (almost an SNMP message).
			out := make([]byte, 1+int(seed%200))
			for i := range out {
				seed = seed*1664525 + 1013904223
				out[i] = byte(seed >> 24)
			}
			if seed%2 == 0 && n > 4 {
				out = append([]byte(nil), buf[:n-int(seed%4)]...)
				out[int(seed>>8)%len(out)] ^= 0xff
			}
			_, _ = garbage.WriteTo(out, from)
		}
	}()
	_, goodPort := startAgent(t, "right", demoData)

	cases := []struct {
		name  string
		agent string
		cred  string
	}{
		{"timeout", silent.LocalAddr().String(), "public"},
		{"garbage", garbage.LocalAddr().String(), "public"},
		{"wrong community", fmt.Sprintf("127.0.0.1:%d", goodPort), "wrong"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnricher(t, fmt.Sprintf(`
credentials  = { "0.0.0.0/0" = { community = %q } }
agents       = { "192.0.2.1" = %q }
timeout      = "100ms"
retries      = 1
wait         = "2s"
negative_ttl = "1h"
`, c.cred, c.agent), engine.Env{})
			start(t, e)
			in := []rec{{Exporter: "192.0.2.1", In: 1, Out: 2}, {Exporter: "192.0.2.1", In: 3}}
			want := []rec{{Exporter: "192.0.2.1", In: 1, Out: 2}, {Exporter: "192.0.2.1", In: 3}}
			for i := 0; i < 3; i++ {
				if diff := cmp.Diff(process(t, e, in), want); diff != "" {
					t.Errorf("batch %d (-got +want)\n%s", i, diff)
				}
			}
			if got := testutil.ToFloat64(e.m.polls); got != 1 {
				t.Errorf("polls = %v, want 1 (negative cache)", got)
			}
			if got := testutil.ToFloat64(e.m.pollErrors); got != 1 {
				t.Errorf("poll errors = %v, want 1", got)
			}
			if got := testutil.ToFloat64(e.m.unenriched); got != 6 {
				t.Errorf("unenriched = %v, want 6", got)
			}
		})
	}
}

// TestIfIndexRemap: the agent renumbers its interfaces between two polls;
// the enricher serves the new mapping after the refresh and never mixes both.
func TestIfIndexRemap(t *testing.T) {
	agent, port := startAgent(t, "public", demoData)
	e := newEnricher(t, fmt.Sprintf(`
port         = %d
wait         = "5s"
negative_ttl = "0s"
`, port), engine.Env{})
	start(t, e)
	got := process(t, e, []rec{{Exporter: "127.0.0.1", In: 1, Out: 2}})
	if got[0].InName != "Gi0/0/1" || got[0].OutName != "Gi0/0/2" {
		t.Fatalf("before: %+v", got[0])
	}
	agent.SetData(snmpagent.Data{SysName: "edge1.par", Interfaces: []snmpagent.Interface{
		{Index: 1, Name: "Gi0/0/2", Description: "PNI: Google", SpeedMbps: 100000},
		{Index: 5, Name: "Gi0/0/1", Description: "Transit: Cogent", SpeedMbps: 10000},
	}})
	// An unknown ifIndex (5) of a known exporter triggers a new poll.
	// A record of that batch is filled from one snapshot only, never half old, half new.
	got = process(t, e, []rec{{Exporter: "127.0.0.1", In: 5, Out: 1}})
	got = append(got, process(t, e, []rec{{Exporter: "127.0.0.1", In: 2}})...)
	want := []rec{
		{Exporter: "127.0.0.1", In: 5, Out: 1, ExporterName: "edge1.par", InName: "Gi0/0/1", OutName: "Gi0/0/2",
			InDesc: "Transit: Cogent", OutDesc: "PNI: Google", InSpeed: 10000, OutSpeed: 100000},
		{Exporter: "127.0.0.1", In: 2, ExporterName: "edge1.par"}, // gone from the agent: polled again (negative_ttl 0s), unenriched
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("after remap (-got +want)\n%s", diff)
	}
	if got := testutil.ToFloat64(e.m.polls); got != 3 {
		t.Errorf("polls = %v, want 3", got)
	}
	if got := testutil.ToFloat64(e.m.unenriched); got != 1 {
		t.Errorf("unenriched = %v, want 1", got)
	}
}

func TestRefreshAndExpiry(t *testing.T) {
	agent, port := startAgent(t, "public", demoData)
	e := newEnricher(t, fmt.Sprintf("port = %d\nwait = \"5s\"\nrefresh = \"10m\"\ncache_ttl = \"1h\"\n", port), engine.Env{})
	start(t, e)
	process(t, e, []rec{{Exporter: "127.0.0.1", In: 1}})
	d := demoData
	d.SysName = "edge1-renamed.par"
	agent.SetData(d)
	// Eleven minutes later the refresher polls again.
	before := testutil.ToFloat64(e.m.polls)
	e.sweep(time.Now().Add(11 * time.Minute))
	st := (*e.exporters.Load())[netip.MustParseAddr("127.0.0.1")]
	waitPoll(t, e, st, before)
	if got := process(t, e, []rec{{Exporter: "127.0.0.1", In: 1}}); got[0].ExporterName != "edge1-renamed.par" {
		t.Errorf("after refresh: %+v", got[0])
	}
	// Two hours later, an exporter not seen is forgotten.
	e.sweep(time.Now().Add(2 * time.Hour))
	if n := len(*e.exporters.Load()); n != 0 {
		t.Errorf("%d exporters left after expiry", n)
	}
}

// waitPoll waits until a poll of st started after the poll counter read
// before has ended: it may have ended already.
func waitPoll(t *testing.T, e *Enricher, st *exporterState, before float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st.mu.Lock()
		ch := st.inflight
		st.mu.Unlock()
		if ch != nil {
			select {
			case <-ch:
			case <-time.After(time.Until(deadline)):
				t.Fatal("poll did not end")
			}
		} else if testutil.ToFloat64(e.m.polls) > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no poll started")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	_, port := startAgent(t, "public", demoData)
	e := newEnricher(t, fmt.Sprintf("port = %d\nwait = \"5s\"\n", port), engine.Env{StateDir: dir, ID: engine.ID{Name: "ifaces"}})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	process(t, e, []rec{{Exporter: "127.0.0.1", In: 1}})
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "snmp-ifaces.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("Transit: Cogent")) || bytes.Contains(data, []byte("public")) {
		t.Errorf("state file: %s", data)
	}
	// A new enricher whose agent is unreachable serves the persisted data.
	e2 := newEnricher(t, "port = 9\ntimeout = \"50ms\"\nretries = 0\nwait = \"0s\"\n", engine.Env{StateDir: dir, ID: engine.ID{Name: "ifaces"}})
	start(t, e2)
	got := process(t, e2, []rec{{Exporter: "127.0.0.1", In: 70000, Out: 1}})
	want := []rec{{Exporter: "127.0.0.1", In: 70000, Out: 1, ExporterName: "edge1.par", InName: "ae0.100", OutName: "Gi0/0/1",
		InDesc: "IX: FranceIX", OutDesc: "Transit: Cogent", InSpeed: 40000, OutSpeed: 10000}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want)\n%s", diff)
	}
}

func TestConfigDiagnostics(t *testing.T) {
	cases := []struct {
		src  string
		want string // substring of the diagnostics
	}{
		{`credentials = { "10.0.0/8" = { community = "x" } }`, `"10.0.0/8" is not a CIDR prefix`},
		{`credentials = { "10.0.0.0/8" = { comunity = "x" } }`, `Did you mean "community"?`},
		{`credentials = { "10.0.0.0/8" = { version = "4" } }`, `version "4" is not supported`},
		{`credentials = { "10.0.0.0/8" = { version = "3" } }`, `needs a "user"`},
		{`credentials = { "10.0.0.0/8" = { version = "3", user = "u", auth_protocol = "SHA1", auth_passphrase = "topsecret-pass" } }`, `auth_protocol "SHA1" is not one of`},
		{`credentials = { "10.0.0.0/8" = { version = "3", user = "u", auth_protocol = "SHA", auth_passphrase = "short" } }`, `at least 8 characters`},
		{`credentials = { "10.0.0.0/8" = { version = "3", user = "u", priv_protocol = "AES", priv_passphrase = "topsecret-pass" } }`, `priv_protocol needs auth_protocol`},
		{`credentials = { "10.0.0.0/8" = { version = "3", user = "u", auth_protocol = "SHA", auth_passphrase = "topsecret-pass", security_level = "authPriv" } }`, `needs the matching`},
		{`credentials = { "10.0.0.0/8" = { community = "topsecret-pass", user = "u" } }`, `applies to SNMP v3 only`},
		{`credentials = { "10.0.0.0/8" = {}, "10.0.0.1/8" = {} }`, `the same prefix`},
		{`credentials = "public"`, `A map of CIDR prefix`},
		{`agents = { "router1" = "10.0.0.1" }`, `"router1" is not an exporter address`},
		{`agents = { "10.0.0.1" = "10.0.0.1:x" }`, `is not an address or address:port`},
		{`port = 0`, `A UDP port`},
		{`max_concurrent_polls = 0`, `concurrent polls`},
		{`wait = "1m"`, `must not wait`},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			cfg, diags := dsl.DecodeString(c.src, Spec)
			if !diags.HasErrors() {
				_, diags = New(cfg, engine.Env{})
			}
			if !diags.HasErrors() {
				t.Fatalf("no error for %s", c.src)
			}
			msg := diags.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("diagnostics %q do not contain %q", msg, c.want)
			}
			if strings.Contains(msg, "topsecret") {
				t.Errorf("diagnostics leak a secret: %s", msg)
			}
			for _, d := range diags {
				if d.Subject == nil || d.Subject.Start.Line != 1 {
					t.Errorf("diagnostic without the attribute's range: %+v", d)
				}
			}
		})
	}
	// And a valid v3 configuration decodes, most specific prefix first.
	cfg, diags := dsl.DecodeString(`credentials = {
  "0.0.0.0/0"   = { community = "c1" }
  "10.0.0.0/8"  = { version = "3", user = "u", auth_protocol = "sha256", auth_passphrase = "authpass1", priv_protocol = "AES256C", priv_passphrase = "privpass1", context = "vrf" }
  "10.1.0.0/16" = { version = "3", user = "u2", auth_protocol = "MD5", auth_passphrase = "authpass1", security_level = "authNoPriv" }
}`, Spec)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	e, diags := New(cfg, engine.Env{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for addr, user := range map[string]string{"10.1.2.3": "u2", "10.2.0.1": "u", "192.0.2.1": ""} {
		c, ok := e.creds.lookup(netip.MustParseAddr(addr))
		if !ok || c.user != user {
			t.Errorf("%s: credential %v %v, want user %q", addr, c.user, ok, user)
		}
	}
	c, _ := e.creds.lookup(netip.MustParseAddr("10.2.0.1"))
	if c.authProto != gosnmp.SHA256 || c.privProto != gosnmp.AES256C || c.level != gosnmp.AuthPriv || c.context != "vrf" {
		t.Errorf("v3 credential: %+v", c)
	}
}

func TestSecretsRedacted(t *testing.T) {
	s := NewSecret("hunter2-community")
	c := credential{community: s, authPass: NewSecret("hunter2-auth"), privPass: NewSecret("hunter2-priv"), user: "bob"}
	var out []string
	out = append(out, fmt.Sprint(s), fmt.Sprintf("%s %v %+v %#v %q %x", s, s, c, c, s, s), s.String())
	j, _ := json.Marshal(map[string]any{"c": s, "cred": struct{ P Secret }{c.authPass}})
	out = append(out, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "community", s, "cred", c.privPass)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "community", s)
	out = append(out, buf.String())
	out = append(out, scrub(fmt.Errorf("agent said hunter2-community"), c).Error())
	for _, o := range out {
		if strings.Contains(o, "hunter2") {
			t.Errorf("secret leaked: %s", o)
		}
	}
	if s.Reveal() != "hunter2-community" {
		t.Error("Reveal")
	}
}

// snmpd is a private Net-SNMP agent started for one test.
type snmpd struct {
	port                        int
	community, user, auth, priv string
	sysName                     string
	env                         []string
}

func startSnmpd(t testing.TB, extra string) *snmpd {
	t.Helper()
	path := testenv.LookPath(t, "snmpd", "snmpd")
	dir := t.TempDir()
	s := &snmpd{port: testenv.FreePort(t, "udp"), community: "c0mmunity-" + strconv.Itoa(os.Getpid()),
		user: "flowengine", auth: "auth-passphrase-1", priv: "priv-passphrase-1", sysName: "snmpd-test.example"}
	s.env = append(os.Environ(), "MIBS=", "MIBDIRS="+dir, "SNMP_PERSISTENT_DIR="+filepath.Join(dir, "persist"), "SNMPCONFPATH="+dir)
	conf := filepath.Join(dir, "snmpd.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`rocommunity %s 127.0.0.1
sysName %s
createUser %s SHA256 "%s" AES "%s"
rouser %s priv
%s`, s.community, s.sysName, s.user, s.auth, s.priv, s.user, extra)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "-f", "-Lf", filepath.Join(dir, "log"), "-C", "-c", conf, "-p", filepath.Join(dir, "pid"),
		fmt.Sprintf("udp:127.0.0.1:%d", s.port))
	cmd.Env = s.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for i := 0; ; i++ {
		g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(s.port), Community: s.community, Version: gosnmp.Version2c,
			Timeout: 200 * time.Millisecond}
		if err := g.Connect(); err == nil {
			_, err = g.Get([]string{oidSysName})
			g.Conn.Close()
			if err == nil {
				return s
			}
		}
		if i == 50 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("snmpd did not answer: %s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// walk runs snmpbulkwalk (the oracle) and returns value by last OID component.
func (s *snmpd) walk(t *testing.T, oid string) map[uint32]string {
	t.Helper()
	path := testenv.LookPath(t, "snmpbulkwalk", "snmp")
	cmd := exec.Command(path, "-v2c", "-c", s.community, "-On", "-Oq", "-Oe", fmt.Sprintf("127.0.0.1:%d", s.port), oid)
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("snmpbulkwalk %s: %v %s", oid, err, stderr.String())
	}
	res := map[uint32]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, val, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(name, oid+".") {
			continue
		}
		n, err := strconv.ParseUint(name[len(oid)+1:], 10, 32)
		if err != nil {
			continue
		}
		res[uint32(n)] = strings.Trim(val, `"`)
	}
	return res
}

func TestSnmpd(t *testing.T) {
	s := startSnmpd(t, "")
	// The oracle: what Net-SNMP's own client reads from the agent.
	names, descrs, aliases := s.walk(t, oidIfName), s.walk(t, oidIfDescr), s.walk(t, oidIfAlias)
	highs, speeds := s.walk(t, oidIfHighSpeed), s.walk(t, oidIfSpeed)
	if len(names) == 0 {
		t.Fatal("oracle found no interface")
	}
	var in []rec
	var want []rec
	for idx, name := range names {
		desc := aliases[idx]
		if desc == "" {
			desc = descrs[idx]
		}
		speed, _ := strconv.ParseUint(highs[idx], 10, 64)
		if speed == 0 {
			bps, _ := strconv.ParseUint(speeds[idx], 10, 64)
			speed = bps / 1e6
		}
		in = append(in, rec{Exporter: "127.0.0.1", In: idx})
		want = append(want, rec{Exporter: "127.0.0.1", In: idx, ExporterName: s.sysName, InName: name, InDesc: desc, InSpeed: speed})
	}
	creds := map[string]string{
		"v2c": fmt.Sprintf(`{ community = %q }`, s.community),
		"v3 authPriv": fmt.Sprintf(`{ version = "3", user = %q, auth_protocol = "SHA256", auth_passphrase = %q, priv_protocol = "AES", priv_passphrase = %q }`,
			s.user, s.auth, s.priv),
	}
	for name, cred := range creds {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			e := newEnricher(t, fmt.Sprintf("credentials = { \"127.0.0.1/32\" = %s }\nport = %d\nwait = \"5s\"\n", cred, s.port),
				engine.Env{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			start(t, e)
			if diff := cmp.Diff(process(t, e, in), want); diff != "" {
				t.Errorf("(-got +want)\n%s", diff)
			}
			if got := testutil.ToFloat64(e.m.pollErrors); got != 0 {
				t.Errorf("poll errors: %v; logs:\n%s", got, logs.String())
			}
			for _, secret := range []string{s.community, s.auth, s.priv} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("logs leak a secret: %s", logs.String())
				}
			}
		})
	}
	t.Run("v3 wrong passphrase", func(t *testing.T) {
		var logs bytes.Buffer
		e := newEnricher(t, fmt.Sprintf(`credentials = { "127.0.0.1/32" = { version = "3", user = %q, auth_protocol = "SHA256", auth_passphrase = "not-the-passphrase", priv_protocol = "AES", priv_passphrase = %q } }
port = %d
timeout = "200ms"
retries = 0
wait = "5s"
`, s.user, s.priv, s.port), engine.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		start(t, e)
		got := process(t, e, in[:1])
		if got[0].InName != "" || testutil.ToFloat64(e.m.pollErrors) != 1 || testutil.ToFloat64(e.m.unenriched) != 1 {
			t.Errorf("got %+v, errors %v", got[0], testutil.ToFloat64(e.m.pollErrors))
		}
		if strings.Contains(logs.String(), "not-the-passphrase") || strings.Contains(logs.String(), s.priv) {
			t.Errorf("logs leak a secret: %s", logs.String())
		}
	})
}

func manyInterfaces(n int) snmpagent.Data {
	d := snmpagent.Data{SysName: "big.example"}
	for i := 1; i <= n; i++ {
		d.Interfaces = append(d.Interfaces, snmpagent.Interface{Index: uint32(i), Name: fmt.Sprintf("Ethernet%d/%d", i/48, i%48),
			Description: fmt.Sprintf("Customer: cust-%04d", i), SpeedMbps: 10000})
	}
	return d
}

func TestPoll1000(t *testing.T) {
	_, port := startAgent(t, "public", manyInterfaces(1000))
	tgt := pollTarget{agent: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), cred: defaultCredentials[0],
		timeout: time.Second, retries: 1, maxRep: 20}
	snap, err := poll(context.Background(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	if snap.count != 1000 || snap.lookup(1000).Description != "Customer: cust-1000" {
		t.Errorf("count %d, last %+v", snap.count, snap.lookup(1000))
	}
}

// BenchmarkPoll1000 polls one agent serving 1,000 interfaces with GETBULK.
func BenchmarkPoll1000(b *testing.B) {
	_, port := startAgent(b, "public", manyInterfaces(1000))
	tgt := pollTarget{agent: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), cred: defaultCredentials[0],
		timeout: time.Second, retries: 1, maxRep: 20}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := poll(context.Background(), tgt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcessCacheHit is the steady state: every exporter and interface
// in the cache. "fresh" clears the enriched fields before each round (the
// clearing is included in the time), "refill" processes the same records
// again (fields already set, lookups only).
func BenchmarkProcessCacheHit(b *testing.B) {
	for _, fresh := range []bool{true, false} {
		name := "refill"
		if fresh {
			name = "fresh"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnricher(b, "", engine.Env{})
			for x := 1; x <= 4; x++ {
				st := e.state(netip.AddrFrom4([4]byte{192, 0, 2, byte(x)}))
				s := &snapshot{Polled: time.Now(), SysName: fmt.Sprintf("edge%d", x)}
				m := map[uint32]iface{}
				for i := uint32(1); i <= 64; i++ {
					m[i] = iface{Name: fmt.Sprintf("Gi0/0/%d", i), Description: "Transit: Cogent", Speed: 10000}
				}
				s.build(m)
				st.snap.Store(s)
			}
			batch := flow.NewBatch()
			for i := 0; i < flow.BatchSize; i++ {
				r := batch.Append()
				r.ExporterAddress = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + (i/256)%4)})
				r.InIfIndex, r.OutIfIndex = uint32(1+i%64), uint32(1+(i*7)%64)
			}
			ctx := context.Background()
			_ = e.Process(ctx, batch)
			b.ReportAllocs()
			for b.Loop() {
				if fresh {
					for i := range batch.Records {
						r := &batch.Records[i]
						r.ExporterName, r.InIfName, r.OutIfName, r.InIfDescription, r.OutIfDescription = "", "", "", "", ""
						r.InIfSpeed, r.OutIfSpeed = 0, 0
					}
				}
				_ = e.Process(ctx, batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*flow.BatchSize), "ns/flow")
			if testutil.ToFloat64(e.m.misses) != 0 {
				b.Fatal("misses in the cache-hit benchmark")
			}
		})
	}
}

// overrides1000 makes snmpd serve 1,000 more interfaces (ifIndex 1001-2000).
func overrides1000() string {
	var b strings.Builder
	for i := 1001; i <= 2000; i++ {
		fmt.Fprintf(&b, "override %s.%d octet_str \"Ethernet%d\"\n", oidIfName[1:], i, i)
		fmt.Fprintf(&b, "override %s.%d octet_str \"Ethernet%d\"\n", oidIfDescr[1:], i, i)
		fmt.Fprintf(&b, "override %s.%d octet_str \"Customer: cust-%d\"\n", oidIfAlias[1:], i, i)
		fmt.Fprintf(&b, "override %s.%d uinteger 10000\n", oidIfHighSpeed[1:], i)
	}
	return b.String()
}

func snmpdTarget(s *snmpd) pollTarget {
	return pollTarget{agent: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.port)),
		cred:    credential{version: gosnmp.Version2c, community: NewSecret(s.community)},
		timeout: time.Second, retries: 1, maxRep: 20}
}

func TestSnmpd1000(t *testing.T) {
	s := startSnmpd(t, overrides1000())
	snap, err := poll(context.Background(), snmpdTarget(s))
	if err != nil {
		t.Fatal(err)
	}
	if snap.count < 1000 {
		t.Errorf("%d interfaces, want at least 1000", snap.count)
	}
	for _, idx := range []uint32{1001, 1500, 2000} {
		want := iface{Name: fmt.Sprintf("Ethernet%d", idx), Description: fmt.Sprintf("Customer: cust-%d", idx), Speed: 10000, ok: true}
		if got := snap.lookup(idx); got == nil || *got != want {
			t.Errorf("ifIndex %d: %+v, want %+v", idx, got, want)
		}
	}
}

// BenchmarkPoll1000Snmpd polls Net-SNMP's snmpd serving 1,000 interfaces (plus
// the machine's own) with GETBULK.
func BenchmarkPoll1000Snmpd(b *testing.B) {
	s := startSnmpd(b, overrides1000())
	tgt := snmpdTarget(s)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := poll(context.Background(), tgt); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWaitBounded: a batch waits at most `wait` for a poll in flight; the
// poll goes on in the background and later batches get its result.
func TestWaitBounded(t *testing.T) {
	slow, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	agent := snmpagent.New("public", demoData)
	release := make(chan struct{})
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := slow.ReadFrom(buf)
			if err != nil {
				return
			}
			<-release // hold every answer until the test lets go
			if resp, ok := agent.Handle(buf[:n]); ok {
				_, _ = slow.WriteTo(resp, from)
			}
		}
	}()
	e := newEnricher(t, fmt.Sprintf(`
agents  = { "192.0.2.1" = %q }
timeout = "10s"
wait    = "20ms"
`, slow.LocalAddr().String()), engine.Env{})
	start(t, e)
	got := process(t, e, []rec{{Exporter: "192.0.2.1", In: 1}})
	if got[0].InName != "" {
		t.Fatalf("enriched before the agent answered: %+v", got[0])
	}
	st := (*e.exporters.Load())[netip.MustParseAddr("192.0.2.1")]
	st.mu.Lock()
	inflight := st.inflight
	st.mu.Unlock()
	if inflight == nil {
		t.Fatal("Process returned after the poll ended, not after wait")
	}
	if got := testutil.ToFloat64(e.m.unenriched); got != 1 {
		t.Errorf("unenriched = %v, want 1", got)
	}
	close(release)
	<-inflight
	if got := process(t, e, []rec{{Exporter: "192.0.2.1", In: 1}}); got[0].InName != "Gi0/0/1" {
		t.Errorf("after the poll: %+v", got[0])
	}
}
