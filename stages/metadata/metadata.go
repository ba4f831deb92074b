// Package metadata implements enricher "metadata": exporters and their
// interfaces declared in the pipeline file (name, description, speed and the
// classification fields), for networks without SNMP or to override what SNMP
// reports.
//
// Precedence: a value declared here always wins. enricher "metadata" sets
// every field it declares (non-empty strings, non-zero speeds), overwriting
// what an earlier stage put there, and enricher "snmp" never overwrites a
// field that is already set. So metadata may sit before snmp (snmp fills the
// gaps) or after it (metadata overrides), with the same result.
package metadata

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

func init() {
	engine.RegisterEnricher("metadata", Spec, New)
}

var _ engine.Processor = (*Enricher)(nil)

var interfaceAttrs = []dsl.Attr{
	{Name: "name", Type: dsl.TypeString, Description: "interface name (InIfName/OutIfName)"},
	{Name: "description", Type: dsl.TypeString, Description: "interface description (InIfDescription/OutIfDescription)"},
	{Name: "speed", Type: dsl.TypeInt, Description: "interface speed in Mbps"},
	{Name: "boundary", Type: dsl.TypeString, OneOf: []string{"external", "internal", ""}, Description: "\"external\" or \"internal\""},
	{Name: "provider", Type: dsl.TypeString, Description: "provider (InIfProvider/OutIfProvider)"},
	{Name: "connectivity", Type: dsl.TypeString, Description: "connectivity: transit, pni, ix, ... (InIfConnectivity/OutIfConnectivity)"},
}

// Spec is the configuration of enricher "metadata".
var Spec = &dsl.Spec{
	Description: "Sets exporter and interface fields from exporters declared in the pipeline, for networks " +
		"without SNMP. Declared values overwrite what earlier stages set; enricher \"snmp\" never overwrites " +
		"a field already set, so this stage may sit before or after it.",
	Blocks: []dsl.BlockSpec{
		{
			Type: "exporter", Labels: []string{"address"},
			Description: "an exporter, by the address its flows come from",
			Attrs: []dsl.Attr{
				{Name: "name", Type: dsl.TypeString, Description: "ExporterName"},
				{Name: "group", Type: dsl.TypeString, Description: "ExporterGroup"},
				{Name: "role", Type: dsl.TypeString, Description: "ExporterRole"},
				{Name: "site", Type: dsl.TypeString, Description: "ExporterSite"},
				{Name: "region", Type: dsl.TypeString, Description: "ExporterRegion"},
				{Name: "tenant", Type: dsl.TypeString, Description: "ExporterTenant"},
			},
			Blocks: []dsl.BlockSpec{
				{Type: "interface", Labels: []string{"index"}, Description: "an interface, by its ifIndex (a quoted number: interface \"17\")",
					Attrs: interfaceAttrs},
				{Type: "default_interface", Description: "fields of this exporter's interfaces not declared, and of declared ones where they leave a field empty",
					Attrs: interfaceAttrs, Max: 1},
			},
		},
		{Type: "default_interface", Description: "fields of every interface (ifIndex not 0) where the exporter's declarations leave them empty",
			Attrs: interfaceAttrs, Max: 1},
	},
}

type ifaceMeta struct {
	name, description      string
	speed                  uint64
	boundary               flow.Boundary
	provider, connectivity string
}

// merge fills the empty fields of m from d.
func (m ifaceMeta) merge(d *ifaceMeta) ifaceMeta {
	if d == nil {
		return m
	}
	if m.name == "" {
		m.name = d.name
	}
	if m.description == "" {
		m.description = d.description
	}
	if m.speed == 0 {
		m.speed = d.speed
	}
	if m.boundary == flow.BoundaryUndefined {
		m.boundary = d.boundary
	}
	if m.provider == "" {
		m.provider = d.provider
	}
	if m.connectivity == "" {
		m.connectivity = d.connectivity
	}
	return m
}

func (m *ifaceMeta) empty() bool { return *m == ifaceMeta{} }

type exporterMeta struct {
	name, group, role, site, region, tenant string
	ifaces                                  map[uint32]*ifaceMeta // defaults merged in
	def                                     *ifaceMeta            // undeclared interfaces; nil when nothing to set
}

// Enricher is enricher "metadata". Its tables are immutable after New.
type Enricher struct {
	exporters map[netip.Addr]*exporterMeta
	def       *ifaceMeta // interfaces of undeclared exporters

	unknown prometheus.Counter
}

// New builds the enricher. Diagnostics: an exporter label that is not an
// address, a duplicate exporter or interface, a bad ifIndex label, a bad
// boundary or speed.
func New(cfg *dsl.Config, env engine.Env) (*Enricher, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	e := &Enricher{exporters: map[netip.Addr]*exporterMeta{}}
	if ds := cfg.Blocks("default_interface"); len(ds) > 0 {
		d, dd := decodeIface(ds[0])
		diags = append(diags, dd...)
		if !d.empty() {
			e.def = &d
		}
	}
	firstSeen := map[netip.Addr]hcl.Range{}
	for _, x := range cfg.Blocks("exporter") {
		label := ""
		if len(x.Labels) > 0 {
			label = x.Labels[0]
		}
		addr, err := netip.ParseAddr(label)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid exporter address",
				Detail:  fmt.Sprintf("%q is not an IP address: an exporter is declared by the address its flows come from, like exporter \"192.0.2.1\".", label),
				Subject: x.DefRange.Ptr()})
			continue
		}
		addr = addr.Unmap()
		if prev, dup := firstSeen[addr]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate exporter",
				Detail: fmt.Sprintf("Exporter %s is already declared at %s.", addr, prev), Subject: x.DefRange.Ptr()})
			continue
		}
		firstSeen[addr] = x.DefRange
		m := &exporterMeta{name: x.String("name"), group: x.String("group"), role: x.String("role"), site: x.String("site"),
			region: x.String("region"), tenant: x.String("tenant"), ifaces: map[uint32]*ifaceMeta{}}
		var expDef *ifaceMeta
		if ds := x.Blocks("default_interface"); len(ds) > 0 {
			d, dd := decodeIface(ds[0])
			diags = append(diags, dd...)
			expDef = &d
		}
		if merged := (ifaceMeta{}).merge(expDef).merge(e.def); !merged.empty() {
			m.def = &merged
		}
		ifSeen := map[uint32]hcl.Range{}
		for _, ib := range x.Blocks("interface") {
			il := ""
			if len(ib.Labels) > 0 {
				il = ib.Labels[0]
			}
			n, err := strconv.ParseUint(il, 10, 32)
			if err != nil || n == 0 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid interface index",
					Detail:  fmt.Sprintf("%q is not an ifIndex: a whole number between 1 and 4294967295, quoted, like interface \"17\".", il),
					Subject: ib.DefRange.Ptr()})
				continue
			}
			idx := uint32(n)
			if prev, dup := ifSeen[idx]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate interface",
					Detail: fmt.Sprintf("Interface %d of exporter %s is already declared at %s.", idx, addr, prev), Subject: ib.DefRange.Ptr()})
				continue
			}
			ifSeen[idx] = ib.DefRange
			im, dd := decodeIface(ib)
			diags = append(diags, dd...)
			im = im.merge(expDef).merge(e.def)
			m.ifaces[idx] = &im
		}
		e.exporters[addr] = m
	}
	e.unknown = engine.NewMetrics(env.Metrics).Counter(prometheus.CounterOpts{Name: "flowengine_metadata_flows_unknown_exporter_total",
		Help: "Flows whose exporter is not declared (only default_interface applied)."})
	return e, diags
}

func decodeIface(c *dsl.Config) (ifaceMeta, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	m := ifaceMeta{name: c.String("name"), description: c.String("description"), provider: c.String("provider"),
		connectivity: c.String("connectivity")}
	if s := c.Int("speed"); s < 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: `Invalid value for "speed"`,
			Detail: "The speed (Mbps) must not be negative.", Subject: c.Range("speed")})
	} else {
		m.speed = uint64(s)
	}
	b, ok := flow.ParseBoundary(c.String("boundary"))
	if !ok { // OneOf already reported it; keep the check for direct callers
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: `Invalid value for "boundary"`,
			Detail: `The boundary is "external", "internal" or "".`, Subject: c.Range("boundary")})
	}
	m.boundary = b
	return m, diags
}

// Process sets the declared fields of b's records.
func (e *Enricher) Process(_ context.Context, b *flow.Batch) error {
	var (
		last    netip.Addr
		m       *exporterMeta
		unknown int
	)
	first := true
	for i := range b.Records {
		r := &b.Records[i]
		if first || r.ExporterAddress != last {
			first, last = false, r.ExporterAddress
			m = e.exporters[last]
		}
		if m == nil {
			unknown++
			if e.def != nil {
				if r.InIfIndex != 0 {
					setIn(r, e.def)
				}
				if r.OutIfIndex != 0 {
					setOut(r, e.def)
				}
			}
			continue
		}
		setExporter(r, m)
		if r.InIfIndex != 0 {
			im := m.ifaces[r.InIfIndex]
			if im == nil {
				im = m.def
			}
			if im != nil {
				setIn(r, im)
			}
		}
		if r.OutIfIndex != 0 {
			im := m.ifaces[r.OutIfIndex]
			if im == nil {
				im = m.def
			}
			if im != nil {
				setOut(r, im)
			}
		}
	}
	if unknown > 0 {
		e.unknown.Add(float64(unknown))
	}
	return nil
}

func setExporter(r *flow.Record, m *exporterMeta) {
	if m.name != "" {
		r.ExporterName = m.name
	}
	if m.group != "" {
		r.ExporterGroup = m.group
	}
	if m.role != "" {
		r.ExporterRole = m.role
	}
	if m.site != "" {
		r.ExporterSite = m.site
	}
	if m.region != "" {
		r.ExporterRegion = m.region
	}
	if m.tenant != "" {
		r.ExporterTenant = m.tenant
	}
}

func setIn(r *flow.Record, m *ifaceMeta) {
	m.apply(&r.InIfName, &r.InIfDescription, &r.InIfSpeed, &r.InIfBoundary, &r.InIfProvider, &r.InIfConnectivity)
}

func setOut(r *flow.Record, m *ifaceMeta) {
	m.apply(&r.OutIfName, &r.OutIfDescription, &r.OutIfSpeed, &r.OutIfBoundary, &r.OutIfProvider, &r.OutIfConnectivity)
}

// apply writes the declared values into one side's interface columns,
// leaving the columns the metadata does not declare as they are.
func (m *ifaceMeta) apply(name, description *string, speed *uint64, boundary *flow.Boundary, provider, connectivity *string) {
	if m.name != "" {
		*name = m.name
	}
	if m.description != "" {
		*description = m.description
	}
	if m.speed != 0 {
		*speed = m.speed
	}
	if m.boundary != flow.BoundaryUndefined {
		*boundary = m.boundary
	}
	if m.provider != "" {
		*provider = m.provider
	}
	if m.connectivity != "" {
		*connectivity = m.connectivity
	}
}
