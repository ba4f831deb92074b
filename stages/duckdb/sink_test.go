package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// newSink builds a sink on path with extra configuration.
func newSink(t testing.TB, path, extra string) (*Sink, *prometheus.Registry) {
	t.Helper()
	cfg, diags := dsl.DecodeString(fmt.Sprintf("path = %q\n%s", path, extra), Spec)
	if diags.HasErrors() {
		t.Fatalf("decode: %v", diags)
	}
	reg := prometheus.NewRegistry()
	s, diags := New(cfg, engine.Env{ID: engine.ID{Kind: engine.KindSink, Type: "duckdb", Name: "test"}, Metrics: reg, Logger: testLogger(t)})
	if diags.HasErrors() {
		t.Fatalf("new: %v", diags)
	}
	t.Cleanup(func() { s.Close() })
	return s, reg
}

func provision(t testing.TB, s *Sink) *engine.Plan {
	t.Helper()
	ctx := context.Background()
	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return plan
}

// record is flow i of a test: varied dimensions, times spread over base.
func record(i int, base time.Time) flow.Record {
	return flow.Record{
		TimeReceived:    base.Add(time.Duration(i) * 37 * time.Millisecond),
		TimeFlowStart:   base.Add(-time.Second),
		TimeFlowEnd:     base,
		SamplingRate:    uint64(1 + i%3*999),
		ExporterAddress: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%3)}),
		ExporterName:    fmt.Sprintf("router%d", i%3),
		SrcAddr:         netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}),
		DstAddr:         netip.MustParseAddr("2001:db8::1"),
		SrcAS:           uint32(64500 + i%7),
		InIfName:        fmt.Sprintf("et%d", i%4),
		InIfDescription: "transit: a long interface description",
		InIfBoundary:    flow.Boundary(i % 3),
		Proto:           6,
		SrcPort:         uint16(i),
		DstPort:         443,
		Bytes:           uint64(100 + i%1000),
		Packets:         uint64(1 + i%10),
	}
}

// feed sends n flows in batches of size; done counts released batches' flows.
func feed(ctx context.Context, in chan<- *flow.Batch, first, n, size int, base time.Time, done *atomic.Int64) {
	for i := first; i < first+n; i += size {
		b := flow.NewBatch()
		for j := i; j < min(i+size, first+n); j++ {
			*b.Append() = record(j, base)
		}
		k := int64(len(b.Records))
		b.OnDone(func() { done.Add(k) })
		select {
		case in <- b:
		case <-ctx.Done():
			return
		}
	}
}

func query[T any](t testing.TB, db *sql.DB, q string, args ...any) T {
	t.Helper()
	var v T
	if err := db.QueryRow(q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func TestInsertAndRollups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.duckdb")
	s, _ := newSink(t, path, "batch_size = 5000\nbatch_timeout = \"100ms\"")
	provision(t, s)
	in := make(chan *flow.Batch, 4)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background(), in) }()
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var done atomic.Int64
	const n = 30000
	feed(context.Background(), in, 0, n, 1000, base, &done)
	close(in)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if done.Load() != n {
		t.Fatalf("released %d flows, want %d", done.Load(), n)
	}
	var wantBytes, wantPackets, wantFlows uint64
	for i := 0; i < n; i++ {
		r := record(i, base)
		wantBytes += r.Bytes * r.SamplingRate
		wantPackets += r.Packets * r.SamplingRate
		wantFlows += r.SamplingRate
	}
	db, _ := s.open(context.Background())
	if got := query[int64](t, db, "SELECT count(*) FROM flows"); got != n {
		t.Errorf("flows: %d rows, want %d", got, n)
	}
	if got := query[string](t, db, `SELECT CAST(SUM("Bytes" * "SamplingRate") AS VARCHAR) FROM flows`); got != fmt.Sprint(wantBytes) {
		t.Errorf("flows: bytes %s, want %d", got, wantBytes)
	}
	for _, table := range []string{"flows_1m0s", "flows_5m0s", "flows_1h0m0s"} {
		got := query[string](t, db, fmt.Sprintf(`SELECT CAST(SUM("Bytes") AS VARCHAR) || '/' || CAST(SUM("Packets") AS VARCHAR) || '/' || CAST(SUM("Flows") AS VARCHAR) FROM %s`, table))
		if want := fmt.Sprintf("%d/%d/%d", wantBytes, wantPackets, wantFlows); got != want {
			t.Errorf("%s: sums %s, want %s", table, got, want)
		}
	}
	// Round trip of every kind of column.
	var addr, exporter, name, desc string
	var boundary, port uint64
	var tr time.Time
	if err := db.QueryRow(`SELECT `+addrText(`"SrcAddr"`, 0)+`, `+addrText(`"ExporterAddress"`, 0)+`, "ExporterName", "InIfDescription", "InIfBoundary", "SrcPort", "TimeReceived"
		FROM flows WHERE "SrcPort" = 1001`).Scan(&addr, &exporter, &name, &desc, &boundary, &port, &tr); err != nil {
		t.Fatal(err)
	}
	r := record(1001, base)
	if a, err := netip.ParseAddr(addr); err != nil || a.Unmap() != r.SrcAddr || name != r.ExporterName || desc != r.InIfDescription ||
		boundary != uint64(r.InIfBoundary) || !tr.Equal(r.TimeReceived.Truncate(time.Microsecond)) {
		t.Errorf("read back %s %s %s %q %d %s, want %s %s %q %d %s", addr, exporter, name, desc, boundary, tr, r.SrcAddr, r.ExporterName, r.InIfDescription, r.InIfBoundary, r.TimeReceived)
	}
}

func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				v += c.GetValue()
			}
		}
	}
	return v
}
