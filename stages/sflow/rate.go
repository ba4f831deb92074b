package sflow

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flowengine/flowengine/internal/samplingrate"
)

// RateTable maps exporter prefixes to sampling rates; the most specific
// prefix wins. The zero value matches nothing.
type RateTable = samplingrate.Table

// RateEntry is one prefix of a RateTable.
type RateEntry = samplingrate.Entry

// NewRateTable sorts entries most specific first.
func NewRateTable(entries ...RateEntry) RateTable { return samplingrate.New(entries...) }

// Uniform returns a table giving rate to every exporter, IPv4 and IPv6.
func Uniform(rate uint64) RateTable { return samplingrate.Uniform(rate) }

// parseRateTable reads a sampling-rate attribute: a number for every
// exporter, or a map of CIDR prefixes to numbers.
func parseRateTable(v cty.Value, rng *hcl.Range, name string) (RateTable, hcl.Diagnostics) {
	t, err := samplingrate.Parse(v)
	if err != nil {
		return t, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", name),
			Detail: capitalize(err.Error()) + ".", Subject: rng}}
	}
	return t, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
