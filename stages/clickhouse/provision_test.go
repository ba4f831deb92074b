package clickhouse

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

func actions(p *engine.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		s := string(c.Action) + " " + c.Resource
		if c.Destructive {
			s += " (destructive)"
		}
		out = append(out, s)
	}
	return out
}

func withoutColumn(name string) []flow.Column {
	var cols []flow.Column
	for _, c := range flow.Columns {
		if c.Name != name {
			cols = append(cols, c)
		}
	}
	return cols
}

func TestProvisionFromEmpty(t *testing.T) { forEachServer(t, testProvisionFromEmpty) }

func testProvisionFromEmpty(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	s, _ := newSink(t, srv, db, "")
	ctx := context.Background()

	plan, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"+ clickhouse database " + db,
		"+ clickhouse table " + db + ".flows",
		"+ clickhouse table " + db + ".flows_1m0s",
		"+ clickhouse table " + db + ".flows_5m0s",
		"+ clickhouse table " + db + ".flows_1h0m0s",
		"+ clickhouse table " + db + ".protocols",
		"+ clickhouse table " + db + ".asns",
		"+ clickhouse table " + db + ".saved_filters",
	}
	if diff := cmp.Diff(actions(plan), want); diff != "" {
		t.Fatalf("plan (-got +want):\n%s", diff)
	}
	var out strings.Builder
	engine.WritePlans(&out, []*engine.Plan{plan})
	t.Logf("plan:\n%s", out.String())
	retention := "old partitions dropped by the sink" // 18.16 has no TTL
	if s.features.TTL {
		retention = "ttl TimeReceived + "
	}
	if !strings.Contains(out.String(), retention) {
		t.Errorf("the plan does not say how retention works on this server (%q)", retention)
	}
	if err := s.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}

	again, err := s.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != 0 {
		t.Fatalf("second plan is not empty: %q", actions(again))
	}

	conn := srv.client(t)
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".protocols").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if int(n) != len(ianaProtocols) {
		t.Errorf("protocols has %d rows, want %d", n, len(ianaProtocols))
	}
	var name string
	if err := conn.QueryRow(ctx, "SELECT Name FROM "+db+".protocols WHERE Proto = 6").Scan(&name); err != nil || name != "TCP" {
		t.Errorf("protocol 6 is %q (%v), want TCP", name, err)
	}
	var engineName, key string
	if err := conn.QueryRow(ctx, "SELECT engine, sorting_key FROM system.tables WHERE database = ? AND name = 'flows_5m0s'", db).Scan(&engineName, &key); err != nil {
		t.Fatal(err)
	}
	if engineName != "SummingMergeTree" || !strings.HasPrefix(key, "TimeReceived, FlowDirection, ExporterAddress") || strings.Contains(key, "SamplingRate") {
		t.Errorf("flows_5m0s: engine %s, key %s", engineName, key)
	}
	// The address columns fall back to FixedString(16) on 18.16.
	var typ string
	if err := conn.QueryRow(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = 'flows' AND name = 'SrcAddr'", db).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if f := *s.features; !f.IPv6 && typ != "FixedString(16)" || f.IPv6 && typ != "IPv6" {
		t.Errorf("SrcAddr is %s on server %s", typ, f.Version)
	}
}

func TestPlanAfterAddingColumn(t *testing.T) { forEachServer(t, testPlanAfterAddingColumn) }

func testPlanAfterAddingColumn(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	old, _ := newSink(t, srv, db, "")
	old.columns = withoutColumn("IPTTL")
	provision(t, old)

	s, _ := newSink(t, srv, db, "")
	plan, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"+ clickhouse column " + db + ".flows.IPTTL"}
	if diff := cmp.Diff(actions(plan), want); diff != "" {
		t.Fatalf("plan (-got +want):\n%s", diff)
	}
	if add, change, destroy := plan.Counts(); add != 1 || change != 0 || destroy != 0 {
		t.Errorf("counts %d/%d/%d, want 1/0/0", add, change, destroy)
	}
	if err := s.Apply(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	again, err := s.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != 0 {
		t.Fatalf("second plan is not empty: %q", actions(again))
	}
}

func TestPlanDestructive(t *testing.T) { forEachServer(t, testPlanDestructive) }

func testPlanDestructive(t *testing.T, srv *chServer) {
	for _, tc := range []struct {
		name    string
		mutate  string // run after provisioning, {db} replaced
		columns []flow.Column
		want    []string
	}{
		{
			name:    "column dropped",
			columns: withoutColumn("IPTTL"),
			want:    []string{"- clickhouse column {db}.flows.IPTTL (destructive)"},
		},
		{
			name:   "column type changed",
			mutate: "ALTER TABLE {db}.flows MODIFY COLUMN SrcAS UInt64",
			want:   []string{"~ clickhouse column {db}.flows.SrcAS (destructive)"},
		},
		{
			name:   "order by changed",
			mutate: "DROP TABLE {db}.asns; CREATE TABLE {db}.asns (ASN UInt32, Name String) ENGINE = ReplacingMergeTree ORDER BY (Name, ASN)",
			want:   []string{"-/+ clickhouse table {db}.asns (destructive)"},
		},
		{
			name:   "engine changed",
			mutate: "DROP TABLE {db}.flows_1h0m0s; CREATE TABLE {db}.flows_1h0m0s AS {db}.flows_5m0s ENGINE = MergeTree PARTITION BY toYYYYMM(TimeReceived) ORDER BY (TimeReceived)",
			want:   []string{"-/+ clickhouse table {db}.flows_1h0m0s (destructive)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := testDB(t, srv)
			ctx := context.Background()
			provision(t, func() *Sink { s, _ := newSink(t, srv, db, ""); return s }())
			conn := srv.client(t)
			for _, stmt := range strings.Split(tc.mutate, ";") {
				if stmt = strings.TrimSpace(strings.ReplaceAll(stmt, "{db}", db)); stmt != "" {
					if err := conn.Exec(ctx, stmt); err != nil {
						t.Fatalf("%s: %v", stmt, err)
					}
				}
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, strings.ReplaceAll(w, "{db}", db))
			}

			s, _ := newSink(t, srv, db, "")
			if tc.columns != nil {
				s.columns = tc.columns
			}
			plan, err := s.Plan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(actions(plan), want); diff != "" {
				t.Fatalf("plan (-got +want):\n%s", diff)
			}
			err = s.Apply(ctx, plan)
			if err == nil || !strings.Contains(err.Error(), "allow_destructive = true") {
				t.Fatalf("apply without allow_destructive: %v, want a refusal", err)
			}

			allowed, _ := newSink(t, srv, db, "allow_destructive = true")
			allowed.columns = s.columns
			plan, err = allowed.Plan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := allowed.Apply(ctx, plan); err != nil {
				t.Fatalf("apply with allow_destructive: %v", err)
			}
			again, err := allowed.Plan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Changes) != 0 {
				t.Fatalf("plan after apply is not empty: %q", actions(again))
			}
		})
	}
}

func TestWrongCredentials(t *testing.T) { forEachServer(t, testWrongCredentials) }

func testWrongCredentials(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	for _, tc := range []struct {
		name, attrs string
		ok          bool
	}{
		{"wrong password", `username = "` + testUser + `"` + "\n" + `password = "not-the-password"`, false},
		{"unknown user", `username = "nobody"` + "\n" + `password = "not-the-password"`, false},
		{"right password", `username = "` + testUser + `"` + "\n" + `password = "` + testPassword + `"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSink(t, srv, db, tc.attrs)
			_, err := s.Plan(context.Background())
			if !tc.ok {
				srv.afterRefusedLogin(t)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("plan: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("plan succeeded with wrong credentials")
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), "check username and password") {
				t.Errorf("error %q does not say the credentials are wrong", err)
			}
			if strings.Contains(err.Error(), "not-the-password") {
				t.Errorf("error %q shows the password", err)
			}
			// Run fails at once too, instead of retrying forever.
			in := make(chan *flow.Batch)
			close(in)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.Run(ctx, in); !errors.Is(err, ErrAuthentication) {
				t.Errorf("run: %v, want an authentication error", err)
			}
			srv.afterRefusedLogin(t)
		})
	}
}

func TestFeatures(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    features
	}{
		{"18.16.1", features{}},
		{"19.1.6", features{Codecs: true}},
		{"19.3.3", features{Codecs: true, IPv6: true, LowCardinality: true, StartOfInterval: true}},
		{"19.6.2.11", features{Codecs: true, IPv6: true, LowCardinality: true, StartOfInterval: true, TTL: true}},
		{"21.6.3", features{Codecs: true, IPv6: true, LowCardinality: true, StartOfInterval: true, TTL: true, ILike: true, UInt128: true}},
		{"25.8.1.1", features{Codecs: true, IPv6: true, LowCardinality: true, StartOfInterval: true, TTL: true, ILike: true, DedupToken: true, UInt128: true}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			v, err := parseVersion(tc.version)
			if err != nil {
				t.Fatal(err)
			}
			got := featuresOf(v)
			got.Version, got.MaterializedView = version{}, false
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

// TestDDL checks the statements for a current server and for 18.16.
func TestDDL(t *testing.T) {
	for _, tc := range []struct {
		version      string
		contains     []string
		doesNotHave  []string
		viewContains string
	}{
		{
			version: "24.8.4",
			contains: []string{"`SrcAddr` IPv6", "`ExporterName` LowCardinality(String)", "TTL `TimeReceived` + INTERVAL 2592000 SECOND", "`TimeReceived` DateTime CODEC(Delta, LZ4)",
				"`Packets` UInt64, `DstASPath` Array(UInt32), `DstCommunities` Array(UInt32), `DstLargeCommunities` Array(UInt128))"},
			viewContains: "toStartOfInterval(TimeReceived, INTERVAL 300 SECOND) AS TimeReceived",
		},
		{
			version: "18.16.1",
			contains: []string{"`SrcAddr` FixedString(16)", "`ExporterName` String", "PARTITION BY toYYYYMMDD(TimeReceived)",
				"`Packets` UInt64, `DstASPath` Array(UInt32), `DstCommunities` Array(UInt32), `DstLargeCommunities` Array(FixedString(12)))"},
			doesNotHave:  []string{" TTL ", "CODEC", "LowCardinality", "IPv6"},
			viewContains: "toStartOfFiveMinute(TimeReceived) AS TimeReceived",
		},
	} {
		t.Run(tc.version, func(t *testing.T) {
			v, _ := parseVersion(tc.version)
			sc := wantSchema("db", featuresOf(v), flow.Columns, 30*24*time.Hour, DefaultConsolidations, consolidateInServer)
			ddl := sc.createTable(sc.Tables[0])
			for _, s := range tc.contains {
				if !strings.Contains(ddl, s) {
					t.Errorf("flows DDL lacks %q:\n%s", s, ddl)
				}
			}
			for _, s := range tc.doesNotHave {
				if strings.Contains(ddl, s) {
					t.Errorf("flows DDL has %q:\n%s", s, ddl)
				}
			}
			if view := sc.createView(sc.Views[1]); !strings.Contains(view, tc.viewContains) {
				t.Errorf("view lacks %q:\n%s", tc.viewContains, view)
			}
			// The lists stay in the raw table: no rollup table nor view has them.
			for _, t2 := range sc.Tables[1:] {
				if ddl := sc.createTable(t2); strings.Contains(ddl, "Array(") || strings.Contains(ddl, "Communities") || strings.Contains(ddl, "ASPath") {
					t.Errorf("%s has a list column:\n%s", t2.Name, ddl)
				}
			}
			for _, v := range sc.Views {
				if view := sc.createView(v); strings.Contains(view, "Communities") || strings.Contains(view, "ASPath") {
					t.Errorf("%s reads a list column:\n%s", v.Name, view)
				}
			}
		})
	}
}

func TestConfigDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"bad database", `database = "flows; DROP"`, "Invalid database name"},
		{"bad server", `servers = ["localhost"]`, "Invalid ClickHouse server"},
		{"zero batch", `batch_size = 0`, "Invalid batch size"},
		{"short retention", `retention = "10m"`, "Retention too short"},
		{"duplicate consolidation", "consolidation {\n interval = \"1m\"\n retention = \"1d\"\n}\nconsolidation {\n interval = \"60s\"\n retention = \"2d\"\n}", "Duplicate consolidation"},
		{"bad interval", "consolidation {\n interval = \"1500ms\"\n retention = \"1d\"\n}", "Invalid consolidation interval"},
		{"bad compression", `compression = "gzip"`, "is not one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := dsl.DecodeString(tc.src, Spec)
			if !diags.HasErrors() {
				_, diags = New(cfg, engine.Env{})
			}
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
				t.Errorf("diagnostics %v, want %q", diags, tc.want)
			}
		})
	}
}

// TestPlanConsolidateIn switches where rollups are computed: the plan drops
// or creates the views and leaves the tables, and a rollup table of the
// former layout (SamplingRate kept, no Flows) is replaced, destructively.
func TestPlanConsolidateIn(t *testing.T) { forEachServer(t, testPlanConsolidateIn) }

func testPlanConsolidateIn(t *testing.T, srv *chServer) {
	db := testDB(t, srv)
	ctx := context.Background()
	provision(t, func() *Sink { s, _ := newSink(t, srv, db, `consolidate_in = "server"`); return s }())

	engineSink, _ := newSink(t, srv, db, `consolidate_in = "engine"`)
	plan, err := engineSink.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"- clickhouse view " + db + ".flows_1h0m0s_consumer",
		"- clickhouse view " + db + ".flows_1m0s_consumer",
		"- clickhouse view " + db + ".flows_5m0s_consumer",
	}
	dedup := engineSink.features.DedupToken // the rollup tables deduplicate retried inserts
	if dedup {
		want = append(want,
			"~ clickhouse table "+db+".flows_1m0s settings",
			"~ clickhouse table "+db+".flows_5m0s settings",
			"~ clickhouse table "+db+".flows_1h0m0s settings")
	}
	if diff := cmp.Diff(actions(plan), want); diff != "" {
		t.Fatalf("server -> engine plan (-got +want):\n%s", diff)
	}
	if err := engineSink.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}

	serverSink, _ := newSink(t, srv, db, `consolidate_in = "server"`)
	plan, err = serverSink.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		"+ clickhouse view " + db + ".flows_1m0s_consumer",
		"+ clickhouse view " + db + ".flows_5m0s_consumer",
		"+ clickhouse view " + db + ".flows_1h0m0s_consumer",
	}
	if dedup {
		want = append([]string{
			"~ clickhouse table " + db + ".flows_1m0s settings",
			"~ clickhouse table " + db + ".flows_5m0s settings",
			"~ clickhouse table " + db + ".flows_1h0m0s settings"}, want...)
	}
	if diff := cmp.Diff(actions(plan), want); diff != "" {
		t.Fatalf("engine -> server plan (-got +want):\n%s", diff)
	}

	// The layout before rollups were scaled: SamplingRate in the key, no Flows.
	conn := srv.client(t)
	for _, stmt := range []string{
		"DROP TABLE " + db + ".flows_1h0m0s",
		"CREATE TABLE " + db + ".flows_1h0m0s (TimeReceived DateTime, SamplingRate UInt64, ExporterName String, Bytes UInt64, Packets UInt64) " +
			"ENGINE = SummingMergeTree((Bytes, Packets)) PARTITION BY toYYYYMM(TimeReceived) ORDER BY (TimeReceived, SamplingRate, ExporterName)",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	plan, err = engineSink.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(actions(plan), []string{"-/+ clickhouse table " + db + ".flows_1h0m0s (destructive)"}); diff != "" {
		t.Fatalf("former layout plan (-got +want):\n%s", diff)
	}
	if err := engineSink.Apply(ctx, plan); err == nil || !strings.Contains(err.Error(), "allow_destructive") {
		t.Fatalf("apply without allow_destructive: %v, want a refusal", err)
	}
}
