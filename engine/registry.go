package engine

import (
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
)

// Constructors build a stage from its decoded configuration. They do no I/O:
// they run under `flowengine validate` too. Configuration errors are
// diagnostics pointing at cfg.Range(attribute). Registration is typed per
// kind, so a constructor building the wrong thing fails to compile.
type (
	SourceConstructor    func(cfg *dsl.Config, env Env) (Source, hcl.Diagnostics)
	ProcessorConstructor func(cfg *dsl.Config, env Env) (Processor, hcl.Diagnostics)
	SinkConstructor      func(cfg *dsl.Config, env Env) (Sink, hcl.Diagnostics)
)

// AsSource adapts a constructor returning a concrete source type.
func AsSource[T Source](ctor func(*dsl.Config, Env) (T, hcl.Diagnostics)) SourceConstructor {
	return func(cfg *dsl.Config, env Env) (Source, hcl.Diagnostics) { return ctor(cfg, env) }
}

// AsProcessor adapts a constructor returning a concrete enricher or classifier type.
func AsProcessor[T Processor](ctor func(*dsl.Config, Env) (T, hcl.Diagnostics)) ProcessorConstructor {
	return func(cfg *dsl.Config, env Env) (Processor, hcl.Diagnostics) { return ctor(cfg, env) }
}

// AsSink adapts a constructor returning a concrete sink type.
func AsSink[T Sink](ctor func(*dsl.Config, Env) (T, hcl.Diagnostics)) SinkConstructor {
	return func(cfg *dsl.Config, env Env) (Sink, hcl.Diagnostics) { return ctor(cfg, env) }
}

// Registration is one stage type.
type Registration struct {
	Kind  Kind
	Type  string
	Spec  *dsl.Spec
	build func(cfg *dsl.Config, env Env) (any, hcl.Diagnostics)
}

// New builds a stage of this type. The result implements the interface of
// the registration's kind (Source, Processor or Sink) unless diagnostics
// have errors.
func (r *Registration) New(cfg *dsl.Config, env Env) (any, hcl.Diagnostics) {
	return r.build(cfg, env)
}

// Registry holds the stage types a pipeline may use.
type Registry struct {
	mu    sync.RWMutex
	types map[Kind]map[string]*Registration
}

// NewRegistry returns an empty registry (tests build their own).
func NewRegistry() *Registry {
	return &Registry{types: map[Kind]map[string]*Registration{}}
}

// DefaultRegistry is filled by the init functions of the stage packages;
// import stages/all to get every one.
var DefaultRegistry = NewRegistry()

// RegisterSource adds a source type to the default registry. It panics on a duplicate.
func RegisterSource[T Source](typ string, spec *dsl.Spec, ctor func(*dsl.Config, Env) (T, hcl.Diagnostics)) {
	DefaultRegistry.RegisterSource(typ, spec, AsSource(ctor))
}

// RegisterEnricher adds an enricher type to the default registry. It panics on a duplicate.
func RegisterEnricher[T Processor](typ string, spec *dsl.Spec, ctor func(*dsl.Config, Env) (T, hcl.Diagnostics)) {
	DefaultRegistry.RegisterEnricher(typ, spec, AsProcessor(ctor))
}

// RegisterClassifier adds a classifier type to the default registry. It panics on a duplicate.
func RegisterClassifier[T Processor](typ string, spec *dsl.Spec, ctor func(*dsl.Config, Env) (T, hcl.Diagnostics)) {
	DefaultRegistry.RegisterClassifier(typ, spec, AsProcessor(ctor))
}

// RegisterSink adds a sink type to the default registry. It panics on a duplicate.
func RegisterSink[T Sink](typ string, spec *dsl.Spec, ctor func(*dsl.Config, Env) (T, hcl.Diagnostics)) {
	DefaultRegistry.RegisterSink(typ, spec, AsSink(ctor))
}

// RegisterSource adds a source type. It panics on a duplicate: that is a
// programming error.
func (r *Registry) RegisterSource(typ string, spec *dsl.Spec, ctor SourceConstructor) {
	r.add(KindSource, typ, spec, func(cfg *dsl.Config, env Env) (any, hcl.Diagnostics) {
		s, d := ctor(cfg, env)
		return s, d
	})
}

// RegisterEnricher adds an enricher type. It panics on a duplicate.
func (r *Registry) RegisterEnricher(typ string, spec *dsl.Spec, ctor ProcessorConstructor) {
	r.add(KindEnricher, typ, spec, processorBuild(ctor))
}

// RegisterClassifier adds a classifier type. It panics on a duplicate.
func (r *Registry) RegisterClassifier(typ string, spec *dsl.Spec, ctor ProcessorConstructor) {
	r.add(KindClassifier, typ, spec, processorBuild(ctor))
}

// RegisterSink adds a sink type. It panics on a duplicate.
func (r *Registry) RegisterSink(typ string, spec *dsl.Spec, ctor SinkConstructor) {
	r.add(KindSink, typ, spec, func(cfg *dsl.Config, env Env) (any, hcl.Diagnostics) {
		s, d := ctor(cfg, env)
		return s, d
	})
}

func processorBuild(ctor ProcessorConstructor) func(*dsl.Config, Env) (any, hcl.Diagnostics) {
	return func(cfg *dsl.Config, env Env) (any, hcl.Diagnostics) {
		p, d := ctor(cfg, env)
		return p, d
	}
}

func (r *Registry) add(kind Kind, typ string, spec *dsl.Spec, build func(*dsl.Config, Env) (any, hcl.Diagnostics)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.types[kind] == nil {
		r.types[kind] = map[string]*Registration{}
	}
	if _, dup := r.types[kind][typ]; dup {
		panic(fmt.Sprintf("engine: stage %s %q registered twice", kind, typ))
	}
	if spec == nil {
		spec = &dsl.Spec{}
	}
	r.types[kind][typ] = &Registration{Kind: kind, Type: typ, Spec: spec, build: build}
}

// Lookup returns the registration of a stage type.
func (r *Registry) Lookup(kind Kind, typ string) (*Registration, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, ok := r.types[kind][typ]
	return reg, ok
}

// Types returns the type names registered for kind, sorted.
func (r *Registry) Types(kind Kind) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.types[kind]))
	for t := range r.types[kind] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// All returns every registration, by kind then type.
func (r *Registry) All() []*Registration {
	var out []*Registration
	for _, k := range Kinds {
		for _, t := range r.Types(k) {
			reg, _ := r.Lookup(k, t)
			out = append(out, reg)
		}
	}
	return out
}
