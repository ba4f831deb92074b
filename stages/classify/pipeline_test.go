package classify_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/stages/classify"
	"github.com/flowengine/flowengine/stages/file"
	"github.com/flowengine/flowengine/stages/generate"
	"github.com/flowengine/flowengine/stages/geoip"
	"github.com/flowengine/flowengine/stages/networks"
)

func writeMMDB(t *testing.T, path, typ string, nets map[string]mmdbtype.Map) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: typ, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, v := range nets {
		_, n, _ := net.ParseCIDR(cidr)
		if err := tree.Insert(n, v); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
}

// TestPipeline runs generated flows through geoip, networks and both
// classifiers into a JSON-lines file, in the engine's runtime.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	asnDB, ccDB := filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "country.mmdb")
	writeMMDB(t, asnDB, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"198.51.100.0/24": {"autonomous_system_number": mmdbtype.Uint32(64501)},
		"203.0.113.0/24":  {"autonomous_system_number": mmdbtype.Uint32(64502)},
	})
	writeMMDB(t, ccDB, "GeoLite2-Country", map[string]mmdbtype.Map{
		"198.51.100.0/24":   {"country": mmdbtype.Map{"iso_code": mmdbtype.String("FR")}},
		"2001:db8:100::/48": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE")}},
	})
	out := filepath.Join(dir, "out.jsonl")
	src := fmt.Sprintf(`
source "generate" "g" {
  count     = 20000
  rate      = 0
  exporters = ["192.0.2.1", "192.0.2.2", "10.1.0.1"]
}
enricher "geoip" "geo" {
  input            = source.generate.g
  asn_database     = %q
  country_database = %q
}
enricher "networks" "nets" {
  input    = enricher.geoip.geo
  networks = {
    "198.51.100.0/25" = { name = "customers", role = "customer" }
    "198.51.100.0/24" = { name = "all", tenant = "acme" }
  }
}
classifier "exporter" "sites" {
  input = enricher.networks.nets
  rule {
    when   = exporter.address == "192.0.2.2"
    reject = true
  }
  rule {
    when = cidrcontains("10.1.0.0/16", exporter.address)
    site = "paris"
  }
  rule {
    site = "other"
  }
}
classifier "interface" "boundary" {
  input = classifier.exporter.sites
  rule {
    when     = interface.index <= 2 && exporter.site == "paris"
    boundary = "external"
    provider = "transit${interface.index}"
  }
  rule {
    boundary = "internal"
  }
}
sink "file" "out" {
  input = classifier.interface.boundary
  path  = %q
}
`, asnDB, ccDB, out)
	reg := engine.NewRegistry()
	reg.RegisterSource("generate", generate.Spec, engine.AsSource(generate.New))
	reg.RegisterSink("file", file.Spec, engine.AsSink(file.New))
	reg.RegisterEnricher("geoip", geoip.Spec, engine.AsProcessor(geoip.New))
	reg.RegisterEnricher("networks", networks.Spec, engine.AsProcessor(networks.New))
	reg.RegisterClassifier("exporter", classify.ExporterSpec, engine.AsProcessor(classify.NewExporter))
	reg.RegisterClassifier("interface", classify.InterfaceSpec, engine.AsProcessor(classify.NewInterface))
	p, diags := dsl.Load([]string{"test.hcl"}, map[string][]byte{"test.hcl": []byte(src)}, dsl.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	g, diags := engine.Compile(p, engine.CompileOptions{Registry: reg})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	rt := engine.NewRuntime(g)
	if err := rt.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rejected uint64
	for _, s := range rt.Stats().Stages {
		if s.ID == "classifier.exporter.sites" {
			rejected = s.FlowsIn - s.FlowsOut
		}
	}
	if rejected == 0 {
		t.Error("no flow rejected")
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var n, external, fr, customers int
	for sc.Scan() {
		n++
		var r struct {
			ExporterAddress, ExporterSite, SrcAddr, SrcCountry, SrcNetName, SrcNetRole, SrcNetTenant string
			InIfIndex, SrcAS                                                                         uint32
			InIfBoundary, InIfProvider                                                               string
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.ExporterAddress == "192.0.2.2" {
			t.Fatalf("flow of a rejected exporter: %s", sc.Text())
		}
		wantSite := map[bool]string{true: "paris", false: "other"}[r.ExporterAddress == "10.1.0.1"]
		if r.ExporterSite != wantSite {
			t.Fatalf("site %q, want %q: %s", r.ExporterSite, wantSite, sc.Text())
		}
		ext := r.ExporterSite == "paris" && r.InIfIndex <= 2
		if ext {
			external++
			if r.InIfBoundary != "external" || r.InIfProvider != fmt.Sprintf("transit%d", r.InIfIndex) {
				t.Fatalf("want an external transit interface: %s", sc.Text())
			}
		} else if r.InIfBoundary != "internal" || r.InIfProvider != "" {
			t.Fatalf("want an internal interface: %s", sc.Text())
		}
		if r.SrcCountry == "FR" {
			fr++
			if r.SrcAS != 64501 || r.SrcNetTenant != "acme" || (r.SrcNetName != "all" && r.SrcNetName != "customers") {
				t.Fatalf("198.51.100.0/24 source not enriched: %s", sc.Text())
			}
			if r.SrcNetName == "customers" {
				customers++
				if r.SrcNetRole != "customer" {
					t.Fatalf("role: %s", sc.Text())
				}
			}
		}
	}
	if uint64(n)+rejected != 20000 {
		t.Errorf("%d flows written + %d rejected, want 20000", n, rejected)
	}
	if external == 0 || fr == 0 || customers == 0 {
		t.Errorf("external %d, FR %d, customers %d: want some of each", external, fr, customers)
	}
}
