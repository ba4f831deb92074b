package classify

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

func testEnv() engine.Env {
	return engine.Env{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry(),
		EvalContext: &hcl.EvalContext{Functions: dsl.Functions()}}
}

func newExporterT(t testing.TB, src string) *Exporter {
	t.Helper()
	cfg, diags := dsl.DecodeString(src, ExporterSpec)
	if diags.HasErrors() {
		t.Fatalf("decode: %s", diags.Error())
	}
	e, diags := NewExporter(cfg, testEnv())
	if diags.HasErrors() {
		t.Fatalf("new: %s", diags.Error())
	}
	return e
}

func newInterfaceT(t testing.TB, src string) *Interface {
	t.Helper()
	cfg, diags := dsl.DecodeString(src, InterfaceSpec)
	if diags.HasErrors() {
		t.Fatalf("decode: %s", diags.Error())
	}
	c, diags := NewInterface(cfg, testEnv())
	if diags.HasErrors() {
		t.Fatalf("new: %s", diags.Error())
	}
	return c
}

const exporterRules = `
rule {
  when   = exporter.name == "bad"
  reject = true
}
rule {
  when  = cidrcontains("10.1.0.0/16", exporter.address)
  site  = regex("^\\w+\\.(\\w+)", exporter.name)[0]
  group = "core"
}
rule {
  when   = imatch("^edge", exporter.name)
  role   = "edge"
  tenant = upper("acme")
}
rule {
  region = "default"
}
`

type expOut struct{ Name, Group, Role, Site, Region, Tenant string }

func TestExporterRules(t *testing.T) {
	e := newExporterT(t, exporterRules)
	cases := []struct {
		name, addr, exporter string
		want                 *expOut // nil: rejected
	}{
		{"computed site", "10.1.2.3", "r1.paris.example", &expOut{Name: "r1.paris.example", Group: "core", Site: "paris"}},
		{"first match wins", "10.1.2.4", "edge1.lyon", &expOut{Name: "edge1.lyon", Group: "core", Site: "lyon"}},
		{"second rule", "10.2.0.1", "EDGE2", &expOut{Name: "EDGE2", Role: "edge", Tenant: "ACME"}},
		// The regex does not match: the rule errors, is skipped, the next ones apply.
		{"runtime error skipped", "10.1.9.9", "nodot", &expOut{Name: "nodot", Region: "default"}},
		{"catch-all", "192.0.2.1", "x", &expOut{Name: "x", Region: "default"}},
		{"reject", "192.0.2.2", "bad", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(e.cnt.rejected)
			b := flow.NewBatch()
			defer b.Release()
			for range 3 { // the second and third flows hit the cache
				r := b.Append()
				r.ExporterAddress = netip.MustParseAddr(tc.addr)
				r.ExporterName = tc.exporter
			}
			if err := e.Process(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if b.Len() != 0 {
					t.Fatalf("got %d flows, want all rejected", b.Len())
				}
				if got := testutil.ToFloat64(e.cnt.rejected) - before; got != 3 {
					t.Errorf("rejected counter +%v, want +3", got)
				}
				return
			}
			if b.Len() != 3 {
				t.Fatalf("got %d flows, want 3", b.Len())
			}
			for _, r := range b.Records {
				got := expOut{r.ExporterName, r.ExporterGroup, r.ExporterRole, r.ExporterSite, r.ExporterRegion, r.ExporterTenant}
				if diff := cmp.Diff(got, *tc.want); diff != "" {
					t.Errorf("(-got +want)\n%s", diff)
				}
			}
		})
	}
	if got := testutil.ToFloat64(e.cnt.errors); got != 1 {
		t.Errorf("rule errors = %v, want 1 (cached after the first)", got)
	}
}

func TestExporterRejectMixed(t *testing.T) {
	e := newExporterT(t, exporterRules)
	b := flow.NewBatch()
	defer b.Release()
	names := []string{"a", "bad", "b", "bad", "bad", "c"}
	for i, n := range names {
		r := b.Append()
		r.ExporterAddress = netip.MustParseAddr("192.0.2.1")
		r.ExporterName = n
		r.Bytes = uint64(i)
	}
	if err := e.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range b.Records {
		got = append(got, r.ExporterName)
	}
	if diff := cmp.Diff(got, []string{"a", "b", "c"}); diff != "" {
		t.Errorf("(-got +want)\n%s", diff)
	}
	if got := testutil.ToFloat64(e.cnt.rejected); got != 3 {
		t.Errorf("rejected = %v, want 3", got)
	}
}

const interfaceRules = `
rule {
  when   = interface.description == "drop me"
  reject = true
}
rule {
  when         = imatch("^transit:", interface.description)
  boundary     = "external"
  connectivity = "transit"
  provider     = lower(regexcapture("^(?i)transit: *(\\S+)", interface.description, 1))
}
rule {
  when         = can(regex("^(?i)peering:", interface.description))
  boundary     = "external"
  connectivity = "peering"
  provider     = lower(regex("^(?i)peering: *(\\S+)", interface.description)[0])
}
rule {
  when = interface.vlan == 100
  name = "${interface.name}.${interface.vlan}"
  boundary = "internal"
}
rule {
  when        = interface.speed >= 100000 && exporter.site == "paris"
  boundary    = "internal"
  connectivity = "core"
  description = "core link ${interface.index}"
}
`

type ifOut struct {
	Name, Description, Provider, Connectivity string
	Boundary                                  flow.Boundary
}

func TestInterfaceRules(t *testing.T) {
	c := newInterfaceT(t, interfaceRules)
	cases := []struct {
		name string
		in   flow.Record
		want [2]*ifOut // in, out; nil in want[0]: rejected
	}{
		{
			name: "transit in, core out",
			in: flow.Record{ExporterSite: "paris", InIfIndex: 1, InIfName: "et-0/0/1", InIfDescription: "Transit: Cogent 1234",
				OutIfIndex: 2, OutIfName: "et-0/0/2", OutIfDescription: "core", OutIfSpeed: 100000},
			want: [2]*ifOut{
				{Name: "et-0/0/1", Description: "Transit: Cogent 1234", Provider: "cogent", Connectivity: "transit", Boundary: flow.BoundaryExternal},
				{Name: "et-0/0/2", Description: "core link 2", Connectivity: "core", Boundary: flow.BoundaryInternal},
			},
		},
		{
			name: "peering and no match",
			in: flow.Record{ExporterSite: "lyon", InIfIndex: 3, InIfName: "xe-1", InIfDescription: "PEERING: Franceix",
				OutIfIndex: 2, OutIfName: "et-0/0/2", OutIfDescription: "core", OutIfSpeed: 100000},
			want: [2]*ifOut{
				{Name: "xe-1", Description: "PEERING: Franceix", Provider: "franceix", Connectivity: "peering", Boundary: flow.BoundaryExternal},
				{Name: "et-0/0/2", Description: "core"},
			},
		},
		{
			name: "vlan rename",
			in:   flow.Record{InIfIndex: 7, InIfName: "ae0", SrcVlan: 100, OutIfIndex: 8, OutIfName: "ae1", DstVlan: 200},
			want: [2]*ifOut{{Name: "ae0.100", Boundary: flow.BoundaryInternal}, {Name: "ae1"}},
		},
		{
			name: "reject on out",
			in:   flow.Record{InIfIndex: 1, InIfDescription: "Transit: x", OutIfIndex: 9, OutIfDescription: "drop me"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := flow.NewBatch()
			defer b.Release()
			for range 3 {
				r := b.Append()
				*r = tc.in
				r.ExporterAddress = netip.MustParseAddr("192.0.2.1")
			}
			if err := c.Process(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if tc.want[0] == nil {
				if b.Len() != 0 {
					t.Fatalf("got %d flows, want none", b.Len())
				}
				return
			}
			if b.Len() != 3 {
				t.Fatalf("got %d flows, want 3", b.Len())
			}
			for _, r := range b.Records {
				got := [2]*ifOut{
					{r.InIfName, r.InIfDescription, r.InIfProvider, r.InIfConnectivity, r.InIfBoundary},
					{r.OutIfName, r.OutIfDescription, r.OutIfProvider, r.OutIfConnectivity, r.OutIfBoundary},
				}
				if diff := cmp.Diff(got, tc.want); diff != "" {
					t.Errorf("(-got +want)\n%s", diff)
				}
			}
		})
	}
	if got := testutil.ToFloat64(c.cnt.rejected); got != 3 {
		t.Errorf("rejected = %v, want 3", got)
	}
}

// Changed SNMP data is a different cache key: the new description is classified.
func TestInterfaceSNMPChange(t *testing.T) {
	c := newInterfaceT(t, interfaceRules)
	for _, tc := range []struct{ desc, provider string }{
		{"Transit: Cogent", "cogent"}, {"Transit: Lumen", "lumen"}, {"unknown", ""},
	} {
		b := flow.NewBatch()
		r := b.Append()
		r.ExporterAddress = netip.MustParseAddr("192.0.2.1")
		r.InIfIndex, r.InIfDescription = 5, tc.desc
		if err := c.Process(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if got := b.Records[0].InIfProvider; got != tc.provider {
			t.Errorf("description %q: provider %q, want %q", tc.desc, got, tc.provider)
		}
		b.Release()
	}
}

func TestInterfaceRuntimeErrors(t *testing.T) {
	c := newInterfaceT(t, `
rule {
  when     = interface.speed > 0
  provider = regex("^T: (\\w+)", interface.description)[0]
}
rule {
  boundary = interface.name
}
rule {
  provider = "fallback"
}
`)
	b := flow.NewBatch()
	defer b.Release()
	for i := range 4 {
		r := b.Append()
		r.ExporterAddress = netip.MustParseAddr("192.0.2.1")
		r.InIfIndex, r.InIfSpeed, r.InIfDescription, r.InIfName = uint32(i%2), 1000, "no match", "not-a-boundary"
		r.OutIfIndex, r.OutIfName = 10, "external"
	}
	if err := c.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for _, r := range b.Records {
		if r.InIfProvider != "fallback" || r.OutIfBoundary != flow.BoundaryExternal {
			t.Errorf("got provider %q out boundary %v, want fallback external", r.InIfProvider, r.OutIfBoundary)
		}
	}
	// Two in-interfaces fail both rules (regex and boundary), the out-interface
	// matches the second: the first rule is skipped for it (speed 0).
	if got := testutil.ToFloat64(c.cnt.errors); got != 4 {
		t.Errorf("errors = %v, want 4", got)
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		name      string
		spec      *dsl.Spec
		src       string
		want      []string // substrings of the error details, in order
		wantLines []int
	}{
		{"interface in exporter classifier", ExporterSpec, `
rule {
  when = interface.name == "x"
  site = "a"
}`, []string{`"interface" is not available`}, []int{3}},
		{"unknown exporter attribute", ExporterSpec, `
rule {
  site = exporter.nmae
}`, []string{`Did you mean "exporter.name"?`}, []int{3}},
		{"unknown variable", InterfaceSpec, `
rule {
  when = interfaces.name == "x"
  provider = "a"
}`, []string{`Did you mean "interface"?`}, []int{3}},
		{"bad boundary constant", InterfaceSpec, `
rule {
  when = true
  boundary = "externel"
}`, []string{`Did you mean "external"?`}, []int{4}},
		{"unknown function", InterfaceSpec, `
rule {
  provider = lowr(interface.name)
}`, []string{`Did you mean "lower"?`}, []int{3}},
		{"non-bool when", InterfaceSpec, `
rule {
  when = interface.name
  provider = "x"
}`, []string{"must be a bool"}, []int{3}},
		{"bad regex constant", ExporterSpec, `
rule {
  site = regex("(", exporter.name)
}`, []string{"invalid regexp"}, []int{3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := dsl.DecodeString(tc.src, tc.spec)
			if diags.HasErrors() {
				t.Fatalf("decode: %s", diags.Error())
			}
			if tc.spec == ExporterSpec {
				_, diags = NewExporter(cfg, testEnv())
			} else {
				_, diags = NewInterface(cfg, testEnv())
			}
			errs := diags.Errs()
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d: %s", len(errs), len(tc.want), diags.Error())
			}
			for i, d := range errs {
				d := d.(*hcl.Diagnostic)
				if !strings.Contains(d.Detail, tc.want[i]) {
					t.Errorf("diagnostic %q: detail %q does not contain %q", d.Summary, d.Detail, tc.want[i])
				}
				if d.Subject == nil || d.Subject.Start.Line != tc.wantLines[i] {
					t.Errorf("diagnostic %q at %v, want line %d", d.Summary, d.Subject, tc.wantLines[i])
				}
			}
		})
	}
}

// benchBatch is like the output of the snmp enricher on a cache hit: 4
// exporters with 64 interfaces each, names and descriptions shared from its
// cache.
func benchBatch(n int) *flow.Batch {
	var exporters [4]string
	var names [64]string
	for i := range exporters {
		exporters[i] = fmt.Sprintf("r%d.paris.example", i)
	}
	for i := range names {
		names[i] = fmt.Sprintf("Gi0/0/%d", i+1)
	}
	transit, core := "Transit: Cogent", "core"
	b := flow.NewBatch()
	for i := range n {
		r := b.Append()
		x := (i / 256) % 4
		r.ExporterAddress = netip.AddrFrom4([4]byte{10, 1, 0, byte(x + 1)})
		r.ExporterName = exporters[x]
		in, out := i%64, (i*7)%64
		r.InIfIndex, r.InIfName, r.InIfDescription, r.InIfSpeed = uint32(in+1), names[in], transit, 10000
		r.OutIfIndex, r.OutIfName, r.OutIfDescription, r.OutIfSpeed = uint32(100+out), names[out], core, 100000
	}
	return b
}

func runBench(b *testing.B, p engine.Processor) {
	src := benchBatch(flow.BatchSize)
	defer src.Release()
	work := flow.NewBatch()
	defer work.Release()
	ctx := context.Background()
	work.Records = append(work.Records[:0], src.Records...)
	_ = p.Process(ctx, work) // warm the caches
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		work.Records = append(work.Records[:0], src.Records...)
		if err := p.Process(ctx, work); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*flow.BatchSize), "ns/flow")
}

func BenchmarkExporter(b *testing.B) {
	runBench(b, newExporterT(b, exporterRules))
}

func BenchmarkInterface(b *testing.B) {
	runBench(b, newInterfaceT(b, interfaceRules))
}

// BenchmarkBoth is both classifiers in a row, as in a pipeline.
func BenchmarkBoth(b *testing.B) {
	e, c := newExporterT(b, exporterRules), newInterfaceT(b, interfaceRules)
	runBench(b, processorFunc(func(ctx context.Context, batch *flow.Batch) error {
		_ = e.Process(ctx, batch)
		return c.Process(ctx, batch)
	}))
}

type processorFunc func(context.Context, *flow.Batch) error

func (f processorFunc) Process(ctx context.Context, b *flow.Batch) error { return f(ctx, b) }

// BenchmarkCopy is the cost of the batch copy included in the benchmarks above.
func BenchmarkCopy(b *testing.B) {
	runBench(b, engine.Processor(nopProcessor{}))
}

type nopProcessor struct{}

func (nopProcessor) Process(context.Context, *flow.Batch) error { return nil }

// TestConcurrentWorkers runs both classifiers from several goroutines, as
// a stage with workers > 1 does (run with -race).
func TestConcurrentWorkers(t *testing.T) {
	e := newExporterT(t, exporterRules)
	c := newInterfaceT(t, interfaceRules)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 30 {
				b := benchBatch(64 + w + i)
				if err := e.Process(context.Background(), b); err != nil {
					t.Error(err)
				}
				if err := c.Process(context.Background(), b); err != nil {
					t.Error(err)
				}
				for _, r := range b.Records {
					if r.ExporterSite != "paris" || r.InIfProvider != "cogent" || r.OutIfConnectivity != "core" {
						t.Errorf("unexpected classification: site %q provider %q connectivity %q",
							r.ExporterSite, r.InIfProvider, r.OutIfConnectivity)
						return
					}
				}
				b.Release()
			}
		})
	}
	wg.Wait()
}
