package exporter

import "github.com/flowengine/flowengine/internal/synth"

// The traffic model is internal/synth, shared with source "generate"; these
// names keep the exporter's API.
type (
	// Flow is one synthetic flow (synth.Flow).
	Flow = synth.Flow
	// Generator produces synthetic flows (synth.Generator).
	Generator = synth.Generator
	// GeneratorOptions configures a Generator (synth.GeneratorOptions).
	GeneratorOptions = synth.GeneratorOptions
	// Interface is an interface of a synthetic exporter (synth.Interface).
	Interface = synth.Interface
	// Route is a route of a synthetic exporter's BGP table, as its BMP
	// speaker announces it (synth.Route).
	Route = synth.Route
)

// LocalAS is the AS number of the synthetic network.
const LocalAS = synth.LocalAS

// NewGenerator returns a generator; the same options give the same flows.
func NewGenerator(opts GeneratorOptions) *Generator { return synth.NewGenerator(opts) }

// Interfaces returns the n interfaces every synthetic exporter has.
func Interfaces(n int) []Interface { return synth.Interfaces(n) }
