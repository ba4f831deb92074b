package netflow

import (
	"fmt"
	"math/big"
	"net/netip"
	"sort"

	"github.com/zclconf/go-cty/cty"
)

// RateTable gives a sampling rate per exporter: a single rate for all, or
// rates per prefix where the most specific prefix containing the exporter wins.
type RateTable struct {
	entries []rateEntry // most specific first
}

type rateEntry struct {
	prefix netip.Prefix
	rate   uint64
}

// SingleRate returns a table giving rate to every exporter.
func SingleRate(rate uint64) RateTable {
	if rate == 0 {
		return RateTable{}
	}
	return RateTable{entries: []rateEntry{
		{netip.MustParsePrefix("0.0.0.0/0"), rate},
		{netip.MustParsePrefix("::/0"), rate},
	}}
}

// Lookup returns the rate for an exporter, 0 when none applies.
func (t RateTable) Lookup(addr netip.Addr) uint64 {
	addr = addr.Unmap()
	for _, e := range t.entries {
		if e.prefix.Contains(addr) {
			return e.rate
		}
	}
	return 0
}

// Empty reports whether the table gives no rate at all.
func (t RateTable) Empty() bool { return len(t.entries) == 0 }

// ParseRateTable reads a rate attribute: a number, or a map from prefix to number.
func ParseRateTable(v cty.Value) (RateTable, error) {
	if v == cty.NilVal || v.IsNull() {
		return RateTable{}, nil
	}
	ty := v.Type()
	switch {
	case ty == cty.Number:
		r, err := rateOf(v)
		if err != nil {
			return RateTable{}, err
		}
		return SingleRate(r), nil
	case ty.IsObjectType() || ty.IsMapType():
		var t RateTable
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			p, err := netip.ParsePrefix(k.AsString())
			if err != nil {
				return RateTable{}, fmt.Errorf("%q is not a prefix (like \"192.0.2.0/24\")", k.AsString())
			}
			if !ev.Type().Equals(cty.Number) || ev.IsNull() {
				return RateTable{}, fmt.Errorf("the rate for %s must be a number", p)
			}
			r, err := rateOf(ev)
			if err != nil {
				return RateTable{}, fmt.Errorf("%s: %w", p, err)
			}
			p = p.Masked()
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			t.entries = append(t.entries, rateEntry{p, r})
		}
		sort.SliceStable(t.entries, func(i, j int) bool { return t.entries[i].prefix.Bits() > t.entries[j].prefix.Bits() })
		return t, nil
	}
	return RateTable{}, fmt.Errorf("expected a number or a map from prefix to number, got %s", ty.FriendlyName())
}

func rateOf(v cty.Value) (uint64, error) {
	f := v.AsBigFloat()
	if !f.IsInt() || f.Sign() <= 0 || f.Cmp(new(big.Float).SetUint64(1<<32)) >= 0 {
		return 0, fmt.Errorf("a sampling rate is a whole number from 1 to 4294967295")
	}
	n, _ := f.Uint64()
	return n, nil
}
