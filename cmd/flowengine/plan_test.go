package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/flowengine/flowengine/internal/testenv"
)

// plan and run against a Kafka-protocol broker (kfake, in this process):
// plan shows the topic to create (exit 2), run creates it and produces, a
// second plan has nothing to do (exit 0), and growing partitions is one change.
func TestPlanAndRunProvisionKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	broker := c.ListenAddrs()[0]
	pipeline := func(partitions int) string {
		return writePipeline(t, fmt.Sprintf(`
pipeline {
  listen    = "127.0.0.1:0"
  state_dir = ""
}
source "generate" "g" {
  rate  = 0
  count = 2000
}
sink "kafka" "out" {
  input         = source.generate.g
  brokers       = [%q]
  partitions    = %d
  batch_timeout = "100ms"
}
`, broker, partitions))
	}
	p := pipeline(4)
	out, errOut, code := flowengine(t, "plan", "-detailed-exitcode", p)
	if code != 2 || !strings.Contains(out, "+ kafka topic flows-v1") || !strings.Contains(out, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("first plan: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := flowengine(t, "run", p); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	out, errOut, code = flowengine(t, "plan", "-detailed-exitcode", p)
	if code != 0 || !strings.Contains(out, "No changes") {
		t.Fatalf("plan after run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = flowengine(t, "plan", "-detailed-exitcode", pipeline(8))
	if code != 2 || !strings.Contains(out, "~ kafka topic flows-v1") || !strings.Contains(out, "Plan: 0 to add, 1 to change, 0 to destroy.") {
		t.Fatalf("plan with more partitions: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = flowengine(t, "plan", "-detailed-exitcode", pipeline(2))
	if code != 1 || !strings.Contains(errOut, "partitions cannot be removed") {
		t.Fatalf("plan with fewer partitions must fail: exit %d\n%s%s", code, out, errOut)
	}
}

// plan and run against a real ClickHouse server: plan lists the database,
// tables and views to create (exit 2); run provisions them and inserts the
// flows; a second plan has nothing to do (exit 0).
func TestPlanAndRunProvisionClickHouse(t *testing.T) {
	testenv.ForEachClickHouse(t, testPlanAndRunProvisionClickHouse)
}

func testPlanAndRunProvisionClickHouse(t *testing.T, srv *testenv.ClickHouseServer) {
	p := writePipeline(t, fmt.Sprintf(`
pipeline {
  listen    = "127.0.0.1:0"
  state_dir = ""
}
source "generate" "g" {
  rate  = 0
  count = 5000
}
sink "clickhouse" "db" {
  input         = source.generate.g
  servers       = [%q]
  database      = "plan_test"
  batch_timeout = "200ms"
}
`, srv.Addr))
	out, errOut, code := flowengine(t, "plan", "-detailed-exitcode", p)
	for _, want := range []string{"+ clickhouse database plan_test", "+ clickhouse table plan_test.flows", "flows_1m0s", "Plan: "} {
		if code != 2 || !strings.Contains(out, want) {
			t.Fatalf("first plan lacks %q: exit %d\n%s%s", want, code, out, errOut)
		}
	}
	if strings.Contains(out, "Plan: 0 to add") {
		t.Fatalf("first plan adds nothing:\n%s", out)
	}
	if _, errOut, code := flowengine(t, "run", p); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	out, errOut, code = flowengine(t, "plan", "-detailed-exitcode", p)
	if code != 0 || !strings.Contains(out, "No changes") {
		t.Fatalf("plan after run: exit %d\n%s%s", code, out, errOut)
	}
	// The flows are there.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/?query=SELECT+count()+FROM+plan_test.flows", srv.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "5000" {
		t.Fatalf("ClickHouse has %q flows, want 5000", body)
	}
}
