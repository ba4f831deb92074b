package store

import (
	"time"

	"github.com/flowengine/flowengine/flow"
)

// RollupName is the name of the rollup table of interval: flows_1m0s,
// flows_5m0s, flows_1h0m0s.
func RollupName(interval time.Duration) string { return "flows_" + interval.String() }

// rawOnly are dimensions too fine-grained to roll up: with them every flow
// would be its own row. Queries that use them read the raw flows table.
var rawOnly = map[string]bool{"SrcAddr": true, "DstAddr": true, "SrcPort": true, "DstPort": true}

// RollupColumns are the columns a rollup table has, in schema order:
// TimeReceived (the start of the interval), every dimension but the raw-only
// ones and the lists (AS paths and communities: the raw flows table alone
// keeps them), and Bytes and Packets (sums, already multiplied by
// SamplingRate). A rollup table also has a Flows column (flows, multiplied
// by SamplingRate), which is not a column of the flow record.
func RollupColumns() []flow.Column {
	var out []flow.Column
	for _, c := range flow.Columns {
		if inRollups(c) {
			out = append(out, c)
		}
	}
	return out
}

// InRollups says whether rollup tables keep column name.
func InRollups(name string) bool {
	c, ok := flow.ColumnByName(name)
	return ok && inRollups(c)
}

func inRollups(c flow.Column) bool {
	switch c.Name {
	case "TimeReceived", "Bytes", "Packets":
		return true
	}
	return c.Dimension && !rawOnly[c.Name] && !c.Kind.IsList()
}
