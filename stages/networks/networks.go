// Package networks provides the `enricher "networks"` stage: a map of CIDR
// prefixes to attributes (name, role, site, region, tenant, and optionally
// country and AS) that fills the Src*/Dst* network columns of each flow, the
// longest matching prefix winning.
package networks

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/internal/iptable"
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
	engine.RegisterEnricher("networks", Spec, New)
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
	e.unmatched = engine.Register(env.Metrics, e.unmatched)
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

// Table answers longest-prefix-match queries over the networks, each
// network's attributes already completed with those of its enclosing
// networks.
type Table struct {
	t *iptable.Table[*Attrs]
}

// Build makes a table from networks whose prefixes are masked and unique.
func Build(nets []Network) *Table {
	b := iptable.Builder[*Attrs]{Inherit: func(a, parent *Attrs) *Attrs {
		merged := *a
		merged.inherit(parent)
		return &merged
	}}
	for _, n := range nets {
		a := n.Attrs
		b.Add(n.Prefix, &a)
	}
	return &Table{b.Build()}
}

// Lookup returns the attributes of the longest prefix holding a, or nil.
func (t *Table) Lookup(a netip.Addr) *Attrs {
	attrs, _ := t.t.Lookup(a)
	return attrs
}
