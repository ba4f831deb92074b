package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowengine/flowengine/exporter"
	"github.com/flowengine/flowengine/internal/testenv"
)

// binary is the flowengine binary TestMain builds, with buildFlags.
var (
	binary     string
	buildFlags []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowengine-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "flowengine")
	if out, err := exec.Command("go", slices.Concat([]string{"build"}, buildFlags, []string{"-o", binary, "../cmd/flowengine"})...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build flowengine: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	testenv.StopSharedClickHouse()
	os.RemoveAll(dir)
	os.Exit(code)
}

// geoNet is one network of the GeoIP databases the test writes: asn 0 keeps
// it out of the ASN database, country "" out of the country database.
type geoNet struct {
	prefix  netip.Prefix
	asn     uint32
	country string
}

func gn(p string, asn uint32, country string) geoNet {
	return geoNet{netip.MustParsePrefix(p), asn, country}
}

// geoNets covers most prefixes the synthetic exporters draw addresses from
// (exporter/generator.go), and leaves some out on purpose: 17.0.0.0/8 and
// 2603:1000::/25 are in neither database, 104.16.0.0/13 has no country,
// 185.42.0.0/16 no AS number, 142.250.128.0/17 a country of its own inside
// 142.250.0.0/15. The local prefixes get AS numbers the flows do not carry
// (they say 64496), so that asn_source = "geoip" shows.
var geoNets = []geoNet{
	gn("142.250.0.0/15", 15169, "US"),
	gn("142.250.128.0/17", 0, "IE"),
	gn("45.57.0.0/17", 2906, "US"),
	gn("157.240.0.0/16", 32934, "US"),
	gn("104.16.0.0/13", 13335, ""),
	gn("23.0.0.0/12", 20940, "NL"),
	gn("52.0.0.0/11", 16509, "US"),
	gn("20.0.0.0/11", 8075, "US"),
	gn("151.101.0.0/16", 54113, "US"),
	gn("51.68.0.0/16", 16276, "FR"),
	gn("185.42.0.0/16", 0, "GB"),
	gn("90.0.0.0/9", 3215, "FR"),
	gn("78.192.0.0/10", 12322, "FR"),
	gn("73.0.0.0/8", 7922, "US"),
	gn("80.128.0.0/11", 3320, "DE"),
	gn("216.66.0.0/18", 6939, "US"),
	gn("38.0.0.0/8", 174, "US"),
	gn("4.0.0.0/9", 3356, "US"),
	gn("198.51.100.0/24", 64500, "FR"),
	gn("203.0.113.0/24", 64500, "FR"),
	gn("192.0.2.0/24", 64501, "DE"),
	gn("2a00:1450::/32", 15169, "IE"),
	gn("2a00:86c0::/32", 2906, "US"),
	gn("2a03:2880::/32", 32934, "IE"),
	gn("2606:4700::/32", 13335, "US"),
	gn("2a02:26f0::/29", 20940, "DE"),
	gn("2600:1f00::/24", 16509, "US"),
	gn("2a01:e00::/26", 12322, "FR"),
	gn("2001:470::/32", 6939, "US"),
	gn("2001:db8:1::/48", 64500, "FR"),
	gn("2001:db8:2::/48", 64501, "DE"),
	gn("2001:db8:2:8000::/49", 0, "NL"),
}

// netNames is the map of enricher "networks".
var netNames = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("198.51.100.0/24"), "customers"},
	{netip.MustParsePrefix("198.51.100.0/25"), "customers-a"},
	{netip.MustParsePrefix("203.0.113.0/24"), "servers"},
	{netip.MustParsePrefix("2001:db8:1::/48"), "servers-v6"},
	{netip.MustParsePrefix("142.250.0.0/15"), "google"},
	{netip.MustParsePrefix("2a00:1450::/32"), "google-v6"},
}

// expectedAS returns the AS number enricher "geoip" must set for address
// a, sent with AS number flowAS, with asn_source "geoip" or
// "flow-else-geoip", and whether it looked a up in the database (for the
// misses counter).
func expectedAS(a netip.Addr, flowAS uint32, source string) (as uint32, lookedUp bool) {
	if source == "flow-else-geoip" && flowAS != 0 {
		return flowAS, false
	}
	as, _ = expectedGeo(a)
	return as, true
}

// expectedGeo returns the AS number and country the databases hold for a,
// by longest prefix among the networks each database has.
func expectedGeo(a netip.Addr) (asn uint32, country string) {
	asnBits, ccBits := -1, -1
	for _, n := range geoNets {
		if !n.prefix.Contains(a) {
			continue
		}
		if n.asn != 0 && n.prefix.Bits() > asnBits {
			asn, asnBits = n.asn, n.prefix.Bits()
		}
		if n.country != "" && n.prefix.Bits() > ccBits {
			country, ccBits = n.country, n.prefix.Bits()
		}
	}
	return asn, country
}

// expectedNetName returns the name of the longest prefix of netNames holding a.
func expectedNetName(a netip.Addr) string {
	name, bits := "", -1
	for _, n := range netNames {
		if n.prefix.Contains(a) && n.prefix.Bits() > bits {
			name, bits = n.name, n.prefix.Bits()
		}
	}
	return name
}

// ifClass is what the interface rules must derive from a description.
type ifClass struct{ boundary, connectivity, provider string }

// interfaceClasses lists, for every description of exporter.Interfaces(12),
// the classification the pipeline's rules give.
var interfaceClasses = map[string]ifClass{
	"Transit: Cogent": {"external", "transit", "cogent"},
	"Core: spine1":    {"internal", "", ""},
	"PNI: Google":     {"external", "pni", "google"},
	"Transit: Lumen":  {"external", "transit", "lumen"},
	"IX: FranceIX":    {"external", "ix", "franceix"},
	"Core: spine2":    {"internal", "", ""},
	"PNI: Netflix":    {"external", "pni", "netflix"},
	"IX: AMS-IX":      {"external", "ix", "ams-ix"},
	"PNI: Facebook":   {"external", "pni", "facebook"},
	"Core: spine3":    {"internal", "", ""},
	"Transit: Telia":  {"external", "transit", "telia"},
	"IX: DE-CIX":      {"external", "ix", "de-cix"},
}

// sysNames are the sysNames the exporter's SNMP agents announce for
// exporters 127.0.0.1, .2, .3 (cmd/flowengine/exporter_snmp.go), with the
// role and site the exporter rules derive from them.
var sysNames = []struct{ name, role, site string }{
	{"edge1.par", "edge", "par"},
	{"edge2.fra", "edge", "fra"},
	{"edge3.ams", "edge", "ams"},
}

const (
	numExporters  = 3
	numInterfaces = 12
)

// writeMMDB writes the networks of geoNets that value keeps (ok) to path.
func writeMMDB(t *testing.T, path, dbType string, value func(geoNet) (mmdbtype.Map, bool)) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	// Shorter prefixes first: a more specific network inserted later
	// replaces its part of the enclosing one.
	nets := slices.Clone(geoNets)
	slices.SortStableFunc(nets, func(a, b geoNet) int { return a.prefix.Bits() - b.prefix.Bits() })
	for _, n := range nets {
		v, ok := value(n)
		if !ok {
			continue
		}
		ipn := &net.IPNet{IP: n.prefix.Addr().AsSlice(), Mask: net.CIDRMask(n.prefix.Bits(), n.prefix.Addr().BitLen())}
		if err := tree.Insert(ipn, v); err != nil {
			t.Fatalf("insert %s: %v", n.prefix, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeGeoIP(t *testing.T, dir string) (asnPath, countryPath string) {
	asnPath, countryPath = filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "country.mmdb")
	writeMMDB(t, asnPath, "GeoLite2-ASN", func(n geoNet) (mmdbtype.Map, bool) {
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(n.asn),
			"autonomous_system_organization": mmdbtype.String(fmt.Sprintf("AS%d org", n.asn)),
		}, n.asn != 0
	})
	writeMMDB(t, countryPath, "GeoLite2-Country", func(n geoNet) (mmdbtype.Map, bool) {
		return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(n.country)}}, n.country != ""
	})
	return asnPath, countryPath
}

const pipelineTemplate = `
pipeline {
  listen    = "127.0.0.1:0"
  state_dir = %[1]q
}

source "netflow" "routers" {
  listen = "127.0.0.1:%[2]d"
}

source "sflow" "switches" {
  listen = "127.0.0.1:%[3]d"
}

enricher "snmp" "interfaces" {
  input       = [source.netflow.routers, source.sflow.switches]
  credentials = { "127.0.0.0/8" = { community = "public" } }
  port        = %[4]d
  wait        = "2s"
}

enricher "geoip" "geo" {
  input            = enricher.snmp.interfaces
  asn_database     = %[5]q
  country_database = %[6]q
  asn_source       = %[9]q
}

enricher "networks" "names" {
  input    = enricher.geoip.geo
  networks = {
%[7]s  }
}

classifier "exporter" "sites" {
  input = enricher.networks.names
  rule {
    when = can(regex("^[a-z]+[0-9]*\\.[a-z]+", exporter.name))
    role = regexcapture("^([a-z]+)", exporter.name, 1)
    site = regexcapture("^[a-z]+[0-9]*\\.([a-z]+)", exporter.name, 1)
  }
  rule {
    role = "unknown"
  }
}

classifier "interface" "boundary" {
  input = classifier.exporter.sites
  rule {
    when         = imatch("^(transit|pni|ix) *:", interface.description)
    boundary     = "external"
    connectivity = lower(regexcapture("^(\\w+)", interface.description, 1))
    provider     = lower(regexcapture(":\\s*(\\S+)", interface.description, 1))
  }
  rule {
    when     = interface.description != ""
    boundary = "internal"
  }
}

sink "file" "out" {
  input          = classifier.interface.boundary
  path           = %[8]q
  flush_interval = "100ms"
}
`

// record holds the columns the test checks, decoded from a JSON line.
type record struct {
	ExporterAddress netip.Addr
	SrcAddr         netip.Addr
	DstAddr         netip.Addr
	InIfIndex       uint32
	OutIfIndex      uint32
	enriched
}

// enriched holds the columns the pipeline fills.
type enriched struct {
	ExporterName      string
	ExporterRole      string
	ExporterSite      string
	SrcAS             uint32
	DstAS             uint32
	SrcCountry        string
	DstCountry        string
	SrcNetName        string
	DstNetName        string
	InIfName          string
	OutIfName         string
	InIfDescription   string
	OutIfDescription  string
	InIfSpeed         uint64
	OutIfSpeed        uint64
	InIfBoundary      string
	OutIfBoundary     string
	InIfConnectivity  string
	OutIfConnectivity string
	InIfProvider      string
	OutIfProvider     string
}

// pipelineCase says what a pipeline does to flows.
type pipelineCase struct {
	ipv6      bool   // the protocol carries IPv6 flows
	asnSource string // of enricher "geoip"; "" for a pipeline without it (AS numbers from the flows, no countries)
	netNames  bool   // enricher "networks" holds netNames
	// mayPassUnenriched says that flows may pass enricher "snmp" without
	// SNMP data (its wait expired); they must then have no exporter and
	// interface data at all.
	mayPassUnenriched bool
}

// expected returns the enriched columns a flow of exporter ex (0-based)
// must have, given the flow sent (r, from the exporter's truth).
func expected(ex int, r *record, pc pipelineCase) enriched {
	var e enriched
	e.ExporterName, e.ExporterRole, e.ExporterSite = sysNames[ex].name, sysNames[ex].role, sysNames[ex].site
	if pc.asnSource == "" {
		e.SrcAS, e.DstAS = r.SrcAS, r.DstAS
	} else {
		_, e.SrcCountry = expectedGeo(r.SrcAddr)
		_, e.DstCountry = expectedGeo(r.DstAddr)
		e.SrcAS, _ = expectedAS(r.SrcAddr, r.SrcAS, pc.asnSource)
		e.DstAS, _ = expectedAS(r.DstAddr, r.DstAS, pc.asnSource)
	}
	if pc.netNames {
		e.SrcNetName, e.DstNetName = expectedNetName(r.SrcAddr), expectedNetName(r.DstAddr)
	}
	ifaces := exporter.Interfaces(numInterfaces)
	if r.InIfIndex >= 1 && int(r.InIfIndex) <= len(ifaces) {
		i := ifaces[r.InIfIndex-1]
		c := interfaceClasses[i.Description]
		e.InIfName, e.InIfDescription, e.InIfSpeed = i.Name, i.Description, i.SpeedMbps
		e.InIfBoundary, e.InIfConnectivity, e.InIfProvider = c.boundary, c.connectivity, c.provider
	}
	if r.OutIfIndex >= 1 && int(r.OutIfIndex) <= len(ifaces) {
		i := ifaces[r.OutIfIndex-1]
		c := interfaceClasses[i.Description]
		e.OutIfName, e.OutIfDescription, e.OutIfSpeed = i.Name, i.Description, i.SpeedMbps
		e.OutIfBoundary, e.OutIfConnectivity, e.OutIfProvider = c.boundary, c.connectivity, c.provider
	}
	return e
}

// withoutSNMP returns e as it is when enricher "snmp" passed the flow on
// without data: nothing derived from the exporter's name or interfaces.
func withoutSNMP(e enriched) enriched {
	return enriched{SrcAS: e.SrcAS, DstAS: e.DstAS, SrcCountry: e.SrcCountry, DstCountry: e.DstCountry,
		SrcNetName: e.SrcNetName, DstNetName: e.DstNetName}
}

// TestTables checks the test's own tables against the exporter: every
// interface description is classified, external interfaces are the
// exporter's external ones.
func TestTables(t *testing.T) {
	for _, i := range exporter.Interfaces(numInterfaces) {
		c, ok := interfaceClasses[i.Description]
		if !ok {
			t.Errorf("interface %d: description %q not in interfaceClasses", i.Index, i.Description)
			continue
		}
		if (c.boundary == "external") != i.External {
			t.Errorf("interface %d %q: boundary %q, exporter says external=%v", i.Index, i.Description, c.boundary, i.External)
		}
	}
	for i := range numExporters {
		if got := exporter.ExporterAddress(i); got != netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}) {
			t.Errorf("exporter %d address %v", i, got)
		}
	}
}

// TestEnrichment runs the whole enrichment chain (SNMP from the exporter's
// agents, GeoIP from databases written here, networks, exporter and
// interface classifiers) in `flowengine run`, fed by `flowengine exporter`
// in each protocol, and checks every column of every flow. AS numbers come
// from the databases only (asn_source "geoip") for NetFlow v9, from the
// flows unless 0 (asn_source "flow-else-geoip") for the others, which also
// checks that each decoder carries the exporter's AS numbers.
func TestEnrichment(t *testing.T) {
	const count = 3000
	asnPath, countryPath := writeGeoIP(t, t.TempDir())
	var netsHCL strings.Builder
	for _, n := range netNames {
		fmt.Fprintf(&netsHCL, "    %q = { name = %q }\n", n.prefix.String(), n.name)
	}
	for _, tc := range []struct {
		protocol string
		sflow    bool
		pc       pipelineCase
	}{
		{protocol: exporter.NetFlow9, pc: pipelineCase{ipv6: true, asnSource: "geoip"}},
		{protocol: exporter.IPFIX, pc: pipelineCase{ipv6: true, asnSource: "flow-else-geoip"}},
		{protocol: exporter.NetFlow5, pc: pipelineCase{asnSource: "flow-else-geoip"}},
		{protocol: exporter.SFlow, sflow: true, pc: pipelineCase{ipv6: true, asnSource: "flow-else-geoip"}},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			tc.pc.netNames = true
			dir := t.TempDir()
			ports := udpPorts(t, 3)
			nfPort, sfPort, snmpPort := ports[0], ports[1], ports[2]
			out := filepath.Join(dir, "flows.jsonl")
			pipeline := filepath.Join(dir, "pipeline.hcl")
			src := fmt.Sprintf(pipelineTemplate, filepath.Join(dir, "state"), nfPort, sfPort, snmpPort,
				asnPath, countryPath, netsHCL.String(), out, tc.pc.asnSource)
			if err := os.WriteFile(pipeline, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}

			e := startEngine(t, dir, pipeline)
			port := nfPort
			if tc.sflow {
				port = sfPort
			}
			truthPath := filepath.Join(dir, "truth.jsonl")
			runExporter(t, e, tc.protocol, port, snmpPort, count, truthPath)
			e.waitLines(out, count)
			metrics := e.scrape()
			e.stop()

			records := readRecords(t, out)
			if len(records) != count {
				t.Fatalf("%d flows in the file, the exporter sent %d\n%s", len(records), count, e.log.String())
			}
			truth := checkTruth(t, out, truthPath, tc.protocol, tc.pc)
			checkRecords(t, records, truth, tc.pc)

			// One successful SNMP poll per exporter, no flow left without
			// SNMP data, as many GeoIP misses as addresses looked up that
			// the databases do not cover.
			var asnMisses, ccMisses float64
			for _, r := range truth {
				for i, a := range []netip.Addr{r.SrcAddr, r.DstAddr} {
					if as, lookedUp := expectedAS(a, []uint32{r.SrcAS, r.DstAS}[i], tc.pc.asnSource); lookedUp && as == 0 {
						asnMisses++
					}
					if _, cc := expectedGeo(a); cc == "" {
						ccMisses++
					}
				}
			}
			checkMetrics(t, metrics, []sample{
				{`flowengine_snmp_exporters{stage="enricher.snmp.interfaces"}`, numExporters},
				{`flowengine_snmp_polls_total{stage="enricher.snmp.interfaces"}`, numExporters},
				{`flowengine_snmp_poll_errors_total{stage="enricher.snmp.interfaces"}`, 0},
				{`flowengine_snmp_flows_unenriched_total{stage="enricher.snmp.interfaces"}`, 0},
				{`flowengine_geoip_lookup_misses_total{database="asn",stage="enricher.geoip.geo"}`, asnMisses},
				{`flowengine_geoip_lookup_misses_total{database="country",stage="enricher.geoip.geo"}`, ccMisses},
			})

			// Every flow went through every stage.
			nf, sf := [2]int{0, count}, [2]int{0, 0}
			if tc.sflow {
				nf, sf = sf, nf
			}
			checkTotals(t, e.log.String(), map[string][2]int{
				"source.netflow.routers":        nf,
				"source.sflow.switches":         sf,
				"enricher.snmp.interfaces":      {count, count},
				"enricher.geoip.geo":            {count, count},
				"enricher.networks.names":       {count, count},
				"classifier.exporter.sites":     {count, count},
				"classifier.interface.boundary": {count, count},
				"sink.file.out":                 {count, 0},
			})
			if t.Failed() {
				t.Logf("engine output:\n%s", e.log.String())
			}
		})
	}
}

// TestDefaultPipeline runs pipelines/default.hcl as `make demo` does, fed
// by NetFlow v9 exporters with SNMP agents: exporter and interface names,
// descriptions, speeds, sites, roles and boundaries as the agents and the
// pipeline's rules say, AS numbers from the flows. Its enricher "snmp"
// waits 50ms for a poll: flows that passed without SNMP data must be
// exactly the ones counted, with no exporter or interface data at all.
func TestDefaultPipeline(t *testing.T) {
	const count = 3000
	pipeline, err := filepath.Abs("../pipelines/default.hcl")
	if err != nil {
		t.Fatal(err)
	}
	jsonl, err := filepath.Abs("../pipelines/jsonl.hcl") // adds the JSON lines sink
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // the working directory: data/state and data/flows.duckdb are in it
	ports := udpPorts(t, 3)
	nfPort, sfPort, snmpPort := ports[0], ports[1], ports[2]
	out := filepath.Join(dir, "flows.jsonl")
	bmpPort := testenv.FreePort(t, "tcp")
	e := startEngine(t, dir, "-listen", "127.0.0.1:0", "-console-listen", "127.0.0.1:0",
		"-var", fmt.Sprintf("netflow_listen=127.0.0.1:%d", nfPort),
		"-var", fmt.Sprintf("sflow_listen=127.0.0.1:%d", sfPort),
		"-var", fmt.Sprintf("snmp_port=%d", snmpPort),
		"-var", fmt.Sprintf("bmp_listen=127.0.0.1:%d", bmpPort),
		"-var", "output="+out, pipeline, jsonl)
	truthPath := filepath.Join(dir, "truth.jsonl")
	runExporter(t, e, exporter.NetFlow9, nfPort, snmpPort, count, truthPath, "-bmp", fmt.Sprintf("127.0.0.1:%d", bmpPort))
	e.waitLines(out, count)
	checkConsoleRoutes(t, e)
	metrics := e.scrape()
	e.stop()

	records := readRecords(t, out)
	if len(records) != count {
		t.Fatalf("%d flows in the file, the exporter sent %d\n%s", len(records), count, e.log.String())
	}
	pc := pipelineCase{ipv6: true, mayPassUnenriched: true}
	unenriched := checkRecords(t, records, checkTruth(t, out, truthPath, exporter.NetFlow9, pc), pc)
	checkRoutes(t, out)
	checkMetrics(t, metrics, []sample{
		{`flowengine_snmp_exporters{stage="enricher.snmp.interfaces"}`, numExporters},
		{`flowengine_snmp_polls_total{stage="enricher.snmp.interfaces"}`, numExporters},
		{`flowengine_snmp_poll_errors_total{stage="enricher.snmp.interfaces"}`, 0},
		{`flowengine_snmp_flows_unenriched_total{stage="enricher.snmp.interfaces"}`, float64(unenriched)},
	})
	checkTotals(t, e.log.String(), map[string][2]int{
		"source.netflow.routers":        {0, count},
		"source.sflow.switches":         {0, 0},
		"enricher.snmp.interfaces":      {count, count},
		"enricher.bmp.routes":           {count, count},
		"enricher.networks.private":     {count, count},
		"classifier.exporter.sites":     {count, count},
		"classifier.interface.boundary": {count, count},
		"sink.file.jsonl":               {count, 0},
		"sink.duckdb.local":             {count, 0},
	})
	if _, err := os.Stat(filepath.Join(dir, "data", "state")); err != nil {
		t.Errorf("state directory: %v", err)
	}
	if t.Failed() {
		t.Logf("engine output:\n%s", e.log.String())
	}
}

// consoleURL finds the console's address in the engine's log.
var consoleURL = regexp.MustCompile(`msg="serving the console" url=(\S+?)/? `)

// checkConsoleRoutes asks the console for the traffic through AS15169 by
// first AS and AS path (`DstASPath HAS AS15169`): the store has rows, each
// path holding 15169 and starting with the row's first AS.
func checkConsoleRoutes(t *testing.T, e *engineProc) {
	t.Helper()
	m := consoleURL.FindStringSubmatch(e.log.String())
	if m == nil {
		t.Fatalf("no console address in the engine's log")
	}
	now := time.Now().UTC()
	body := fmt.Sprintf(`{"start": %q, "end": %q, "metric": "flows", "dimensions": ["DstFirstAS", "DstASPath"], "limit": 20, "filter": "DstASPath HAS AS15169"}`,
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Minute).Format(time.RFC3339))
	var res struct {
		Rows []struct {
			Dimensions []string
			Total      float64
		}
	}
	var last string
	e.waitFor("flows towards AS15169 in the console", 20*time.Second, func() bool {
		resp, err := http.Post(m[1]+"/api/v0/console/table", "application/json", strings.NewReader(body))
		if err != nil {
			last = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		res.Rows = nil
		return resp.StatusCode == 200 && json.Unmarshal(b, &res) == nil && len(res.Rows) > 0 && res.Rows[0].Total > 0
	})
	for _, r := range res.Rows {
		if len(r.Dimensions) != 2 || r.Dimensions[1] != "Other" && !slices.Contains(strings.Fields(r.Dimensions[1]), "15169") ||
			r.Dimensions[0] != "Other" && !strings.HasPrefix(r.Dimensions[1], r.Dimensions[0]+" ") && r.Dimensions[1] != r.Dimensions[0] {
			t.Errorf("row %v", r)
		}
	}
	if t.Failed() {
		t.Logf("the console's flows through AS15169: %s", last)
	} else {
		t.Logf("the console's flows through AS15169: %d rows by first AS and path, first %v", len(res.Rows), res.Rows[0])
	}
}

// checkRoutes checks the routing columns of the flows in out against the
// routes the synthetic exporters announced over BMP: a flow leaving
// through an external interface has the AS path (ending with its DstAS)
// and communities of the route for its destination and next hop (or, for
// at most 2% of them, none yet); a flow towards the network's own
// prefixes has none.
func checkRoutes(t *testing.T, out string) {
	t.Helper()
	routes := exporter.NewGenerator(exporter.GeneratorOptions{Interfaces: numInterfaces}).Routes()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var routed, outbound, wrong int
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			DstAddr, NextHop    netip.Addr
			DstAS               uint32
			DstASPath           []uint32
			DstCommunities      []string
			DstLargeCommunities []string
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		var want *exporter.Route
		for i := range routes {
			if routes[i].Prefix.Contains(r.DstAddr) && routes[i].NextHop == r.NextHop {
				want = &routes[i]
			}
		}
		if want == nil {
			if len(r.DstASPath)+len(r.DstCommunities)+len(r.DstLargeCommunities) != 0 {
				t.Errorf("flow to %v via %v (no route): path %v, communities %v %v", r.DstAddr, r.NextHop, r.DstASPath, r.DstCommunities, r.DstLargeCommunities)
			}
			continue
		}
		outbound++
		comms := []string{}
		for c := range want.Communities.All() {
			comms = append(comms, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
		}
		large := []string{}
		for c := range want.LargeCommunities.All() {
			large = append(large, c.String())
		}
		if len(r.DstASPath)+len(r.DstCommunities)+len(r.DstLargeCommunities) == 0 {
			continue // before the station had the routes: counted below
		}
		routed++
		if !slices.Equal(r.DstASPath, want.ASPath.AppendTo(nil)) || len(r.DstASPath) == 0 || r.DstASPath[len(r.DstASPath)-1] != r.DstAS ||
			!slices.Equal(r.DstCommunities, comms) || !slices.Equal(r.DstLargeCommunities, large) {
			wrong++
			if wrong <= 5 {
				t.Errorf("flow to %v via %v: path %v communities %v %v, want %v %v %v",
					r.DstAddr, r.NextHop, r.DstASPath, r.DstCommunities, r.DstLargeCommunities, want.ASPath, comms, large)
			}
		}
	}
	// The exporters send their routes before their flows: at most a few
	// of the first flows may come before the station has them.
	if outbound == 0 || routed < outbound*98/100 || wrong > 0 {
		t.Errorf("%d outbound flows, %d with an AS path, %d with other routing columns than their route", outbound, routed, wrong)
	}
	t.Logf("%d outbound flows, %d with an AS path", outbound, routed)
}

// checkTruth compares every decoded flow of the file sink's output with
// the flows `flowengine exporter` sent (its truth file), and returns for
// each decoded flow the flow sent it matches (the zero record when there
// is none, already reported).
func checkTruth(t *testing.T, out, truthPath, protocol string, pc pipelineCase) []record {
	t.Helper()
	decoded, sent := readColumns(t, out), readColumns(t, truthPath)
	if len(sent) != len(decoded) {
		t.Errorf("the exporter's truth holds %d flows, the output %d", len(sent), len(decoded))
	}
	if len(sent) == 0 {
		t.Fatalf("no flow in the truth %s", truthPath)
	}
	match := matchTruth(t, decoded, sent, protocol, pc.asnSource == "")
	truthRecords := readRecords(t, truthPath)
	truth := make([]record, len(decoded))
	for i, j := range match {
		if j >= 0 {
			truth[i] = truthRecords[j]
		}
	}
	return truth
}

// checkRecords compares every record with what it must hold given the
// flow sent (truth, aligned with records), checks that the run covered the
// cases the tables were written for, and returns how many flows passed
// without SNMP data (when pc allows it).
func checkRecords(t *testing.T, records, truth []record, pc pipelineCase) (unenriched int) {
	var (
		perExporter    [numExporters]int
		v6, mismatches int
		ifaces         = map[uint32]bool{}
		geoHits        = map[netip.Prefix]int{} // by longest geoNets prefix holding the address
		netHits        = map[string]int{}       // by network name
	)
	for n, r := range records {
		ex := -1
		for i := range numExporters {
			if r.ExporterAddress == exporter.ExporterAddress(i) {
				ex = i
			}
		}
		if ex < 0 {
			t.Errorf("flow %d: exporter %v is none of the %d synthetic exporters", n+1, r.ExporterAddress, numExporters)
			continue
		}
		perExporter[ex]++
		for _, idx := range []uint32{r.InIfIndex, r.OutIfIndex} {
			if idx < 1 || idx > numInterfaces {
				t.Errorf("flow %d: ifIndex %d out of 1..%d", n+1, idx, numInterfaces)
			}
			ifaces[idx] = true
		}
		if r.SrcAddr.Is6() {
			v6++
		}
		for _, a := range []netip.Addr{r.SrcAddr, r.DstAddr} {
			geoHits[longestGeoNet(a)]++
			netHits[expectedNetName(a)]++
		}
		if !truth[n].SrcAddr.IsValid() {
			continue // not sent: reported by checkTruth
		}
		want := expected(ex, &truth[n], pc)
		if pc.mayPassUnenriched && r.ExporterName == "" {
			want = withoutSNMP(want)
			unenriched++
		}
		if diff := cmp.Diff(r.enriched, want); diff != "" {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("flow %d (exporter %v, %v -> %v, ifIndex %d -> %d) (-got +want):\n%s",
					n+1, r.ExporterAddress, r.SrcAddr, r.DstAddr, r.InIfIndex, r.OutIfIndex, diff)
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d flows differ from what they must hold", mismatches, len(records))
	}
	// The run exercised what the tables describe (seed 7 draws every
	// network of them).
	for i, c := range perExporter {
		if c == 0 {
			t.Errorf("no flow from exporter %v", exporter.ExporterAddress(i))
		}
	}
	if pc.ipv6 && v6 == 0 {
		t.Errorf("no IPv6 flow")
	}
	if !pc.ipv6 && v6 != 0 {
		t.Errorf("%d IPv6 flows from a protocol without IPv6", v6)
	}
	if pc.asnSource != "" {
		for _, n := range geoNets {
			if geoHits[n.prefix] == 0 && (pc.ipv6 || n.prefix.Addr().Is4()) {
				t.Errorf("no flow address in %s", n.prefix)
			}
		}
		if geoHits[netip.Prefix{}] == 0 {
			t.Errorf("no flow address outside the GeoIP databases")
		}
	}
	if pc.netNames {
		for _, n := range netNames {
			if netHits[n.name] == 0 && (pc.ipv6 || n.prefix.Addr().Is4()) {
				t.Errorf("no flow address in %s (%s)", n.prefix, n.name)
			}
		}
	}
	if len(ifaces) != numInterfaces {
		t.Errorf("%d distinct interfaces in flows, want %d", len(ifaces), numInterfaces)
	}
	t.Logf("%d flows: per exporter %v, %d IPv6, %d addresses outside the GeoIP databases, %d outside the networks map, %d without SNMP data",
		len(records), perExporter, v6, geoHits[netip.Prefix{}], netHits[""], unenriched)
	return unenriched
}

// longestGeoNet returns the longest prefix of geoNets holding a, or the
// zero prefix.
func longestGeoNet(a netip.Addr) netip.Prefix {
	var best netip.Prefix
	for _, n := range geoNets {
		if n.prefix.Contains(a) && (!best.IsValid() || n.prefix.Bits() > best.Bits()) {
			best = n.prefix
		}
	}
	return best
}
