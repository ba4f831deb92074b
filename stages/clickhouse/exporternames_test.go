package clickhouse

import (
	"testing"
	"time"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
	"github.com/flowengine/flowengine/store/dialecttest"
)

// TestExporterNames reads the latest name of each exporter over the last
// hour from ClickHouse, from the raw table and from a rollup.
func TestExporterNames(t *testing.T) { forEachServer(t, testExporterNames) }

func testExporterNames(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "batch_timeout = \"20ms\"")
	provision(t, s)
	now := time.Now().UTC().Truncate(time.Minute)
	in := make(chan *flow.Batch, 1)
	in <- dialecttest.ExporterNameRecords(now)
	close(in)
	if err := <-runSink(t, s, in); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []bool{true, false} {
		t.Run(map[bool]string{true: "raw", false: "rollup"}[raw], func(t *testing.T) {
			var backend store.Backend = s
			if raw {
				backend = dialecttest.RawOnly{Backend: s}
			}
			dialecttest.CheckExporterNames(t, backend, now)
		})
	}
}
