package dsl

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Type is the type of a stage attribute.
type Type int

// Attribute types.
const (
	TypeString     Type = iota + 1
	TypeInt             // whole number
	TypeFloat           // any number
	TypeBool            //
	TypeDuration        // "10s", "5m", "7d"
	TypeSize            // bytes: 1048576, "64MiB", "1GB"
	TypeStringList      // ["a", "b"]
	TypeStringMap       // { a = "b" }
	TypeAny             // any value, interpreted by the stage
	TypeExpr            // an expression kept unevaluated (rules over flow fields)
	TypeRef             // a reference to a stage: sink.duckdb.local
)

func (t Type) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeInt:
		return "number"
	case TypeFloat:
		return "number"
	case TypeBool:
		return "bool"
	case TypeDuration:
		return "duration"
	case TypeSize:
		return "size"
	case TypeStringList:
		return "list(string)"
	case TypeStringMap:
		return "map(string)"
	case TypeAny:
		return "any"
	case TypeExpr:
		return "expression"
	case TypeRef:
		return "reference"
	}
	return "?"
}

// Attr describes one attribute of a stage block.
type Attr struct {
	Name        string
	Type        Type
	Required    bool
	Default     any      // a Go value of the attribute's type: string, int64, float64, bool, time.Duration, []string, map[string]string
	OneOf       []string // allowed values of a string attribute
	Description string
	// Listen is "udp" or "tcp" for a string attribute holding an address
	// the stage binds: the compiler reports two stages on one port from the
	// configuration, whether or not the stages could be built.
	Listen string
}

// BlockSpec describes a nested block (a classifier's rule, say).
type BlockSpec struct {
	Type        string
	Labels      []string // label names, if the block takes labels
	Description string
	Attrs       []Attr
	Blocks      []BlockSpec
	Min, Max    int // number of blocks allowed; Max 0 means no limit
}

// Spec describes the body of one stage type: it drives decoding, defaults,
// validation and the reference that `flowengine stages` prints.
type Spec struct {
	Description string
	Attrs       []Attr
	Blocks      []BlockSpec
}

// Doc renders the spec as indented text for `flowengine stages`.
func (s *Spec) Doc(indent string) string {
	var b strings.Builder
	if s.Description != "" {
		fmt.Fprintf(&b, "%s%s\n", indent, s.Description)
	}
	writeAttrs(&b, indent, s.Attrs)
	writeBlocks(&b, indent, s.Blocks)
	return b.String()
}

func writeAttrs(b *strings.Builder, indent string, attrs []Attr) {
	for _, a := range attrs {
		req := "optional"
		if a.Required {
			req = "required"
		}
		def := ""
		if a.Default != nil {
			def = fmt.Sprintf(", default %s", formatDefault(a))
		}
		one := ""
		if len(a.OneOf) > 0 {
			one = fmt.Sprintf(", one of %q", a.OneOf)
		}
		fmt.Fprintf(b, "%s  %-24s %s, %s%s%s\n", indent, a.Name, a.Type, req, def, one)
		if a.Description != "" {
			fmt.Fprintf(b, "%s  %-24s %s\n", indent, "", a.Description)
		}
	}
}

func writeBlocks(b *strings.Builder, indent string, blocks []BlockSpec) {
	for _, bs := range blocks {
		labels := ""
		for _, l := range bs.Labels {
			labels += fmt.Sprintf(" %q", l)
		}
		fmt.Fprintf(b, "%s  %s%s { ... }   block", indent, bs.Type, labels)
		if bs.Description != "" {
			fmt.Fprintf(b, ": %s", bs.Description)
		}
		b.WriteString("\n")
		writeAttrs(b, indent+"    ", bs.Attrs)
		writeBlocks(b, indent+"    ", bs.Blocks)
	}
}

func formatDefault(a Attr) string {
	if n, ok := a.Default.(int64); ok && a.Type == TypeSize {
		return fmt.Sprintf("%q", FormatSize(n))
	}
	switch v := a.Default.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case time.Duration:
		return fmt.Sprintf("%q", v.String())
	case map[string]string:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%q = %q", k, v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(a.Default)
}

// FormatSize writes a byte count the way ParseSize reads it: "8MiB", "1500".
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.suffix)
		}
	}
	return fmt.Sprint(n)
}

func schemaOf(attrs []Attr, blocks []BlockSpec) *hcl.BodySchema {
	sch := &hcl.BodySchema{}
	for _, a := range attrs {
		sch.Attributes = append(sch.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	for _, b := range blocks {
		sch.Blocks = append(sch.Blocks, hcl.BlockHeaderSchema{Type: b.Type, LabelNames: b.Labels})
	}
	return sch
}
