package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/testenv"
	"github.com/flowengine/flowengine/stages/clickhouse"
)

// clickHouseAvailable says whether the server of version can run here: under
// CI it must (SharedClickHouse fails the test otherwise).
func clickHouseAvailable(version string) bool {
	if testenv.CI() {
		return true
	}
	switch version {
	case testenv.ClickHouse18:
		_, err := exec.LookPath("clickhouse-server")
		return err == nil
	case testenv.ClickHouse26:
		_, err := os.Stat(testenv.ChdbLibraryPath())
		return err == nil
	}
	return false
}

// loadClickHouse loads n flows into every ClickHouse server available, each
// through a "clickhouse" sink (rollups computed in the engine).
func loadClickHouse(t *testing.T, n int, fill func(int, *flow.Record)) []loadedStore {
	var out []loadedStore
	for _, v := range testenv.ClickHouseVersions {
		if !clickHouseAvailable(v) {
			t.Logf("ClickHouse %s is not installed here: the queries run without it (make chdb fetches 26.7)", v)
			continue
		}
		srv := testenv.SharedClickHouse(t, v)
		src := fmt.Sprintf("servers = [%q]\ndatabase = \"e2e_query\"\nbatch_size = 10000", srv.Addr)
		cfg, diags := dsl.DecodeString(src, clickhouse.Spec)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		s, diags := clickhouse.New(cfg, testEnv(t, "clickhouse"))
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		t.Cleanup(func() { s.Close() })
		dropDatabase(t, srv.Addr, "e2e_query")
		runSinkFunc(t, s, n, fill)
		out = append(out, loadedStore{"clickhouse " + v, s})
	}
	return out
}

// dropDatabase drops db on the server at addr, so that each run starts
// from empty tables.
func dropDatabase(t *testing.T, addr, db string) {
	conn, err := ch.Open(&ch.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Fatalf("drop database %s: %v", db, err)
	}
}
