package duckdb

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
	"github.com/flowengine/flowengine/store/dialecttest"
)

// TestExporterNames reads the latest name of each exporter over the last
// hour from DuckDB, from the raw table and from a rollup.
func TestExporterNames(t *testing.T) {
	for _, raw := range []bool{true, false} {
		t.Run(map[bool]string{true: "raw", false: "rollup"}[raw], func(t *testing.T) {
			s, _ := newSink(t, filepath.Join(t.TempDir(), "flows.duckdb"), "")
			provision(t, s)
			now := time.Now().UTC().Truncate(time.Minute)
			in := make(chan *flow.Batch, 1)
			in <- dialecttest.ExporterNameRecords(now)
			close(in)
			if err := s.Run(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			var backend store.Backend = s
			if raw {
				backend = dialecttest.RawOnly{Backend: s}
			}
			dialecttest.CheckExporterNames(t, backend, now)
		})
	}
}
