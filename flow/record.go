// Package flow defines the flow record that every stage of a pipeline reads and
// writes, the pooled batches records travel in, and the column schema that drives
// the JSON, protobuf, ClickHouse and DuckDB encodings.
package flow

import (
	"net/netip"
	"time"
)

// Boundary says whether an interface faces the outside of the network.
type Boundary uint8

// Interface boundaries.
const (
	BoundaryUndefined Boundary = iota
	BoundaryExternal
	BoundaryInternal
)

// String returns "external", "internal" or "".
func (b Boundary) String() string {
	switch b {
	case BoundaryExternal:
		return "external"
	case BoundaryInternal:
		return "internal"
	}
	return ""
}

// ParseBoundary is the inverse of Boundary.String; ok is false for other text.
func ParseBoundary(s string) (Boundary, bool) {
	switch s {
	case "external":
		return BoundaryExternal, true
	case "internal":
		return BoundaryInternal, true
	case "":
		return BoundaryUndefined, true
	}
	return BoundaryUndefined, false
}

// Flow directions, as NetFlow v9 field 61 encodes them.
const (
	DirectionIngress uint8 = 0
	DirectionEgress  uint8 = 1
)

// Record is one flow. It is a flat struct: stages fill and read its fields
// directly, and batches hold records by value so that a batch is one allocation.
//
// Field names are the column names of the schema (see Columns).
type Record struct {
	// Time and sampling.
	TimeReceived  time.Time
	TimeFlowStart time.Time
	TimeFlowEnd   time.Time
	SamplingRate  uint64
	FlowDirection uint8

	// Exporter.
	ExporterAddress netip.Addr
	ExporterName    string
	ExporterGroup   string
	ExporterRole    string
	ExporterSite    string
	ExporterRegion  string
	ExporterTenant  string

	// Addresses.
	SrcAddr    netip.Addr
	DstAddr    netip.Addr
	SrcNetMask uint8
	DstNetMask uint8
	NextHop    netip.Addr
	SrcMAC     uint64 // 48-bit MAC in the low bits
	DstMAC     uint64
	SrcVlan    uint16
	DstVlan    uint16

	// Routing and geography.
	SrcAS        uint32
	DstAS        uint32
	SrcCountry   string // ISO 3166 alpha-2
	DstCountry   string
	SrcNetName   string
	DstNetName   string
	SrcNetRole   string
	DstNetRole   string
	SrcNetSite   string
	DstNetSite   string
	SrcNetRegion string
	DstNetRegion string
	SrcNetTenant string
	DstNetTenant string

	// Interfaces.
	InIfIndex         uint32
	OutIfIndex        uint32
	InIfName          string
	OutIfName         string
	InIfDescription   string
	OutIfDescription  string
	InIfSpeed         uint64 // Mbps
	OutIfSpeed        uint64
	InIfConnectivity  string
	OutIfConnectivity string
	InIfProvider      string
	OutIfProvider     string
	InIfBoundary      Boundary
	OutIfBoundary     Boundary

	// L3/L4.
	EType            uint16
	Proto            uint8
	SrcPort          uint16
	DstPort          uint16
	TCPFlags         uint8
	IPTos            uint8
	IPTTL            uint8
	ICMPType         uint8
	ICMPCode         uint8
	ForwardingStatus uint8

	// Counters, as the exporter reports them (scale by SamplingRate).
	Bytes   uint64
	Packets uint64

	// Routing, from the routers' BGP tables (BMP). Lists are shared between
	// records: see Uint32s.
	DstASPath           Uint32s
	DstCommunities      Uint32s // ASN<<16 | value
	DstLargeCommunities LargeCommunities
}

// Ethernet types used in EType.
const (
	ETypeIPv4 uint16 = 0x0800
	ETypeIPv6 uint16 = 0x86dd
)

// Reset clears r for reuse.
func (r *Record) Reset() { *r = Record{} }
