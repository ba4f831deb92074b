package flowpb

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/flowengine/flowengine/flow"
)

// Version is the wire schema version, flow.SchemaVersion.
const Version = flow.SchemaVersion

// Package is the protobuf package of the flow messages.
const Package = "flowengine.v1"

// DefaultTopicPrefix is the prefix of Kafka topic names: flows-v1, flows-v2, ...
const DefaultTopicPrefix = "flows"

// MessageName returns the name of the flow message of a schema version: FlowV1.
func MessageName(version int) string { return fmt.Sprintf("FlowV%d", version) }

// Topic returns the Kafka topic of the current schema version for prefix
// ("" means DefaultTopicPrefix): "flows-v1".
func Topic(prefix string) string {
	if prefix == "" {
		prefix = DefaultTopicPrefix
	}
	return fmt.Sprintf("%s-v%d", prefix, Version)
}

// protoType returns the proto3 scalar type of a column.
func protoType(c flow.Column) (string, descriptorpb.FieldDescriptorProto_Type) {
	switch c.Kind {
	case flow.KindTime:
		return "fixed64", descriptorpb.FieldDescriptorProto_TYPE_FIXED64
	case flow.KindUint:
		if c.Bits == 64 {
			return "uint64", descriptorpb.FieldDescriptorProto_TYPE_UINT64
		}
		return "uint32", descriptorpb.FieldDescriptorProto_TYPE_UINT32
	case flow.KindMAC:
		return "uint64", descriptorpb.FieldDescriptorProto_TYPE_UINT64
	case flow.KindString:
		return "string", descriptorpb.FieldDescriptorProto_TYPE_STRING
	case flow.KindAddr:
		return "bytes", descriptorpb.FieldDescriptorProto_TYPE_BYTES
	case flow.KindBoundary:
		return "Boundary", descriptorpb.FieldDescriptorProto_TYPE_ENUM
	case flow.KindASPath, flow.KindCommunities, flow.KindLargeCommunities:
		return "uint32", descriptorpb.FieldDescriptorProto_TYPE_UINT32
	}
	panic(fmt.Sprintf("flowpb: column %s has unknown kind %d", c.Name, c.Kind))
}

// boundaryValues are the values of the Boundary enum, in number order.
var boundaryValues = []string{"BOUNDARY_UNDEFINED", "BOUNDARY_EXTERNAL", "BOUNDARY_INTERNAL"}

func comment(c flow.Column) string {
	s := c.Description
	switch c.Kind {
	case flow.KindTime:
		s += " (nanoseconds since the Unix epoch)"
	case flow.KindAddr:
		s += " (4 bytes IPv4, 16 bytes IPv6)"
	case flow.KindMAC:
		s += " (48 bits in the low bits)"
	case flow.KindCommunities:
		s += " (ASN<<16 | value each)"
	case flow.KindLargeCommunities:
		s += " (three values per community: ASN, local1, local2)"
	}
	return s
}

// Proto returns the .proto file of the current schema version, generated from
// flow.Columns.
func Proto() string {
	var b strings.Builder
	fmt.Fprintf(&b, "// Flow schema version %d of flowengine, generated from its column schema.\n", Version)
	fmt.Fprintf(&b, "// Kafka topic: %s (one message per flow, no framing).\n", Topic(""))
	b.WriteString("// Fields are never renumbered; adding a field keeps the version, any other\n")
	b.WriteString("// change is a new version and a new topic.\n")
	b.WriteString("syntax = \"proto3\";\n\n")
	fmt.Fprintf(&b, "package %s;\n\n", Package)
	fmt.Fprintf(&b, "message %s {\n", MessageName(Version))
	b.WriteString("  enum Boundary {\n")
	for i, v := range boundaryValues {
		fmt.Fprintf(&b, "    %s = %d;\n", v, i)
	}
	b.WriteString("  }\n\n")
	for _, c := range flow.Columns {
		typ, _ := protoType(c)
		fmt.Fprintf(&b, "  // %s\n", comment(c))
		repeated := ""
		if c.Kind.IsList() {
			repeated = "repeated "
		}
		fmt.Fprintf(&b, "  %s%s %s = %d;\n", repeated, typ, c.Name, c.Proto)
	}
	b.WriteString("}\n")
	return b.String()
}

// FileDescriptorProto returns the descriptor of the .proto file Proto renders,
// built from the same column mapping (for dynamic decoders and tests).
func FileDescriptorProto() *descriptorpb.FileDescriptorProto {
	str := func(s string) *string { return &s }
	msg := &descriptorpb.DescriptorProto{Name: str(MessageName(Version))}
	enum := &descriptorpb.EnumDescriptorProto{Name: str("Boundary")}
	for i, v := range boundaryValues {
		n := int32(i)
		enum.Value = append(enum.Value, &descriptorpb.EnumValueDescriptorProto{Name: str(v), Number: &n})
	}
	msg.EnumType = []*descriptorpb.EnumDescriptorProto{enum}
	label := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	for _, c := range flow.Columns {
		_, typ := protoType(c)
		num := int32(c.Proto)
		f := &descriptorpb.FieldDescriptorProto{Name: str(c.Name), JsonName: str(c.Name), Number: &num, Label: &label, Type: &typ}
		if c.Kind.IsList() {
			repeated := descriptorpb.FieldDescriptorProto_LABEL_REPEATED
			f.Label = &repeated
		}
		if c.Kind == flow.KindBoundary {
			f.TypeName = str("." + Package + "." + MessageName(Version) + ".Boundary")
		}
		msg.Field = append(msg.Field, f)
	}
	return &descriptorpb.FileDescriptorProto{
		Name:        str(fmt.Sprintf("flowengine/v%d/flow.proto", Version)),
		Package:     str(Package),
		Syntax:      str("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{msg},
	}
}

// Descriptor returns the message descriptor of the current flow message.
func Descriptor() (protoreflect.MessageDescriptor, error) {
	fd, err := protodesc.NewFile(FileDescriptorProto(), nil)
	if err != nil {
		return nil, fmt.Errorf("build flow descriptor: %w", err)
	}
	return fd.Messages().Get(0), nil
}

// Schema is one version of the wire schema.
type Schema struct {
	Version int    `json:"version"`
	Topic   string `json:"topic"`   // with the default prefix
	Message string `json:"message"` // fully qualified message name
	Proto   string `json:"proto"`   // the .proto text
}

// SchemaList is what GET /api/v0/schemas.json serves.
type SchemaList struct {
	Current  int      `json:"current"`
	Versions []Schema `json:"versions"`
}

// Schemas lists the wire schema versions this build knows, oldest first, and
// the current one. Only the current version is generated; a future bump keeps
// the older texts here, frozen.
func Schemas() SchemaList {
	return SchemaList{
		Current: Version,
		Versions: []Schema{{
			Version: Version,
			Topic:   Topic(""),
			Message: Package + "." + MessageName(Version),
			Proto:   Proto(),
		}},
	}
}
