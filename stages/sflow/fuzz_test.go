package sflow

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/flowengine/flowengine/flow"
)

// FuzzDecode feeds arbitrary datagrams to the decoder: it must never panic,
// never keep records from a datagram it rejects, and never produce more
// records than MaxFlows allows. The seed corpus is in testdata/fuzz/FuzzDecode
// (regenerate it with SFLOW_WRITE_CORPUS=1 go test -run TestWriteCorpus).
func FuzzDecode(f *testing.F) {
	for _, d := range differentialDatagrams() {
		f.Add(d)
	}
	dec := Decoder{DefaultRate: Uniform(1)}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := flow.NewBatch()
		defer b.Release()
		res, err := dec.Decode(data, testSrc, testNow, b)
		if err != nil && b.Len() != 0 {
			t.Fatalf("rejected datagram left %d records", b.Len())
		}
		if res.Flows != b.Len() {
			t.Fatalf("Result.Flows = %d, batch has %d", res.Flows, b.Len())
		}
		if b.Len() > MaxFlows(len(data)) {
			t.Fatalf("%d flows from %d bytes, MaxFlows says %d", b.Len(), len(data), MaxFlows(len(data)))
		}
	})
}

func TestWriteCorpus(t *testing.T) {
	if os.Getenv("SFLOW_WRITE_CORPUS") == "" {
		return // only on demand: it rewrites testdata
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ds := differentialDatagrams()
	names := make([]string, 0, len(ds))
	for n := range ds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", ds[n])
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
