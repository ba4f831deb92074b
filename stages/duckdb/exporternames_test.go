package duckdb

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// TestExporterNames reads the latest name of each exporter over the last
// hour from DuckDB, from the raw table and from a rollup.
func TestExporterNames(t *testing.T) {
	for _, raw := range []bool{true, false} {
		t.Run(map[bool]string{true: "raw", false: "rollup"}[raw], func(t *testing.T) {
			s, _ := newSink(t, filepath.Join(t.TempDir(), "flows.duckdb"), "")
			provision(t, s)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Minute)
			at := func(ago time.Duration, addr, name string) flow.Record {
				return flow.Record{TimeReceived: now.Add(-ago), ExporterAddress: netip.MustParseAddr(addr), ExporterName: name,
					SamplingRate: 1, Bytes: 100, Packets: 1}
			}
			b := flow.NewBatch()
			for _, r := range []flow.Record{
				at(40*time.Minute, "192.0.2.1", "old-name"),
				at(10*time.Minute, "192.0.2.1", "edge1"),
				at(20*time.Minute, "192.0.2.1", "old-name"),
				at(5*time.Minute, "192.0.2.2", ""),   // never named
				at(2*time.Hour, "192.0.2.3", "gone"), // named before the hour
				at(3*time.Minute, "2001:db8::9", "v6-core"),
			} {
				*b.Append() = r
			}
			in := make(chan *flow.Batch, 1)
			in <- b
			close(in)
			if err := s.Run(ctx, in); err != nil {
				t.Fatal(err)
			}
			var backend store.Backend = s
			if raw {
				backend = rawOnly{s}
			}
			st := store.New(backend)
			st.Now = func() time.Time { return now }
			got, err := st.ExporterNames(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[netip.Addr]string{
				netip.MustParseAddr("192.0.2.1"):   "edge1",
				netip.MustParseAddr("2001:db8::9"): "v6-core",
			}
			if d := cmp.Diff(got, want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("names (-got +want):\n%s", d)
			}
		})
	}
}

// rawOnly hides the rollups of a sink from the store.
type rawOnly struct{ *Sink }

func (r rawOnly) Tables() []store.Table { return r.Sink.Tables()[:1] }
