package networks

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

func newT(t testing.TB, src string) (*Enricher, hcl.Diagnostics) {
	t.Helper()
	cfg, diags := dsl.DecodeString(src, Spec)
	if diags.HasErrors() {
		t.Fatalf("decode: %s", diags.Error())
	}
	return New(cfg, engine.Env{Metrics: prometheus.NewRegistry()})
}

const testNetworks = `
networks = {
  "10.0.0.0/8"        = { name = "corp", region = "eu", tenant = "acme" }
  "10.1.0.0/16"       = { name = "paris", site = "par1" }
  "10.1.2.0/24"       = { name = "customers", role = "customer", country = "fr", asn = 64500 }
  "10.1.2.128/25"     = { role = "servers", asn = "AS64501" }
  "192.0.2.0/24"      = { name = "doc" }
  "0.0.0.0/0"         = { name = "internet" }
  "2001:db8::/32"     = { name = "doc6", region = "eu" }
  "2001:db8:1::/48"   = { name = "paris6", country = "FR" }
  "::ffff:198.51.100.0/120" = { name = "mapped" }
  "255.255.255.255/32" = { name = "broadcast" }
}
`

type netOut struct {
	Name, Role, Site, Region, Tenant, Country string
	AS                                        uint32
}

func TestLookup(t *testing.T) {
	e, diags := newT(t, testNetworks)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	cases := []struct {
		addr string
		want netOut
	}{
		{"10.9.9.9", netOut{Name: "corp", Region: "eu", Tenant: "acme"}},
		{"10.1.0.1", netOut{Name: "paris", Site: "par1", Region: "eu", Tenant: "acme"}},
		{"10.1.2.3", netOut{Name: "customers", Role: "customer", Site: "par1", Region: "eu", Tenant: "acme", Country: "FR", AS: 64500}},
		{"10.1.2.200", netOut{Name: "customers", Role: "servers", Site: "par1", Region: "eu", Tenant: "acme", Country: "FR", AS: 64501}},
		{"10.1.3.0", netOut{Name: "paris", Site: "par1", Region: "eu", Tenant: "acme"}},
		{"11.0.0.0", netOut{Name: "internet"}},
		{"9.255.255.255", netOut{Name: "internet"}},
		{"::ffff:10.1.0.1", netOut{Name: "paris", Site: "par1", Region: "eu", Tenant: "acme"}},
		{"198.51.100.7", netOut{Name: "mapped"}},
		{"255.255.255.255", netOut{Name: "broadcast"}},
		{"2001:db8:2::1", netOut{Name: "doc6", Region: "eu"}},
		{"2001:db8:1:ffff::1", netOut{Name: "paris6", Region: "eu", Country: "FR"}},
		{"2001:db9::1", netOut{Country: "ZZ", AS: 7}}, // no match: left as is
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			b := flow.NewBatch()
			defer b.Release()
			r := b.Append()
			r.SrcAddr = netip.MustParseAddr(tc.addr)
			r.DstAddr = r.SrcAddr
			r.SrcCountry, r.DstCountry, r.SrcAS, r.DstAS = "ZZ", "ZZ", 7, 7
			if err := e.Process(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			r = &b.Records[0]
			src := netOut{r.SrcNetName, r.SrcNetRole, r.SrcNetSite, r.SrcNetRegion, r.SrcNetTenant, r.SrcCountry, r.SrcAS}
			dst := netOut{r.DstNetName, r.DstNetRole, r.DstNetSite, r.DstNetRegion, r.DstNetTenant, r.DstCountry, r.DstAS}
			want := tc.want
			if want.Country == "" {
				want.Country = "ZZ"
			}
			if want.AS == 0 {
				want.AS = 7
			}
			if diff := cmp.Diff(src, want); diff != "" {
				t.Errorf("src (-got +want)\n%s", diff)
			}
			if diff := cmp.Diff(dst, want); diff != "" {
				t.Errorf("dst (-got +want)\n%s", diff)
			}
		})
	}
	if got := testutil.ToFloat64(e.unmatched.WithLabelValues("src")); got != 1 {
		t.Errorf("unmatched src = %v, want 1", got)
	}
}

// TestAgainstLinearScan compares the table with a brute-force longest match
// over random nested prefixes.
func TestAgainstLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		seen := map[netip.Prefix]bool{}
		var nets []Network
		for i := range 200 {
			var p netip.Prefix
			if rng.IntN(2) == 0 {
				a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
				p = netip.PrefixFrom(a, 8+rng.IntN(25)).Masked()
			} else {
				var b [16]byte
				b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
				b[4], b[15] = byte(rng.IntN(4)), byte(rng.IntN(256))
				p = netip.PrefixFrom(netip.AddrFrom16(b), 32+rng.IntN(97)).Masked()
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			nets = append(nets, Network{Prefix: p, Attrs: Attrs{Name: p.String(), ASN: uint32(i)}})
		}
		table := Build(nets)
		for range 2000 {
			var a netip.Addr
			if rng.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{10, byte(rng.IntN(5)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			} else {
				var b [16]byte
				b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
				b[4], b[15] = byte(rng.IntN(5)), byte(rng.IntN(256))
				a = netip.AddrFrom16(b)
			}
			want := ""
			bits := -1
			for _, n := range nets {
				if n.Prefix.Contains(a) && n.Prefix.Bits() > bits {
					want, bits = n.Attrs.Name, n.Prefix.Bits()
				}
			}
			got := ""
			if at := table.Lookup(a); at != nil {
				got = at.Name
			}
			if got != want {
				t.Fatalf("round %d: %s: got %q, want %q", round, a, got, want)
			}
		}
	}
}

func TestDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // "error: detail substring" / "warning: ..."
	}{
		{"invalid cidr", `networks = { "10.0.0.0/33" = { name = "x" } }`, []string{`error: "10.0.0.0/33" is not a CIDR`}},
		{"host bits and duplicate", `networks = {
  "10.0.0.0/8" = { name = "a" }
  "10.0.0.1/8" = { name = "b" }
}`, []string{`warning: "10.0.0.1/8" has host bits set: it means 10.0.0.0/8`, `error: "10.0.0.0/8" and "10.0.0.1/8" are the same network`}},
		{"unknown attribute", `networks = { "10.0.0.0/8" = { nmae = "x" } }`, []string{`error: Network "10.0.0.0/8": unknown attribute "nmae". Did you mean "name"?`}},
		{"bad asn", `networks = { "10.0.0.0/8" = { asn = -1 } }`, []string{`error: Network "10.0.0.0/8": asn must be`}},
		{"bad country", `networks = { "10.0.0.0/8" = { country = "France" } }`, []string{`error: Network "10.0.0.0/8": country "France"`}},
		{"not a map", `networks = ["10.0.0.0/8"]`, []string{`error: A map like`}},
		{"attrs not an object", `networks = { "10.0.0.0/8" = "x" }`, []string{`error: Network "10.0.0.0/8": the attributes must be an object`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := newT(t, tc.src)
			var got []string
			for _, d := range diags {
				sev := "error"
				if d.Severity == hcl.DiagWarning {
					sev = "warning"
				}
				got = append(got, sev+": "+d.Detail)
				if d.Subject == nil || d.Subject.Start.Line != 1 {
					t.Errorf("diagnostic %q not on the attribute: %v", d.Detail, d.Subject)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) && !strings.Contains(got[i], strings.SplitN(tc.want[i], ": ", 2)[1]) {
					t.Errorf("diagnostic %d: got %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func BenchmarkNetworks(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("networks = {\n")
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		sb.WriteString(`  "` + netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i), 0}), 16+rng.IntN(9)).Masked().String() +
			`" = { name = "n` + string(rune('a'+i%26)) + `", site = "s" }` + "\n")
		sb.WriteString(`  "` + netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 48).String() +
			`" = { name = "v6" }` + "\n")
	}
	sb.WriteString("}\n")
	e, diags := newT(b, sb.String())
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	batch := flow.NewBatch()
	defer batch.Release()
	for i := range flow.BatchSize {
		r := batch.Append()
		if i%4 == 0 {
			r.SrcAddr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(4)), byte(rng.IntN(256)), 1})
			r.DstAddr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(4)), byte(rng.IntN(256)), 2})
		} else {
			r.SrcAddr = netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			r.DstAddr = netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), 1, 1})
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = e.Process(ctx, batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*flow.BatchSize), "ns/flow")
}
