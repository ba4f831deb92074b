package snmp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/exporter/snmpagent"
	"github.com/flowengine/flowengine/stages/file"
	"github.com/flowengine/flowengine/stages/generate"
	"github.com/flowengine/flowengine/stages/metadata"
	"github.com/flowengine/flowengine/stages/snmp"
)

// TestPipeline runs generate → metadata → snmp → file with the engine's
// runtime, against an snmpagent serving the generated exporter.
func TestPipeline(t *testing.T) {
	agent := snmpagent.New("demo", snmpagent.Data{SysName: "edge1.par", Interfaces: []snmpagent.Interface{
		{Index: 1, Name: "et-0/0/0", Description: "Transit: Cogent", SpeedMbps: 100000},
		{Index: 2, Name: "et-0/0/1", Description: "Core: spine1", SpeedMbps: 400000},
		{Index: 3, Name: "et-0/0/2", Description: "PNI: Google", SpeedMbps: 100000},
		{Index: 4, Name: "et-0/0/3", Description: "IX: FranceIX", SpeedMbps: 10000},
	}})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go agent.Serve(ctx, conn)

	dir := t.TempDir()
	out := filepath.Join(dir, "flows.json")
	src := fmt.Sprintf(`
pipeline { state_dir = %q }

source "generate" "demo" {
  exporters  = ["127.0.0.1"]
  interfaces = 4
  count      = 5000
  rate       = 0
}

enricher "metadata" "static" {
  input = source.generate.demo
  exporter "127.0.0.1" {
    site = "paris"
    interface "2" {
      description = "Core: spine1 (declared)"
      boundary    = "internal"
    }
  }
}

enricher "snmp" "ifaces" {
  input       = enricher.metadata.static
  credentials = { "127.0.0.0/8" = { community = "demo" } }
  port        = %d
  wait        = "10s"
}

sink "file" "out" {
  input = enricher.snmp.ifaces
  path  = %q
}
`, filepath.Join(dir, "state"), conn.LocalAddr().(*net.UDPAddr).Port, out)
	path := filepath.Join(dir, "pipeline.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := engine.NewRegistry()
	reg.RegisterSource("generate", generate.Spec, engine.AsSource(generate.New))
	reg.RegisterSink("file", file.Spec, engine.AsSink(file.New))
	reg.RegisterEnricher("metadata", metadata.Spec, engine.AsProcessor(metadata.New))
	reg.RegisterEnricher("snmp", snmp.Spec, engine.AsProcessor(snmp.New))
	p, diags := dsl.LoadFiles([]string{path}, dsl.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	g, diags := engine.Compile(p, engine.CompileOptions{Registry: reg})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	if err := engine.NewRuntime(g).Run(rctx); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wantName := map[float64]string{1: "et-0/0/0", 2: "et-0/0/1", 3: "et-0/0/2", 4: "et-0/0/3"}
	wantDesc := map[float64]string{1: "Transit: Cogent", 2: "Core: spine1 (declared)", 3: "PNI: Google", 4: "IX: FranceIX"}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		n++
		in, _ := r["InIfIndex"].(float64)
		if r["ExporterName"] != "edge1.par" || r["ExporterSite"] != "paris" || r["InIfName"] != wantName[in] ||
			r["InIfDescription"] != wantDesc[in] {
			t.Fatalf("flow %d not enriched as expected: %s", n, sc.Bytes())
		}
		if in == 2 && r["InIfBoundary"] != "internal" {
			t.Fatalf("flow %d: boundary not declared: %s", n, sc.Bytes())
		}
	}
	if n != 5000 {
		t.Errorf("%d flows written, want 5000", n)
	}
}
