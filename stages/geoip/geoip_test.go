package geoip

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// writeDB writes a MaxMind DB with the given networks, atomically (a
// temporary file renamed over path), as database updaters do.
func writeDB(t testing.TB, path, dbType string, ipVersion int, nets map[string]mmdbtype.Map) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IPVersion: ipVersion,
		IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	// Enclosing networks first: inserting a network replaces what the tree
	// holds inside it, so a map's random order would lose nested networks.
	type network struct {
		cidr string
		n    *net.IPNet
	}
	var networks []network
	for cidr := range nets {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		networks = append(networks, network{cidr, n})
	}
	slices.SortFunc(networks, func(a, b network) int {
		ones := func(n *net.IPNet) int { o, _ := n.Mask.Size(); return o }
		if d := ones(a.n) - ones(b.n); d != 0 {
			return d
		}
		return strings.Compare(a.cidr, b.cidr)
	})
	for _, nw := range networks {
		if err := tree.Insert(nw.n, nets[nw.cidr]); err != nil {
			t.Fatalf("insert %s: %v", nw.cidr, err)
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func asn(n uint32) mmdbtype.Map {
	return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n),
		"autonomous_system_organization": mmdbtype.String(fmt.Sprintf("AS %d org", n))}
}

func country(cc string) mmdbtype.Map {
	return mmdbtype.Map{
		"country":   mmdbtype.Map{"iso_code": mmdbtype.String(cc), "names": mmdbtype.Map{"en": mmdbtype.String("Country " + cc)}},
		"continent": mmdbtype.Map{"code": mmdbtype.String("EU")},
	}
}

// testDBs writes an ASN and a country database in dir.
func testDBs(t testing.TB, dir string) (asnPath, countryPath string) {
	asnPath, countryPath = filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "country.mmdb")
	writeDB(t, asnPath, "GeoLite2-ASN", 6, map[string]mmdbtype.Map{
		"1.0.0.0/24":      asn(13335),
		"10.0.0.0/8":      asn(64512), // a private AS in the database: kept as is
		"192.0.2.0/24":    asn(64496),
		"2001:db8::/32":   asn(64497),
		"2001:db8:1::/48": asn(64498),
	})
	writeDB(t, countryPath, "GeoLite2-Country", 6, map[string]mmdbtype.Map{
		"1.0.0.0/24":    country("AU"),
		"192.0.2.0/24":  country("FR"),
		"2001:db8::/32": country("DE"),
		// Only a registered country, as for some anycast networks.
		"198.51.100.0/24": {"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("US")}},
	})
	return asnPath, countryPath
}

func newT(t testing.TB, src string) *Enricher {
	t.Helper()
	cfg, diags := dsl.DecodeString(src, Spec)
	if diags.HasErrors() {
		t.Fatalf("decode: %s", diags.Error())
	}
	e, diags := New(cfg, engine.Env{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()})
	if diags.HasErrors() {
		t.Fatalf("new: %s", diags.Error())
	}
	return e
}

type geo struct {
	SrcAS, DstAS           uint32
	SrcCountry, DstCountry string
}

func process(t testing.TB, e *Enricher, src, dst string, srcAS, dstAS uint32) geo {
	t.Helper()
	b := flow.NewBatch()
	defer b.Release()
	r := b.Append()
	r.SrcAddr, r.DstAddr = netip.MustParseAddr(src), netip.MustParseAddr(dst)
	r.SrcAS, r.DstAS = srcAS, dstAS
	if err := e.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	r = &b.Records[0]
	return geo{r.SrcAS, r.DstAS, r.SrcCountry, r.DstCountry}
}

func TestEnrich(t *testing.T) {
	asnPath, countryPath := testDBs(t, t.TempDir())
	cases := []struct {
		source       string
		src, dst     string
		srcAS, dstAS uint32
		want         geo
	}{
		{"flow-else-geoip", "1.0.0.1", "192.0.2.7", 0, 0, geo{13335, 64496, "AU", "FR"}},
		{"flow-else-geoip", "1.0.0.1", "192.0.2.7", 1, 65000, geo{1, 65000, "AU", "FR"}},
		{"flow-else-geoip", "::ffff:1.0.0.1", "2001:db8:1::5", 0, 0, geo{13335, 64498, "AU", "DE"}},
		{"flow-else-geoip", "2001:db8:2::1", "203.0.113.1", 0, 0, geo{64497, 0, "DE", ""}},
		{"flow-else-geoip", "198.51.100.1", "10.1.1.1", 0, 0, geo{0, 64512, "US", ""}},
		{"flow-else-geoip-ignore-private", "1.0.0.1", "192.0.2.7", 65000, 4200000001, geo{13335, 64496, "AU", "FR"}},
		{"flow-else-geoip-ignore-private", "1.0.0.1", "192.0.2.7", 3215, 0, geo{3215, 64496, "AU", "FR"}},
		{"geoip", "1.0.0.1", "203.0.113.1", 3215, 3215, geo{13335, 0, "AU", ""}},
		{"flow", "1.0.0.1", "192.0.2.7", 0, 3215, geo{0, 3215, "AU", "FR"}},
	}
	for _, tc := range cases {
		t.Run(tc.source+" "+tc.src+" "+tc.dst, func(t *testing.T) {
			e := newT(t, fmt.Sprintf("asn_database = %q\ncountry_database = %q\nasn_source = %q\nreload_interval = \"0s\"\n",
				asnPath, countryPath, tc.source))
			if err := e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer e.Stop(context.Background())
			if diff := cmp.Diff(process(t, e, tc.src, tc.dst, tc.srcAS, tc.dstAS), tc.want); diff != "" {
				t.Errorf("(-got +want)\n%s", diff)
			}
		})
	}
}

// TestLayouts reads databases in other vendors' layouts and an IPv4-only one.
func TestLayouts(t *testing.T) {
	dir := t.TempDir()
	ipinfo := filepath.Join(dir, "ipinfo.mmdb")
	writeDB(t, ipinfo, "ipinfo_lite", 6, map[string]mmdbtype.Map{
		"8.8.8.0/24": {"asn": mmdbtype.String("AS15169"), "as_name": mmdbtype.String("Google LLC"),
			"country_code": mmdbtype.String("US"), "country": mmdbtype.String("United States")},
	})
	v4 := filepath.Join(dir, "v4.mmdb")
	writeDB(t, v4, "DBIP-Country-Lite", 4, map[string]mmdbtype.Map{"9.9.9.0/24": country("ch")})
	for _, tc := range []struct {
		name, cfg string
		want      geo
	}{
		{"ipinfo both", fmt.Sprintf("asn_database = %q\ncountry_database = %q", ipinfo, ipinfo), geo{15169, 0, "US", ""}},
		{"ipv4-only database", fmt.Sprintf("country_database = %q", v4), geo{0, 0, "", "CH"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newT(t, tc.cfg)
			if err := e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer e.Stop(context.Background())
			got := process(t, e, "8.8.8.8", "9.9.9.9", 0, 0)
			if tc.name == "ipv4-only database" {
				got = process(t, e, "2001:db8::1", "9.9.9.9", 0, 0)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("(-got +want)\n%s", diff)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	asnPath, _ := testDBs(t, dir)
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	if err := os.WriteFile(corrupt, []byte("this is not a MaxMind DB"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mmdb")
	data, _ := os.ReadFile(asnPath)
	if err := os.WriteFile(truncated, data[:len(data)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.mmdb"), corrupt, truncated} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			e := newT(t, fmt.Sprintf("asn_database = %q\ncountry_database = %q", asnPath, path))
			err := e.Start(context.Background())
			if err == nil {
				e.Stop(context.Background())
				t.Fatal("Start succeeded, want an error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		})
	}
}

func TestDiagnostics(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{``, "Set asn_database, country_database, or both."},
		{`country_database = "x"
asn_source = "geopi"`, `Did you mean "geoip"`},
	} {
		cfg, diags := dsl.DecodeString(tc.src, Spec)
		if !diags.HasErrors() {
			_, diags = New(cfg, engine.Env{})
		}
		if !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%q: got %q, want %q", tc.src, diags.Error(), tc.want)
		}
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	asnPath, countryPath := testDBs(t, dir)
	e := newT(t, fmt.Sprintf("asn_database = %q\ncountry_database = %q\nreload_interval = \"0s\"", asnPath, countryPath))
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	want := func(step string, w geo) {
		t.Helper()
		if diff := cmp.Diff(process(t, e, "1.0.0.1", "192.0.2.1", 0, 0), w); diff != "" {
			t.Errorf("%s: (-got +want)\n%s", step, diff)
		}
	}
	errors := func() float64 {
		return testutil.ToFloat64(e.reloads.WithLabelValues("asn", "error")) + testutil.ToFloat64(e.reloads.WithLabelValues("country", "error"))
	}
	want("initial", geo{13335, 64496, "AU", "FR"})
	if e.Reload() {
		t.Error("Reload swapped unchanged files")
	}

	// A new database: flows after the reload see the new data.
	writeDB(t, asnPath, "GeoLite2-ASN", 6, map[string]mmdbtype.Map{"1.0.0.0/16": asn(1), "192.0.2.0/25": asn(2)})
	if !e.Reload() {
		t.Fatal("Reload did not see the new file")
	}
	want("after reload", geo{1, 2, "AU", "FR"})

	// A corrupt replacement: the last good database stays.
	if err := os.WriteFile(countryPath, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Reload()
	want("after corrupt replacement", geo{1, 2, "AU", "FR"})
	if got := errors(); got != 1 {
		t.Errorf("reload errors = %v, want 1", got)
	}
	e.Reload() // not retried until the file changes again
	if got := errors(); got != 1 {
		t.Errorf("reload errors = %v, want still 1", got)
	}

	// A missing file: still the last good database.
	if err := os.Remove(asnPath); err != nil {
		t.Fatal(err)
	}
	e.Reload()
	e.Reload()
	want("after removal", geo{1, 2, "AU", "FR"})
	if got := errors(); got != 2 {
		t.Errorf("reload errors = %v, want 2", got)
	}

	// Both come back.
	testDBs(t, dir)
	e.Reload()
	want("restored", geo{13335, 64496, "AU", "FR"})
}

// TestReloadWhileProcessing swaps databases under running workers, through
// the watcher goroutine (run it with -race).
func TestReloadWhileProcessing(t *testing.T) {
	dir := t.TempDir()
	asnPath, countryPath := testDBs(t, dir)
	e := newT(t, fmt.Sprintf("asn_database = %q\ncountry_database = %q\nreload_interval = \"10ms\"", asnPath, countryPath))
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				g := process(t, e, "1.0.0.1", "192.0.2.1", 0, 0)
				if g.SrcAS != 13335 && g.SrcAS != 7 {
					t.Errorf("unexpected AS %d", g.SrcAS)
					return
				}
			}
		})
	}
	writeDB(t, asnPath, "GeoLite2-ASN", 6, map[string]mmdbtype.Map{"1.0.0.0/16": asn(7)})
	deadline := time.Now().Add(20 * time.Second)
	for process(t, e, "1.0.0.1", "192.0.2.1", 0, 0).SrcAS != 7 {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not reload the changed database")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(done)
	wg.Wait()
}

func BenchmarkGeoIP(b *testing.B) {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	asnNets, ccNets := map[string]mmdbtype.Map{}, map[string]mmdbtype.Map{}
	countries := []string{"FR", "DE", "US", "GB", "JP", "BR", "IN", "AU"}
	var addrs []netip.Addr
	for i := range 20000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(1 + i>>8%200), byte(i), 0, 0}), 16+rng.IntN(9)).Masked()
		asnNets[p.String()] = asn(uint32(1000 + i))
		ccNets[p.String()] = country(countries[i%len(countries)])
		a := p.Addr().As4()
		a[3] = byte(rng.IntN(256))
		addrs = append(addrs, netip.AddrFrom4(a))
		if i%8 == 0 {
			p6 := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x2a, 0x01, byte(i >> 8), byte(i)}), 32)
			asnNets[p6.String()] = asn(uint32(5000 + i))
			ccNets[p6.String()] = country(countries[i%len(countries)])
			a6 := p6.Addr().As16()
			a6[15] = 1
			addrs = append(addrs, netip.AddrFrom16(a6))
		}
	}
	asnPath, countryPath := filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "country.mmdb")
	writeDB(b, asnPath, "GeoLite2-ASN", 6, asnNets)
	writeDB(b, countryPath, "GeoLite2-Country", 6, ccNets)
	e := newT(b, fmt.Sprintf("asn_database = %q\ncountry_database = %q\nasn_source = \"geoip\"\nreload_interval = \"0s\"", asnPath, countryPath))
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer e.Stop(context.Background())
	batch := flow.NewBatch()
	defer batch.Release()
	for range flow.BatchSize {
		r := batch.Append()
		r.SrcAddr, r.DstAddr = addrs[rng.IntN(len(addrs))], addrs[rng.IntN(len(addrs))]
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = e.Process(ctx, batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*flow.BatchSize), "ns/flow")
}

// TestTableMatchesReader checks the flattened table against the library's
// own tree walk on random nested networks.
func TestTableMatchesReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	nets := map[string]mmdbtype.Map{}
	for i := range 300 {
		var p netip.Prefix
		if i%2 == 0 {
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(1 + rng.IntN(3)), byte(rng.IntN(256)), byte(rng.IntN(256))}), 8+rng.IntN(25)).Masked()
		} else {
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x2a, 0x01, byte(rng.IntN(3)), byte(rng.IntN(256)), 15: byte(rng.IntN(256))}), 16+rng.IntN(113)).Masked()
		}
		nets[p.String()] = asn(uint32(i + 1))
	}
	path := filepath.Join(t.TempDir(), "asn.mmdb")
	writeDB(t, path, "GeoLite2-ASN", 6, nets)
	d, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var probes []netip.Addr
	for cidr := range nets {
		p := netip.MustParsePrefix(cidr)
		first := p.Addr()
		last := first
		for i := p.Bits(); i < first.BitLen(); i++ {
			last = setBit(last, i)
		}
		probes = append(probes, first, first.Prev(), last, last.Next())
	}
	probes = append(probes, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("::"))
	for i := range 20000 + len(probes) {
		var a netip.Addr
		if i < len(probes) {
			a = probes[i]
			if !a.IsValid() {
				continue
			}
		} else if rng.IntN(2) == 0 {
			a = netip.AddrFrom4([4]byte{byte(rng.IntN(5)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		} else {
			a = netip.AddrFrom16([16]byte{0x2a, 0x01, byte(rng.IntN(4)), byte(rng.IntN(256)), 15: byte(rng.IntN(256))})
		}
		var want uint32
		if err := r.Lookup(a).DecodePath(&want, "autonomous_system_number"); err != nil {
			t.Fatal(err)
		}
		got, _ := d.lookup(a)
		if got.asn != want {
			t.Fatalf("%s: got AS %d, want %d", a, got.asn, want)
		}
	}
}

func setBit(a netip.Addr, bit int) netip.Addr {
	b := a.AsSlice()
	b[bit/8] |= 0x80 >> (bit % 8)
	r, _ := netip.AddrFromSlice(b)
	return r
}

// routes is a Routing with fixed origin AS numbers per exporter and
// address; it counts the read locks and checks lookups hold one.
type routes struct {
	as        map[[2]netip.Addr]uint32
	exporters []netip.Addr // by router number
	locks     int
	locked    bool
}

func (r *routes) RLockRoutes()   { r.locks++; r.locked = true }
func (r *routes) RUnlockRoutes() { r.locked = false }

func (r *routes) RouterOf(exporter netip.Addr) uint32 {
	if !r.locked {
		panic("RouterOf without the read lock")
	}
	for i, e := range r.exporters {
		if e == exporter {
			return uint32(i)
		}
	}
	r.exporters = append(r.exporters, exporter)
	return uint32(len(r.exporters) - 1)
}

func (r *routes) RouteOriginAS(router uint32, addr netip.Addr) (uint32, bool) {
	if !r.locked {
		panic("RouteOriginAS without the read lock")
	}
	as, ok := r.as[[2]netip.Addr{r.exporters[router], addr}]
	return as, ok
}

func TestEnrichRouting(t *testing.T) {
	asnPath, _ := testDBs(t, t.TempDir())
	exp := netip.MustParseAddr("192.0.2.254")
	rt := &routes{as: map[[2]netip.Addr]uint32{
		{exp, netip.MustParseAddr("1.0.0.1")}:   65101,
		{exp, netip.MustParseAddr("192.0.2.7")}: 0, // a route without an origin AS: GeoIP then
	}}
	stages := func(hcl.Expression) (engine.ID, any, hcl.Diagnostics) {
		return engine.ID{Kind: engine.KindEnricher, Type: "bmp", Name: "rib"}, rt, nil
	}
	for _, tc := range []struct {
		source       string
		srcAS, dstAS uint32
		wantSrc      uint32
		wantDst      uint32
	}{
		{"flow-else-routing-else-geoip", 0, 0, 65101, 64496},
		{"flow-else-routing-else-geoip", 7, 0, 7, 64496},
		{"routing-else-geoip", 7, 8, 65101, 64496},
	} {
		t.Run(tc.source, func(t *testing.T) {
			cfg, diags := dsl.DecodeString(fmt.Sprintf("asn_database = %q\nasn_source = %q\nrouting = enricher.bmp.rib\nreload_interval = \"0s\"\n",
				asnPath, tc.source), Spec)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			e, diags := New(cfg, engine.Env{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry(), Stages: stages})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if err := e.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer e.Stop(context.Background())
			b := flow.NewBatch()
			for range 3 {
				b.Records = append(b.Records, flow.Record{ExporterAddress: exp, SrcAddr: netip.MustParseAddr("1.0.0.1"),
					DstAddr: netip.MustParseAddr("192.0.2.7"), SrcAS: tc.srcAS, DstAS: tc.dstAS})
			}
			locks := rt.locks
			if err := e.Process(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			for _, r := range b.Records {
				if r.SrcAS != tc.wantSrc || r.DstAS != tc.wantDst {
					t.Errorf("AS = %d/%d, want %d/%d", r.SrcAS, r.DstAS, tc.wantSrc, tc.wantDst)
				}
			}
			if n := rt.locks - locks; n != 1 || rt.locked {
				t.Errorf("%d read locks for a batch (locked after: %v), want 1", n, rt.locked)
			}
		})
	}
	// A routing source without a routing enricher is an error.
	cfg, _ := dsl.DecodeString(fmt.Sprintf("asn_database = %q\nasn_source = \"routing-else-geoip\"\n", asnPath), Spec)
	if _, diags := New(cfg, engine.Env{Metrics: prometheus.NewRegistry()}); !diags.HasErrors() ||
		!strings.Contains(diags.Error(), "needs routing") {
		t.Errorf("diags = %v", diags)
	}
}
