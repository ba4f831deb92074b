package engine

import (
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/flowengine/flowengine/dsl"
)

// Constructor builds a stage from its decoded configuration. It does no I/O:
// it runs under `flowengine validate` too. Configuration errors are
// diagnostics pointing at cfg.Range(attribute).
type Constructor func(cfg *dsl.Config, env Env) (any, hcl.Diagnostics)

// Registration is one stage type.
type Registration struct {
	Kind Kind
	Type string
	Spec *dsl.Spec
	New  Constructor
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

// Register adds a stage type to the default registry. It panics on a duplicate.
func Register(kind Kind, typ string, spec *dsl.Spec, ctor Constructor) {
	DefaultRegistry.Register(kind, typ, spec, ctor)
}

// Register adds a stage type. It panics on a duplicate: that is a programming error.
func (r *Registry) Register(kind Kind, typ string, spec *dsl.Spec, ctor Constructor) {
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
	r.types[kind][typ] = &Registration{Kind: kind, Type: typ, Spec: spec, New: ctor}
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
