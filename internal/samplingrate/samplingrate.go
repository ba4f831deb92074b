// Package samplingrate reads the sampling-rate attributes of flow sources
// (default_sampling_rate, override_sampling_rate: a number for every exporter,
// or a map from exporter prefix to number) and looks up an exporter's rate,
// the most specific prefix winning.
package samplingrate

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"sort"

	"github.com/zclconf/go-cty/cty"
)

// The attributes of the flow sources (netflow, sflow) that set sampling
// rates: one name and one meaning in every source. A constant rate for
// every exporter is a number; a rate per exporter prefix is a map.
const (
	DefaultAttr  = "default_sampling_rate"
	OverrideAttr = "override_sampling_rate"

	DefaultDescription  = "Sampling rate of flows whose exporter announces none (or 0): a number for every exporter, or a map from exporter prefix to number (the most specific prefix wins)."
	OverrideDescription = "Sampling rate replacing whatever the exporter announces: a number for every exporter, or a map from exporter prefix to number (the most specific prefix wins)."
)

// Entry is one prefix of a Table.
type Entry struct {
	Prefix netip.Prefix
	Rate   uint64
}

// Table maps exporter prefixes to sampling rates. The zero value matches
// nothing.
type Table struct {
	entries []Entry // most specific first
}

// New builds a table; entries are masked and sorted most specific first.
func New(entries ...Entry) Table {
	t := Table{entries: append([]Entry(nil), entries...)}
	for i, e := range t.entries {
		p := e.Prefix
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		t.entries[i].Prefix = p.Masked()
	}
	sort.SliceStable(t.entries, func(i, j int) bool { return t.entries[i].Prefix.Bits() > t.entries[j].Prefix.Bits() })
	return t
}

// Uniform gives rate to every exporter, IPv4 and IPv6; a rate of 0 gives an
// empty table.
func Uniform(rate uint64) Table {
	if rate == 0 {
		return Table{}
	}
	return New(Entry{netip.MustParsePrefix("0.0.0.0/0"), rate}, Entry{netip.MustParsePrefix("::/0"), rate})
}

// Lookup returns the rate of the most specific prefix holding addr.
func (t Table) Lookup(addr netip.Addr) (uint64, bool) {
	addr = addr.Unmap()
	for i := range t.entries {
		if t.entries[i].Prefix.Contains(addr) {
			return t.entries[i].Rate, true
		}
	}
	return 0, false
}

// Rate is Lookup returning 0 when no prefix holds addr.
func (t Table) Rate(addr netip.Addr) uint64 {
	r, _ := t.Lookup(addr)
	return r
}

// Empty reports whether the table gives no rate at all.
func (t Table) Empty() bool { return len(t.entries) == 0 }

// Parse reads an attribute value: null (an empty table), a number, or a map
// from CIDR prefix to number. Every bad entry is reported, in key order.
func Parse(v cty.Value) (Table, error) {
	if v == cty.NilVal || v.IsNull() {
		return Table{}, nil
	}
	switch ty := v.Type(); {
	case ty == cty.Number:
		r, err := rateOf(v)
		if err != nil {
			return Table{}, err
		}
		return Uniform(r), nil
	case ty.IsObjectType() || ty.IsMapType():
		vals := map[string]cty.Value{}
		var keys []string
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			keys = append(keys, k.AsString())
			vals[k.AsString()] = e
		}
		sort.Strings(keys)
		var entries []Entry
		var errs []error
		for _, k := range keys {
			p, err := netip.ParsePrefix(k)
			if err != nil {
				errs = append(errs, fmt.Errorf("%q is not a CIDR prefix like \"192.0.2.0/24\"", k))
				continue
			}
			r, err := rateOf(vals[k])
			if err != nil {
				errs = append(errs, fmt.Errorf("for %q: %w", k, err))
				continue
			}
			entries = append(entries, Entry{p, r})
		}
		return New(entries...), errors.Join(errs...)
	}
	return Table{}, fmt.Errorf("a number or a map of CIDR prefixes to numbers is required, like 1000 or { \"192.0.2.0/24\" = 1000 }, not %s", v.Type().FriendlyName())
}

func rateOf(v cty.Value) (uint64, error) {
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return 0, errors.New("a sampling rate is a whole number from 1 to 4294967295")
	}
	f := v.AsBigFloat()
	n, acc := f.Uint64()
	if !f.IsInt() || acc != big.Exact || n == 0 || n > 1<<32-1 {
		return 0, fmt.Errorf("sampling rate %s is not a whole number from 1 to 4294967295", f.Text('g', -1))
	}
	return n, nil
}
