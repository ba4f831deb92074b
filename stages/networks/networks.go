// Package networks provides the `enricher "networks"` stage: a map of CIDR
// prefixes to attributes (name, role, site, region, tenant, and optionally
// country and AS) that fills the Src*/Dst* network columns of each flow, the
// longest matching prefix winning.
package networks

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// Spec is the spec of `enricher "networks"`.
var Spec = &dsl.Spec{
	Description: "Fills SrcNet*/DstNet* (name, role, site, region, tenant) from a map of CIDR prefixes, and " +
		"optionally overrides SrcCountry/DstCountry and SrcAS/DstAS. The longest matching prefix wins; attributes " +
		"it does not set are inherited from the enclosing prefixes. IPv4 and IPv6.",
	Attrs: []dsl.Attr{
		{Name: "networks", Type: dsl.TypeAny, Required: true,
			Description: `Map of CIDR to attributes: { "192.0.2.0/24" = { name = "customers", role = "customer", site = "paris", region = "eu", tenant = "acme", country = "FR", asn = 64500 } }.`},
	},
}

func init() {
	engine.Register(engine.KindEnricher, "networks", Spec, func(cfg *dsl.Config, env engine.Env) (any, hcl.Diagnostics) {
		return New(cfg, env)
	})
}

// attribute keys, in Attrs field order.
var attrNames = []string{"name", "role", "site", "region", "tenant", "country", "asn"}

// Attrs are the attributes of one network.
type Attrs struct {
	Name, Role, Site, Region, Tenant string
	Country                          string // "" when not overridden
	ASN                              uint32
	HasASN                           bool
}

// inherit fills the attributes a does not set from parent.
func (a *Attrs) inherit(p *Attrs) {
	for _, f := range []struct{ dst, src *string }{
		{&a.Name, &p.Name}, {&a.Role, &p.Role}, {&a.Site, &p.Site}, {&a.Region, &p.Region},
		{&a.Tenant, &p.Tenant}, {&a.Country, &p.Country},
	} {
		if *f.dst == "" {
			*f.dst = *f.src
		}
	}
	if !a.HasASN {
		a.ASN, a.HasASN = p.ASN, p.HasASN
	}
}

// Enricher is the `enricher "networks"` stage.
type Enricher struct {
	table     *Table
	unmatched *prometheus.CounterVec
}

var _ engine.Processor = (*Enricher)(nil)

// New builds the enricher, reporting every problem of the map as a diagnostic.
func New(cfg *dsl.Config, env engine.Env) (*Enricher, hcl.Diagnostics) {
	rng := cfg.Range("networks")
	nets, diags := parseNetworks(cfg.Value("networks"), rng)
	e := &Enricher{
		table: Build(nets),
		unmatched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowengine_networks_unmatched_total",
			Help: "Flow addresses that no configured network holds."}, []string{"address"}),
	}
	if env.Metrics != nil {
		_ = env.Metrics.Register(e.unmatched)
	}
	return e, diags
}

// Network is one prefix and its attributes.
type Network struct {
	Prefix netip.Prefix
	Attrs  Attrs
}

func parseNetworks(v cty.Value, rng *hcl.Range) ([]Network, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	errf := func(sev hcl.DiagnosticSeverity, summary, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng})
	}
	if v == cty.NilVal || v.IsNull() {
		errf(hcl.DiagError, "Missing networks", "A map of CIDR prefixes to attributes is required.")
		return nil, diags
	}
	if !v.CanIterateElements() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		errf(hcl.DiagError, "Invalid networks", `A map like { "192.0.2.0/24" = { name = "customers" } } is required; this is %s.`, v.Type().FriendlyName())
		return nil, diags
	}
	seen := map[netip.Prefix]string{}
	var out []Network
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		key := k.AsString()
		p, err := netip.ParsePrefix(strings.TrimSpace(key))
		if err != nil {
			errf(hcl.DiagError, "Invalid CIDR", "%q is not a CIDR prefix like \"192.0.2.0/24\" or \"2001:db8::/32\".", key)
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if m := p.Masked(); m != p {
			errf(hcl.DiagWarning, "CIDR has host bits set", "%q has host bits set: it means %s.", key, m)
			p = m
		}
		attrs, d := parseAttrs(key, val, rng)
		diags = append(diags, d...)
		if prev, dup := seen[p]; dup {
			errf(hcl.DiagError, "Duplicate network", "%q and %q are the same network (%s).", prev, key, p)
			continue
		}
		seen[p] = key
		out = append(out, Network{Prefix: p, Attrs: attrs})
	}
	return out, diags
}

func parseAttrs(key string, v cty.Value, rng *hcl.Range) (Attrs, hcl.Diagnostics) {
	var a Attrs
	var diags hcl.Diagnostics
	errf := func(format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid network attributes",
			Detail: fmt.Sprintf("Network %q: ", key) + fmt.Sprintf(format, args...), Subject: rng})
	}
	if v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		errf("the attributes must be an object like { name = \"customers\", site = \"paris\" }.")
		return a, diags
	}
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		name := k.AsString()
		if val.IsNull() {
			continue
		}
		switch name {
		case "name", "role", "site", "region", "tenant", "country":
			s, err := convert.Convert(val, cty.String)
			if err != nil || !s.IsKnown() {
				errf("%s must be a string.", name)
				continue
			}
			str := s.AsString()
			switch name {
			case "name":
				a.Name = str
			case "role":
				a.Role = str
			case "site":
				a.Site = str
			case "region":
				a.Region = str
			case "tenant":
				a.Tenant = str
			case "country":
				str = strings.ToUpper(strings.TrimSpace(str))
				if len(str) != 2 || str[0] < 'A' || str[0] > 'Z' || str[1] < 'A' || str[1] > 'Z' {
					errf("country %q is not an ISO 3166 alpha-2 code like \"FR\".", s.AsString())
					continue
				}
				a.Country = str
			}
		case "asn":
			n, ok := parseASN(val)
			if !ok {
				errf("asn must be an AS number like 64500 or \"AS64500\".")
				continue
			}
			a.ASN, a.HasASN = n, true
		default:
			detail := fmt.Sprintf("unknown attribute %q; the attributes are %s.", name, strings.Join(attrNames, ", "))
			if s := dsl.DidYouMean(name, attrNames); s != "" {
				detail = fmt.Sprintf("unknown attribute %q. Did you mean %q?", name, s)
			}
			errf("%s", detail)
		}
	}
	return a, diags
}

func parseASN(v cty.Value) (uint32, bool) {
	switch v.Type() {
	case cty.Number:
		f := v.AsBigFloat()
		n, acc := f.Uint64()
		if acc != 0 || n > math.MaxUint32 || f.Sign() < 0 {
			return 0, false
		}
		return uint32(n), true
	case cty.String:
		s := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(v.AsString())), "AS")
		n, err := strconv.ParseUint(s, 10, 32)
		return uint32(n), err == nil
	}
	return 0, false
}

// Process fills the network columns of every flow of b.
func (e *Enricher) Process(_ context.Context, b *flow.Batch) error {
	t := e.table
	var srcMiss, dstMiss int
	for i := range b.Records {
		r := &b.Records[i]
		if a := t.Lookup(r.SrcAddr); a != nil {
			r.SrcNetName, r.SrcNetRole, r.SrcNetSite, r.SrcNetRegion, r.SrcNetTenant = a.Name, a.Role, a.Site, a.Region, a.Tenant
			if a.Country != "" {
				r.SrcCountry = a.Country
			}
			if a.HasASN {
				r.SrcAS = a.ASN
			}
		} else {
			srcMiss++
		}
		if a := t.Lookup(r.DstAddr); a != nil {
			r.DstNetName, r.DstNetRole, r.DstNetSite, r.DstNetRegion, r.DstNetTenant = a.Name, a.Role, a.Site, a.Region, a.Tenant
			if a.Country != "" {
				r.DstCountry = a.Country
			}
			if a.HasASN {
				r.DstAS = a.ASN
			}
		} else {
			dstMiss++
		}
	}
	if srcMiss > 0 {
		e.unmatched.WithLabelValues("src").Add(float64(srcMiss))
	}
	if dstMiss > 0 {
		e.unmatched.WithLabelValues("dst").Add(float64(dstMiss))
	}
	return nil
}

// u128 is an address as a 128-bit number (IPv4 in lo).
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) addOne() u128 {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return u128{hi, lo}
}

// lastOf returns the last address of the prefix as a number.
func lastOf(p netip.Prefix) u128 {
	s := toU128(p.Addr())
	host := p.Addr().BitLen() - p.Bits()
	switch {
	case host == 0:
		return s
	case host < 64:
		return u128{s.hi, s.lo | (1<<host - 1)}
	case host == 64:
		return u128{s.hi, math.MaxUint64}
	case host < 128:
		return u128{s.hi | (1<<(host-64) - 1), math.MaxUint64}
	}
	return u128{math.MaxUint64, math.MaxUint64}
}

// Table answers longest-prefix-match queries. Prefixes are flattened at
// build time into sorted, non-overlapping ranges: a lookup is one binary
// search, with no allocation.
type Table struct {
	v4Starts []uint32
	v4Vals   []int32
	v6Starts []u128
	v6Vals   []int32
	attrs    []Attrs
}

type interval struct {
	start u128
	val   int32
}

// Build makes a table from networks whose prefixes are masked and unique.
func Build(nets []Network) *Table {
	t := &Table{}
	var v4, v6 []int
	for i, n := range nets {
		if n.Prefix.Addr().Is4() {
			v4 = append(v4, i)
		} else {
			v6 = append(v6, i)
		}
	}
	for _, iv := range t.flatten(nets, v4, math.MaxUint32) {
		t.v4Starts = append(t.v4Starts, uint32(iv.start.lo))
		t.v4Vals = append(t.v4Vals, iv.val)
	}
	for _, iv := range t.flatten(nets, v6, math.MaxUint64) {
		t.v6Starts = append(t.v6Starts, iv.start)
		t.v6Vals = append(t.v6Vals, iv.val)
	}
	return t
}

// flatten turns nested prefixes into intervals, each carrying the attributes
// of the innermost prefix that covers it (with inherited attributes).
func (t *Table) flatten(nets []Network, idx []int, maxLo uint64) []interval {
	type open struct {
		end u128
		val int32
	}
	slices.SortFunc(idx, func(a, b int) int {
		pa, pb := nets[a].Prefix, nets[b].Prefix
		if c := pa.Addr().Compare(pb.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(pa.Bits(), pb.Bits())
	})
	max := u128{0, maxLo}
	if maxLo == math.MaxUint64 {
		max.hi = math.MaxUint64
	}
	var out []interval
	emit := func(start u128, val int32) {
		if n := len(out); n > 0 && out[n-1].start == start {
			out[n-1].val = val
			return
		}
		if n := len(out); n > 0 && out[n-1].val == val {
			return
		}
		out = append(out, interval{start, val})
	}
	var stack []open
	pop := func() {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if top.end == max {
			return
		}
		val := int32(-1)
		if len(stack) > 0 {
			val = stack[len(stack)-1].val
		}
		emit(top.end.addOne(), val)
	}
	for _, i := range idx {
		p := nets[i].Prefix
		start, end := toU128(p.Addr()), lastOf(p)
		for len(stack) > 0 && stack[len(stack)-1].end.less(start) {
			pop()
		}
		a := nets[i].Attrs
		if len(stack) > 0 {
			a.inherit(&t.attrs[stack[len(stack)-1].val])
		}
		val := int32(len(t.attrs))
		t.attrs = append(t.attrs, a)
		stack = append(stack, open{end, val})
		emit(start, val)
	}
	for len(stack) > 0 {
		pop()
	}
	return out
}

// Lookup returns the attributes of the longest prefix holding a, or nil.
func (t *Table) Lookup(a netip.Addr) *Attrs {
	if a.Is4In6() {
		a = a.Unmap()
	}
	var v int32 = -1
	if a.Is4() {
		b := a.As4()
		x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		s := t.v4Starts
		// Find the last start <= x.
		lo, hi := 0, len(s)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if s[m] <= x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == 0 {
			return nil
		}
		v = t.v4Vals[lo-1]
	} else if a.Is6() {
		x := toU128(a)
		s := t.v6Starts
		lo, hi := 0, len(s)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if !x.less(s[m]) {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == 0 {
			return nil
		}
		v = t.v6Vals[lo-1]
	}
	if v < 0 {
		return nil
	}
	return &t.attrs[v]
}
