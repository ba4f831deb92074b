package classify

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zclconf/go-cty/cty"

	"github.com/flowengine/flowengine/dsl"
	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

// Settings of an exporter rule, in outcome.values order.
var exporterSettings = []string{"group", "role", "site", "region", "tenant", "name"}

func settingAttrs(names []string, what string) []dsl.Attr {
	out := make([]dsl.Attr, len(names))
	for i, n := range names {
		out[i] = dsl.Attr{Name: n, Type: dsl.TypeExpr, Description: "Sets the " + what + " " + n + " (a string expression)."}
	}
	return out
}

// ExporterSpec is the spec of `classifier "exporter"`.
var ExporterSpec = &dsl.Spec{
	Description: "Classifies exporters with ordered rules over exporter.address, exporter.name (and the current exporter.group, .role, .site, .region, .tenant). " +
		"The first matching rule sets the exporter's columns or rejects its flows; results are cached per exporter.",
	Attrs: []dsl.Attr{
		{Name: "cache_size", Type: dsl.TypeInt, Default: int64(65536),
			Description: "Maximum number of exporters whose classification is cached (per worker); the cache is cleared when full."},
	},
	Blocks: []dsl.BlockSpec{ruleSpec("A classification rule; the first rule whose `when` is true wins.",
		settingAttrs(exporterSettings, "exporter"))},
}

func init() {
	engine.RegisterClassifier("exporter", ExporterSpec, NewExporter)
}

// counters shared by both classifiers.
type counters struct {
	rejected prometheus.Counter
	errors   prometheus.Counter
	misses   prometheus.Counter
	logger   *slog.Logger

	mu     sync.Mutex
	logged map[string]bool
}

func newCounters(env engine.Env, area string) *counters {
	c := &counters{
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_classifier_rejected_flows_total",
			Help: "Flows dropped by a rule with reject = true."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_classifier_rule_errors_total",
			Help: "Rule evaluations that failed (the rule was treated as not matching)."}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowengine_classifier_cache_misses_total",
			Help: "Classifications computed by evaluating the rules (cache misses)."}),
		logger: env.Logger,
		logged: map[string]bool{},
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.rejected = engine.Register(env.Metrics, c.rejected)
	c.errors = engine.Register(env.Metrics, c.errors)
	c.misses = engine.Register(env.Metrics, c.misses)
	return c
}

// ruleErrors counts errors and logs them once per key (exporter, interface).
func (c *counters) ruleErrors(key string, errs []error) {
	if len(errs) == 0 {
		return
	}
	c.errors.Add(float64(len(errs)))
	c.mu.Lock()
	first := !c.logged[key]
	if first {
		if len(c.logged) > 10000 {
			clear(c.logged)
		}
		c.logged[key] = true
	}
	c.mu.Unlock()
	if first {
		for _, err := range errs {
			c.logger.Warn("classification rule failed, treated as not matching", "key", key, "error", err)
		}
	}
}

// exporterKey identifies an exporter; the columns no rule reads stay empty.
type exporterKey struct {
	addr                              netip.Addr
	name                              string
	group, role, site, region, tenant string
}

// keyOf builds the key from r, keeping only what the rules read (used).
func keyOf(r *flow.Record, mask uint8) exporterKey {
	k := exporterKey{addr: r.ExporterAddress, name: r.ExporterName}
	if mask != 0 {
		if mask&1 != 0 {
			k.group = r.ExporterGroup
		}
		if mask&2 != 0 {
			k.role = r.ExporterRole
		}
		if mask&4 != 0 {
			k.site = r.ExporterSite
		}
		if mask&8 != 0 {
			k.region = r.ExporterRegion
		}
		if mask&16 != 0 {
			k.tenant = r.ExporterTenant
		}
	}
	return k
}

func exporterMask(used refs) uint8 {
	var m uint8
	for i, a := range []string{"group", "role", "site", "region", "tenant"} {
		if used.uses("exporter", a) {
			m |= 1 << i
		}
	}
	return m
}

func exporterObject(r *flow.Record) cty.Value {
	addr := ""
	if r.ExporterAddress.IsValid() {
		addr = r.ExporterAddress.Unmap().String()
	}
	return cty.ObjectVal(map[string]cty.Value{
		"address": cty.StringVal(addr), "name": cty.StringVal(r.ExporterName),
		"group": cty.StringVal(r.ExporterGroup), "role": cty.StringVal(r.ExporterRole),
		"site": cty.StringVal(r.ExporterSite), "region": cty.StringVal(r.ExporterRegion),
		"tenant": cty.StringVal(r.ExporterTenant),
	})
}

// Exporter is the `classifier "exporter"` stage.
type Exporter struct {
	rules     []rule
	evalCtx   *hcl.EvalContext
	keyMask   uint8
	cacheSize int
	cnt       *counters
	caches    *freeList[exporterCache]
}

var _ engine.Processor = (*Exporter)(nil)

type exporterCache struct {
	m map[exporterKey]*outcome
}

// NewExporter builds the classifier from its configuration.
func NewExporter(cfg *dsl.Config, env engine.Env) (*Exporter, hcl.Diagnostics) {
	evalCtx := defaultEvalContext(env.EvalContext)
	sc := scope{"exporter": exporterVars}
	rules, used, diags := compileRules(cfg.Blocks("rule"), exporterSettings, sc, evalCtx, nil)
	size := int(cfg.Int("cache_size"))
	if size <= 0 {
		size = 65536
	}
	e := &Exporter{rules: rules, evalCtx: evalCtx, keyMask: exporterMask(used), cacheSize: size,
		cnt: newCounters(env, "exporter")}
	e.caches = newFreeList(func() *exporterCache { return &exporterCache{m: map[exporterKey]*outcome{}} })
	return e, diags
}

func (e *Exporter) classify(c *exporterCache, k exporterKey, r *flow.Record) *outcome {
	if o, ok := c.m[k]; ok {
		return o
	}
	e.cnt.misses.Inc()
	ctx := e.evalCtx.NewChild()
	ctx.Variables = map[string]cty.Value{"exporter": exporterObject(r)}
	o, errs := evaluate(e.rules, ctx, nil)
	e.cnt.ruleErrors(r.ExporterAddress.String()+" "+r.ExporterName, errs)
	if len(c.m) >= e.cacheSize {
		clear(c.m)
	}
	c.m[k] = &o
	return &o
}

// Process classifies every flow of b by its exporter, dropping rejected ones.
func (e *Exporter) Process(_ context.Context, b *flow.Batch) error {
	if len(e.rules) == 0 {
		return nil
	}
	c := e.caches.get()
	defer e.caches.put(c)
	var (
		last     exporterKey
		o        *outcome
		rejected int
		n        int
	)
	recs := b.Records
	for i := range recs {
		r := &recs[i]
		k := keyOf(r, e.keyMask)
		if o == nil || k != last {
			o = e.classify(c, k, r)
			last = k
		}
		if o.reject {
			rejected++
			continue
		}
		if o.mask != 0 {
			m := o.mask
			if m&1 != 0 {
				r.ExporterGroup = o.values[0]
			}
			if m&2 != 0 {
				r.ExporterRole = o.values[1]
			}
			if m&4 != 0 {
				r.ExporterSite = o.values[2]
			}
			if m&8 != 0 {
				r.ExporterRegion = o.values[3]
			}
			if m&16 != 0 {
				r.ExporterTenant = o.values[4]
			}
			if m&32 != 0 {
				r.ExporterName = o.values[5]
			}
		}
		if n != i {
			recs[n] = *r
		}
		n++
	}
	if rejected > 0 {
		b.Records = recs[:n]
		e.cnt.rejected.Add(float64(rejected))
	}
	return nil
}
