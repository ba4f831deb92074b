package file

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

func newSink(t *testing.T, src string) *Sink {
	t.Helper()
	cfg, diags := dsl.DecodeString(src, Spec)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	s, diags := New(cfg, engine.Env{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return s
}

func feed(t *testing.T, s *Sink, batches, perBatch int) (released *int) {
	t.Helper()
	in := make(chan *flow.Batch, batches)
	n := 0
	for i := 0; i < batches; i++ {
		b := flow.NewBatch()
		for j := 0; j < perBatch; j++ {
			b.Append().Packets = uint64(i*perBatch + j)
		}
		b.OnDone(func() { n++ })
		in <- b
	}
	close(in)
	if err := s.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return &n
}

func lines(t *testing.T, path string) []uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct{ Packets uint64 }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Packets)
	}
	return out
}

func TestWriteAndRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "flows.jsonl")
	s := newSink(t, `path = "`+path+`"`)
	released := feed(t, s, 10, 100)
	if *released != 10 {
		t.Errorf("%d batches released, want 10", *released)
	}
	got := lines(t, path)
	if len(got) != 1000 || got[999] != 999 {
		t.Fatalf("%d lines", len(got))
	}
	// A second run appends.
	s = newSink(t, `path = "`+path+`"`)
	feed(t, s, 1, 5)
	if n := len(lines(t, path)); n != 1005 {
		t.Errorf("after append: %d lines", n)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.jsonl")
	s := newSink(t, `
path        = "`+path+`"
rotate_size = "100KiB"
rotate_keep = 2
`)
	feed(t, s, 40, 50) // about 1.4 kB per line: ~2.8 MB in all
	total := len(lines(t, path))
	for _, suffix := range []string{".1", ".2"} {
		st, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatalf("rotated file %s missing: %v", suffix, err)
		}
		if st.Size() < 100<<10 {
			t.Errorf("%s is %d bytes, below the rotation size", suffix, st.Size())
		}
		total += len(lines(t, path+suffix))
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Error("rotate_keep = 2 kept a third file")
	}
	if total >= 2000 || total == 0 {
		t.Errorf("kept %d lines; older files should have been removed", total)
	}
}

func TestConfigErrors(t *testing.T) {
	cfg, _ := dsl.DecodeString(`
path        = "-"
rotate_size = "1MiB"
`, Spec)
	if _, diags := New(cfg, engine.Env{}); !diags.HasErrors() || diags[0].Subject.Start.Line != 3 {
		t.Errorf("rotating stdout must be refused on its line: %v", diags)
	}
}

func BenchmarkWrite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "flows.jsonl")
	cfg, _ := dsl.DecodeString(`path = "`+path+`"
rotate_size = "64MiB"
rotate_keep = 1`, Spec)
	impl, _ := New(cfg, engine.Env{})
	s := impl
	in := make(chan *flow.Batch, 1)
	done := make(chan error)
	go func() { done <- s.Run(context.Background(), in) }()
	b.ReportAllocs()
	for b.Loop() {
		bt := flow.NewBatch()
		for j := 0; j < flow.BatchSize; j++ {
			r := bt.Append()
			r.Packets, r.Bytes, r.Proto = 1, 1500, 6
		}
		in <- bt
	}
	close(in)
	<-done
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*flow.BatchSize), "ns/flow")
}
