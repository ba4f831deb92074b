package netflow

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/flowengine/flowengine/internal/samplingrate"
)

// RateTable gives a sampling rate per exporter: a single rate for all, or
// rates per prefix where the most specific prefix containing the exporter wins.
type RateTable = samplingrate.Table

// SingleRate returns a table giving rate to every exporter.
func SingleRate(rate uint64) RateTable { return samplingrate.Uniform(rate) }

// ParseRateTable reads a rate attribute: a number, or a map from prefix to number.
func ParseRateTable(v cty.Value) (RateTable, error) { return samplingrate.Parse(v) }
