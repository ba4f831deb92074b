package classify

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// Settings of an interface rule, in outcome.values order.
var interfaceSettings = []string{"boundary", "provider", "connectivity", "name", "description"}

const (
	ifBoundary = 1 << iota
	ifProvider
	ifConnectivity
	ifName
	ifDescription
)

// InterfaceSpec is the spec of `classifier "interface"`.
var InterfaceSpec = &dsl.Spec{
	Description: "Classifies the input and output interfaces of each flow with ordered rules over exporter.* and " +
		"interface.index, .name, .description, .speed (Mbps) and .vlan (SrcVlan for the input interface, DstVlan for the output one). The first matching rule sets the boundary " +
		"(\"external\" or \"internal\"), provider and connectivity, may rename the interface, or rejects the flow. " +
		"Results are cached per (exporter, interface), so changed SNMP data is classified again.",
	Attrs: []dsl.Attr{
		{Name: "cache_size", Type: dsl.TypeInt, Default: int64(100000),
			Description: "Maximum number of interfaces whose classification is cached (per worker); the cache is cleared when full."},
	},
	Blocks: []dsl.BlockSpec{ruleSpec("A classification rule; the first rule whose `when` is true wins.",
		func() []dsl.Attr {
			attrs := settingAttrs(interfaceSettings, "interface")
			attrs[0].Description = "Sets the interface boundary: \"external\" or \"internal\"."
			attrs[3].Description = "Renames the interface."
			attrs[4].Description = "Replaces the interface description."
			return attrs
		}())},
}

func init() {
	engine.RegisterClassifier("interface", InterfaceSpec, NewInterface)
}

func checkBoundary(name string, v cty.Value, rng hcl.Range) *hcl.Diagnostic {
	if name != "boundary" || v.Type() != cty.String {
		return nil
	}
	s := v.AsString()
	if _, ok := flow.ParseBoundary(s); ok {
		return nil
	}
	detail := fmt.Sprintf("%q is not a boundary: use \"external\" or \"internal\".", s)
	if sug := dsl.DidYouMean(s, []string{"external", "internal"}); sug != "" {
		detail += fmt.Sprintf(" Did you mean %q?", sug)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid boundary", Detail: detail, Subject: &rng}
}

func validateBoundary(name, v string) error {
	if name != "boundary" {
		return nil
	}
	if _, ok := flow.ParseBoundary(v); !ok {
		return fmt.Errorf("boundary %q is neither \"external\" nor \"internal\"", v)
	}
	return nil
}

// ifSlot is where an interface's classification is cached: the exporter
// context and the ifIndex (and the VLAN when rules read it). The entry keeps
// the SNMP data it was computed from: changed data is a miss.
//
// It packs the exporter id (16 bits), VLAN (16 bits) and ifIndex (32 bits)
// into a uint64, the fastest map key.
type ifSlot uint64

func slotOf(exporter uint32, vlan uint16, index uint32) ifSlot {
	return ifSlot(uint64(exporter)<<48 | uint64(vlan)<<32 | uint64(index))
}

func (s ifSlot) exporter() uint32 { return uint32(s >> 48) }
func (s ifSlot) vlan() uint16     { return uint16(s >> 32) }
func (s ifSlot) index() uint32    { return uint32(s) }

// maxExporters is how many exporter ids fit in an ifSlot.
const maxExporters = 1 << 16

// ifEntry is a cached interface classification.
type ifEntry struct {
	name, description string
	speed             uint64
	reject            bool
	mask              uint8
	boundary          flow.Boundary
	values            [5]string
}

func (e *ifEntry) matches(name, description string, speed uint64) bool {
	return e.speed == speed && e.name == name && e.description == description
}

// Interface is the `classifier "interface"` stage.
type Interface struct {
	rules     []rule
	evalCtx   *hcl.EvalContext
	keyMask   uint8
	vlan      bool // rules read interface.vlan
	cacheSize int
	cnt       *counters
	caches    *freeList[ifCache]
}

var _ engine.Processor = (*Interface)(nil)

type ifCache struct {
	exporters map[exporterKey]uint32
	expVals   []cty.Value // exporter objects by id
	expNames  []string    // for logs
	m         map[ifSlot]*ifEntry
	gen       uint64 // bumped by reset: exporter ids are reused
	// front is a direct-mapped cache in front of m: most lookups end here.
	front [frontSize]struct {
		slot  ifSlot
		entry *ifEntry
	}
}

const frontSize = 512

func frontIndex(s ifSlot) uint64 { return (uint64(s) * 0x9E3779B97F4A7C15) >> 55 }

func (c *ifCache) reset() {
	clear(c.exporters)
	c.expVals = c.expVals[:0]
	c.expNames = c.expNames[:0]
	clear(c.m)
	c.front = [frontSize]struct {
		slot  ifSlot
		entry *ifEntry
	}{}
	c.gen++
}

// NewInterface builds the classifier from its configuration.
func NewInterface(cfg *dsl.Config, env engine.Env) (*Interface, hcl.Diagnostics) {
	evalCtx := defaultEvalContext(env.EvalContext)
	sc := scope{"exporter": exporterVars, "interface": interfaceVars}
	rules, used, diags := compileRules(cfg.Blocks("rule"), interfaceSettings, sc, evalCtx, checkBoundary)
	size := int(cfg.Int("cache_size"))
	if size <= 0 {
		size = 100000
	}
	c := &Interface{rules: rules, evalCtx: evalCtx, keyMask: exporterMask(used), vlan: used.uses("interface", "vlan"),
		cacheSize: size, cnt: newCounters(env, "interface")}
	c.caches = newFreeList(func() *ifCache {
		return &ifCache{exporters: map[exporterKey]uint32{}, m: map[ifSlot]*ifEntry{}}
	})
	return c, diags
}

func (c *Interface) exporterID(cache *ifCache, k exporterKey, r *flow.Record) uint32 {
	if id, ok := cache.exporters[k]; ok {
		return id
	}
	if len(cache.exporters) >= min(c.cacheSize, maxExporters) || len(cache.m) >= c.cacheSize {
		cache.reset()
	}
	id := uint32(len(cache.expVals))
	cache.exporters[k] = id
	cache.expVals = append(cache.expVals, exporterObject(r))
	cache.expNames = append(cache.expNames, r.ExporterAddress.String()+" "+r.ExporterName)
	return id
}

func (c *Interface) classify(cache *ifCache, k ifSlot, name, description string, speed uint64) *ifEntry {
	f := &cache.front[frontIndex(k)]
	if f.entry != nil && f.slot == k && f.entry.matches(name, description, speed) {
		return f.entry
	}
	e, ok := cache.m[k]
	if ok && e.matches(name, description, speed) {
		f.slot, f.entry = k, e
		return e
	}
	c.cnt.misses.Inc()
	ctx := c.evalCtx.NewChild()
	ctx.Variables = map[string]cty.Value{
		"exporter": cache.expVals[k.exporter()],
		"interface": cty.ObjectVal(map[string]cty.Value{
			"index": cty.NumberUIntVal(uint64(k.index())), "name": cty.StringVal(name),
			"description": cty.StringVal(description), "speed": cty.NumberUIntVal(speed),
			"vlan": cty.NumberUIntVal(uint64(k.vlan())),
		}),
	}
	o, errs := evaluate(c.rules, ctx, validateBoundary)
	c.cnt.ruleErrors(cache.expNames[k.exporter()]+" ifindex "+strconv.FormatUint(uint64(k.index()), 10), errs)
	if !ok {
		if len(cache.m) >= c.cacheSize {
			// Keep the exporter ids valid: only the interface entries go.
			clear(cache.m)
			cache.front = [frontSize]struct {
				slot  ifSlot
				entry *ifEntry
			}{}
		}
		e = &ifEntry{}
		cache.m[k] = e
	}
	*e = ifEntry{name: name, description: description, speed: speed, reject: o.reject, mask: uint8(o.mask)}
	copy(e.values[:], o.values[:5])
	e.boundary, _ = flow.ParseBoundary(o.values[0])
	f.slot, f.entry = k, e
	return e
}

// Process classifies the input and output interfaces of every flow of b,
// dropping the flows a rejecting rule matched.
func (c *Interface) Process(_ context.Context, b *flow.Batch) error {
	if len(c.rules) == 0 {
		return nil
	}
	cache := c.caches.get()
	defer c.caches.put(cache)
	var (
		lastExp       exporterKey
		expID         uint32
		haveExp       bool
		lastIn, lastO ifSlot
		in, out       *ifEntry
		rejected, n   int
	)
	recs := b.Records
	for i := range recs {
		r := &recs[i]
		ek := keyOf(r, c.keyMask)
		if !haveExp || ek != lastExp {
			gen := cache.gen
			expID = c.exporterID(cache, ek, r)
			if cache.gen != gen { // ids were reused: forget the last keys
				in, out = nil, nil
			}
			lastExp, haveExp = ek, true
		}
		var vi, vo uint16
		if c.vlan {
			vi, vo = r.SrcVlan, r.DstVlan
		}
		ki, ko := slotOf(expID, vi, r.InIfIndex), slotOf(expID, vo, r.OutIfIndex)
		if in == nil || ki != lastIn || !in.matches(r.InIfName, r.InIfDescription, r.InIfSpeed) {
			in, lastIn = c.classify(cache, ki, r.InIfName, r.InIfDescription, r.InIfSpeed), ki
		}
		if out == nil || ko != lastO || !out.matches(r.OutIfName, r.OutIfDescription, r.OutIfSpeed) {
			out, lastO = c.classify(cache, ko, r.OutIfName, r.OutIfDescription, r.OutIfSpeed), ko
		}
		if in.reject || out.reject {
			rejected++
			continue
		}
		if m := in.mask; m != 0 {
			if m&ifBoundary != 0 {
				r.InIfBoundary = in.boundary
			}
			if m&ifProvider != 0 {
				r.InIfProvider = in.values[1]
			}
			if m&ifConnectivity != 0 {
				r.InIfConnectivity = in.values[2]
			}
			if m&ifName != 0 {
				r.InIfName = in.values[3]
			}
			if m&ifDescription != 0 {
				r.InIfDescription = in.values[4]
			}
		}
		if m := out.mask; m != 0 {
			if m&ifBoundary != 0 {
				r.OutIfBoundary = out.boundary
			}
			if m&ifProvider != 0 {
				r.OutIfProvider = out.values[1]
			}
			if m&ifConnectivity != 0 {
				r.OutIfConnectivity = out.values[2]
			}
			if m&ifName != 0 {
				r.OutIfName = out.values[3]
			}
			if m&ifDescription != 0 {
				r.OutIfDescription = out.values[4]
			}
		}
		if n != i {
			recs[n] = *r
		}
		n++
	}
	if rejected > 0 {
		b.Records = recs[:n]
		c.cnt.rejected.Add(float64(rejected))
	}
	return nil
}
