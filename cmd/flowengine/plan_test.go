package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
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
