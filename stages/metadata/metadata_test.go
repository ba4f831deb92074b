package metadata

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

const pipeline = `
exporter "192.0.2.1" {
  name   = "edge1.par"
  group  = "edge"
  role   = "peering"
  site   = "paris"
  region = "eu"
  interface "17" {
    name         = "Gi0/0/17"
    description  = "Transit: Cogent"
    speed        = 10000
    boundary     = "external"
    provider     = "cogent"
    connectivity = "transit"
  }
  interface "18" {
    name = "Gi0/0/18"
  }
  default_interface {
    boundary = "internal"
    speed    = 1000
  }
}

exporter "2001:db8::1" {
  name   = "core1.fra"
  tenant = "acme"
}

default_interface {
  provider = "self"
}
`

func newEnricher(t testing.TB, src string) *Enricher {
	t.Helper()
	cfg, diags := dsl.DecodeString(src, Spec)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	e, diags := New(cfg, engine.Env{Metrics: prometheus.NewRegistry()})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return e
}

// fields is the part of a record this stage writes.
type fields struct {
	Exporter                                string
	In, Out                                 uint32
	Name, Group, Role, Site, Region, Tenant string
	InName, InDesc, InProvider, InConn      string
	InSpeed                                 uint64
	InBoundary                              string
	OutName, OutDesc, OutProvider, OutConn  string
	OutSpeed                                uint64
	OutBoundary                             string
}

func TestProcess(t *testing.T) {
	e := newEnricher(t, pipeline)
	b := flow.NewBatch()
	defer b.Release()
	add := func(exp string, in, out uint32, setBefore bool) {
		r := b.Append()
		r.ExporterAddress = netip.MustParseAddr(exp)
		r.InIfIndex, r.OutIfIndex = in, out
		if setBefore { // as enricher "snmp" would have
			r.ExporterName, r.InIfName, r.InIfDescription, r.InIfSpeed = "snmp-name", "snmp-if", "snmp-desc", 40000
		}
	}
	add("192.0.2.1", 17, 18, false)
	add("192.0.2.1", 18, 99, true)
	add("192.0.2.1", 0, 17, false)
	add("2001:db8::1", 5, 0, true)
	add("198.51.100.1", 3, 4, true)
	if err := e.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var got []fields
	for _, r := range b.Records {
		got = append(got, fields{Exporter: r.ExporterAddress.String(), In: r.InIfIndex, Out: r.OutIfIndex,
			Name: r.ExporterName, Group: r.ExporterGroup, Role: r.ExporterRole, Site: r.ExporterSite, Region: r.ExporterRegion, Tenant: r.ExporterTenant,
			InName: r.InIfName, InDesc: r.InIfDescription, InProvider: r.InIfProvider, InConn: r.InIfConnectivity, InSpeed: r.InIfSpeed, InBoundary: r.InIfBoundary.String(),
			OutName: r.OutIfName, OutDesc: r.OutIfDescription, OutProvider: r.OutIfProvider, OutConn: r.OutIfConnectivity, OutSpeed: r.OutIfSpeed, OutBoundary: r.OutIfBoundary.String()})
	}
	edge := fields{Exporter: "192.0.2.1", Name: "edge1.par", Group: "edge", Role: "peering", Site: "paris", Region: "eu"}
	with := func(f fields, mod func(*fields)) fields { mod(&f); return f }
	want := []fields{
		with(edge, func(f *fields) {
			f.In, f.Out = 17, 18
			f.InName, f.InDesc, f.InSpeed, f.InBoundary, f.InProvider, f.InConn = "Gi0/0/17", "Transit: Cogent", 10000, "external", "cogent", "transit"
			// 18 declares a name only: the exporter's default_interface, then the global one, fill the rest.
			f.OutName, f.OutSpeed, f.OutBoundary, f.OutProvider = "Gi0/0/18", 1000, "internal", "self"
		}),
		with(edge, func(f *fields) {
			f.In, f.Out = 18, 99
			// Declared values overwrite what snmp set; the rest of snmp's values stay.
			f.InName, f.InDesc, f.InSpeed, f.InBoundary, f.InProvider = "Gi0/0/18", "snmp-desc", 1000, "internal", "self"
			f.OutSpeed, f.OutBoundary, f.OutProvider = 1000, "internal", "self"
		}),
		with(edge, func(f *fields) {
			f.Out = 17
			f.OutName, f.OutDesc, f.OutSpeed, f.OutBoundary, f.OutProvider, f.OutConn = "Gi0/0/17", "Transit: Cogent", 10000, "external", "cogent", "transit"
		}),
		{Exporter: "2001:db8::1", In: 5, Name: "core1.fra", Tenant: "acme", InName: "snmp-if", InDesc: "snmp-desc", InSpeed: 40000, InProvider: "self"},
		{Exporter: "198.51.100.1", In: 3, Out: 4, Name: "snmp-name", InName: "snmp-if", InDesc: "snmp-desc", InSpeed: 40000, InProvider: "self", OutProvider: "self"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want)\n%s", diff)
	}
	if n := testutil.ToFloat64(e.unknown); n != 1 {
		t.Errorf("unknown exporter flows = %v, want 1", n)
	}
}

func TestDiagnostics(t *testing.T) {
	cases := []struct {
		src  string
		want string
		line int
	}{
		{"exporter \"edge1\" {\n}\n", `"edge1" is not an IP address`, 1},
		{"exporter \"192.0.2.1\" {}\n\nexporter \"192.0.2.1\" {\n}\n", `Exporter 192.0.2.1 is already declared at test.hcl:1`, 3},
		{"exporter \"192.0.2.1\" {\n  interface \"Gi0/0/1\" {}\n}\n", `"Gi0/0/1" is not an ifIndex`, 2},
		{"exporter \"192.0.2.1\" {\n  interface \"0\" {}\n}\n", `"0" is not an ifIndex`, 2},
		{"exporter \"192.0.2.1\" {\n  interface \"1\" {}\n  interface \"1\" {}\n}\n", `Interface 1 of exporter 192.0.2.1 is already declared`, 3},
		{"exporter \"192.0.2.1\" {\n  interface \"1\" {\n    boundary = \"externel\"\n  }\n}\n", `Did you mean "external"?`, 3},
		{"exporter \"192.0.2.1\" {\n  interface \"1\" {\n    speed = -1\n  }\n}\n", `must not be negative`, 3},
		{"exporter \"192.0.2.1\" {\n  nmae = \"x\"\n}\n", `nmae`, 2},
		{"default_interface {}\ndefault_interface {}\n", `Too many "default_interface" blocks`, 2},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			cfg, diags := dsl.DecodeString(c.src, Spec)
			if !diags.HasErrors() {
				_, diags = New(cfg, engine.Env{})
			}
			if !diags.HasErrors() {
				t.Fatalf("no error for:\n%s", c.src)
			}
			if !strings.Contains(diags.Error(), c.want) {
				t.Errorf("diagnostics %q do not contain %q", diags.Error(), c.want)
			}
			if d := diags[0]; d.Subject == nil || d.Subject.Start.Line != c.line {
				t.Errorf("diagnostic at %v, want line %d", d.Subject, c.line)
			}
		})
	}
}

// BenchmarkProcess is the steady state: every flow of a declared exporter.
func BenchmarkProcess(b *testing.B) {
	e := newEnricher(b, pipeline)
	batch := flow.NewBatch()
	for i := 0; i < flow.BatchSize; i++ {
		r := batch.Append()
		r.ExporterAddress = netip.MustParseAddr("192.0.2.1")
		r.InIfIndex, r.OutIfIndex = 17, uint32(18+i%3)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Process(ctx, batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*flow.BatchSize), "ns/flow")
}
