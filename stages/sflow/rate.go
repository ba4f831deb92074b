package sflow

import (
	"fmt"
	"math/big"
	"net/netip"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// RateTable maps exporter prefixes to sampling rates; the most specific
// prefix wins. The zero value matches nothing.
type RateTable []RateEntry

// RateEntry is one prefix of a RateTable.
type RateEntry struct {
	Prefix netip.Prefix
	Rate   uint64
}

// NewRateTable sorts entries most specific first.
func NewRateTable(entries ...RateEntry) RateTable {
	t := RateTable(entries)
	for i := range t {
		t[i].Prefix = t[i].Prefix.Masked()
	}
	sort.SliceStable(t, func(i, j int) bool { return t[i].Prefix.Bits() > t[j].Prefix.Bits() })
	return t
}

// Uniform returns a table giving rate to every exporter, IPv4 and IPv6.
func Uniform(rate uint64) RateTable {
	return RateTable{
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Rate: rate},
		{Prefix: netip.MustParsePrefix("::/0"), Rate: rate},
	}
}

// Lookup returns the rate of the most specific prefix holding addr.
func (t RateTable) Lookup(addr netip.Addr) (uint64, bool) {
	addr = addr.Unmap()
	for i := range t {
		if t[i].Prefix.Contains(addr) {
			return t[i].Rate, true
		}
	}
	return 0, false
}

// parseRateTable reads a sampling-rate attribute: a number for every
// exporter, or a map of CIDR prefixes to numbers.
func parseRateTable(v cty.Value, rng *hcl.Range, name string) (RateTable, hcl.Diagnostics) {
	if v == cty.NilVal || v.IsNull() {
		return nil, nil
	}
	bad := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for %q", name),
			Detail: detail, Subject: rng}}
	}
	rate := func(n cty.Value) (uint64, string) {
		if n.IsNull() || n.Type() != cty.Number {
			return 0, "a sampling rate must be a whole number"
		}
		bf := n.AsBigFloat()
		u, acc := bf.Uint64()
		if !bf.IsInt() || acc != big.Exact || u == 0 || u > 1<<32-1 {
			return 0, fmt.Sprintf("sampling rate %s is not a whole number between 1 and 4294967295", bf.Text('g', -1))
		}
		return u, ""
	}
	switch {
	case v.Type() == cty.Number:
		r, msg := rate(v)
		if msg != "" {
			return nil, bad(msg + ".")
		}
		return Uniform(r), nil
	case v.Type().IsObjectType() || v.Type().IsMapType():
		var entries []RateEntry
		var diags hcl.Diagnostics
		keys := make([]string, 0, v.LengthInt())
		vals := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			keys = append(keys, k.AsString())
			vals[k.AsString()] = e
		}
		sort.Strings(keys)
		for _, k := range keys {
			p, err := netip.ParsePrefix(k)
			if err != nil {
				diags = append(diags, bad(fmt.Sprintf("%q is not a CIDR prefix like \"192.0.2.0/24\".", k))...)
				continue
			}
			r, msg := rate(vals[k])
			if msg != "" {
				diags = append(diags, bad(fmt.Sprintf("For %q: %s.", k, msg))...)
				continue
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			entries = append(entries, RateEntry{Prefix: p, Rate: r})
		}
		return NewRateTable(entries...), diags
	}
	return nil, bad("A number or a map of CIDR prefixes to numbers is required, like 1000 or { \"192.0.2.0/24\" = 1000 }.")
}
