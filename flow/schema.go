package flow

import "fmt"

// Kind is the logical type of a column. Encoders switch on it.
type Kind uint8

// Column kinds.
const (
	KindTime     Kind = iota + 1 // time.Time; JSON RFC 3339 UTC
	KindUint                     // unsigned integer of the Go field's width
	KindString                   // free text
	KindAddr                     // netip.Addr; JSON as text
	KindMAC                      // uint64 holding 48 bits; JSON "aa:bb:cc:dd:ee:ff"
	KindBoundary                 // Boundary; JSON "external", "internal" or ""
	// List kinds: variable-length values shared between records.
	KindASPath           // Uint32s of AS numbers; JSON [64500, 64501]
	KindCommunities      // Uint32s of RFC 1997 communities; JSON ["65000:100"]
	KindLargeCommunities // LargeCommunities (RFC 8092); JSON ["65000:1:2"]
)

// IsList says whether columns of kind k hold lists.
func (k Kind) IsList() bool {
	return k == KindASPath || k == KindCommunities || k == KindLargeCommunities
}

// String returns the kind's name: time, uint, string, address, mac,
// boundary, as-path, communities or large-communities.
func (k Kind) String() string {
	switch k {
	case KindTime:
		return "time"
	case KindUint:
		return "uint"
	case KindString:
		return "string"
	case KindAddr:
		return "address"
	case KindMAC:
		return "mac"
	case KindBoundary:
		return "boundary"
	case KindASPath:
		return "as-path"
	case KindCommunities:
		return "communities"
	case KindLargeCommunities:
		return "large-communities"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Column describes one column of the flow schema: the same name is the Record
// field, the JSON key, the protobuf field and the store column. It holds
// logical types only: each store maps kinds and widths to its own types.
type Column struct {
	Name        string
	Kind        Kind
	Bits        int // width of unsigned columns (KindUint, KindMAC, KindBoundary): 8, 16, 32 or 64; of list elements: 32, or 96 for large communities
	Proto       int // protobuf field number; never reused
	Description string
	// Dimension marks columns the console groups and filters by and the
	// consolidated tables keep.
	Dimension bool
}

// SchemaVersion is the version of the wire schema. A change that is not
// backward compatible on the wire bumps it, and with it the Kafka topic name.
const SchemaVersion = 1

func u(name string, bits, proto int, dim bool, desc string) Column {
	return Column{Name: name, Kind: KindUint, Bits: bits, Proto: proto, Dimension: dim, Description: desc}
}

func s(name string, proto int, desc string) Column {
	return Column{Name: name, Kind: KindString, Proto: proto, Dimension: true, Description: desc}
}

func a(name string, proto int, dim bool, desc string) Column {
	return Column{Name: name, Kind: KindAddr, Proto: proto, Dimension: dim, Description: desc}
}

func t(name string, proto int, desc string) Column {
	return Column{Name: name, Kind: KindTime, Proto: proto, Description: desc}
}

// Columns is the flow schema, in Record field order.
var Columns = []Column{
	t("TimeReceived", 1, "when the collector received the flow"),
	t("TimeFlowStart", 2, "first packet of the flow, as the exporter reports it"),
	t("TimeFlowEnd", 3, "last packet of the flow, as the exporter reports it"),
	u("SamplingRate", 64, 4, false, "1 out of N packets was sampled; scale Bytes and Packets by it"),
	u("FlowDirection", 8, 5, true, "0 ingress, 1 egress"),

	a("ExporterAddress", 6, true, "address the flow packets came from"),
	s("ExporterName", 7, "exporter name (SNMP sysName or metadata)"),
	s("ExporterGroup", 8, "exporter group set by the exporter classifier"),
	s("ExporterRole", 9, "exporter role set by the exporter classifier"),
	s("ExporterSite", 10, "exporter site set by the exporter classifier"),
	s("ExporterRegion", 11, "exporter region set by the exporter classifier"),
	s("ExporterTenant", 12, "exporter tenant set by the exporter classifier"),

	a("SrcAddr", 13, true, "source address"),
	a("DstAddr", 14, true, "destination address"),
	u("SrcNetMask", 8, 15, false, "source prefix length"),
	u("DstNetMask", 8, 16, false, "destination prefix length"),
	a("NextHop", 17, true, "IP next hop"),
	{Name: "SrcMAC", Kind: KindMAC, Bits: 64, Proto: 18, Description: "source MAC address"},
	{Name: "DstMAC", Kind: KindMAC, Bits: 64, Proto: 19, Description: "destination MAC address"},
	u("SrcVlan", 16, 20, true, "source VLAN"),
	u("DstVlan", 16, 21, true, "destination VLAN"),

	u("SrcAS", 32, 22, true, "source AS number"),
	u("DstAS", 32, 23, true, "destination AS number"),
	{Name: "SrcCountry", Kind: KindString, Proto: 24, Dimension: true, Description: "source country (ISO 3166 alpha-2)"},
	{Name: "DstCountry", Kind: KindString, Proto: 25, Dimension: true, Description: "destination country (ISO 3166 alpha-2)"},
	s("SrcNetName", 26, "name of the source network"),
	s("DstNetName", 27, "name of the destination network"),
	s("SrcNetRole", 28, "role of the source network"),
	s("DstNetRole", 29, "role of the destination network"),
	s("SrcNetSite", 30, "site of the source network"),
	s("DstNetSite", 31, "site of the destination network"),
	s("SrcNetRegion", 32, "region of the source network"),
	s("DstNetRegion", 33, "region of the destination network"),
	s("SrcNetTenant", 34, "tenant of the source network"),
	s("DstNetTenant", 35, "tenant of the destination network"),

	u("InIfIndex", 32, 36, true, "input interface SNMP index"),
	u("OutIfIndex", 32, 37, true, "output interface SNMP index"),
	s("InIfName", 38, "input interface name"),
	s("OutIfName", 39, "output interface name"),
	s("InIfDescription", 40, "input interface description"),
	s("OutIfDescription", 41, "output interface description"),
	u("InIfSpeed", 64, 42, true, "input interface speed in Mbps"),
	u("OutIfSpeed", 64, 43, true, "output interface speed in Mbps"),
	s("InIfConnectivity", 44, "input interface connectivity (transit, peering, ...)"),
	s("OutIfConnectivity", 45, "output interface connectivity"),
	s("InIfProvider", 46, "input interface provider"),
	s("OutIfProvider", 47, "output interface provider"),
	{Name: "InIfBoundary", Kind: KindBoundary, Bits: 8, Proto: 48, Dimension: true, Description: "input interface boundary: external or internal"},
	{Name: "OutIfBoundary", Kind: KindBoundary, Bits: 8, Proto: 49, Dimension: true, Description: "output interface boundary: external or internal"},

	u("EType", 16, 50, true, "Ethernet type: 0x800 IPv4, 0x86dd IPv6"),
	u("Proto", 8, 51, true, "IP protocol"),
	u("SrcPort", 16, 52, true, "source port"),
	u("DstPort", 16, 53, true, "destination port"),
	u("TCPFlags", 8, 54, false, "TCP flags seen in the flow, ORed"),
	u("IPTos", 8, 55, false, "IP type of service (DSCP and ECN)"),
	u("IPTTL", 8, 56, false, "IP time to live"),
	u("ICMPType", 8, 57, true, "ICMP type"),
	u("ICMPCode", 8, 58, true, "ICMP code"),
	u("ForwardingStatus", 8, 59, true, "forwarding status (RFC 7270): 64 forwarded, 128 dropped, ..."),

	u("Bytes", 64, 60, false, "layer-3 bytes, as reported (scale by SamplingRate)"),
	u("Packets", 64, 61, false, "packets, as reported (scale by SamplingRate)"),

	{Name: "DstASPath", Kind: KindASPath, Bits: 32, Proto: 62, Dimension: true, Description: "BGP AS path towards the destination, neighbour first, origin last"},
	{Name: "DstCommunities", Kind: KindCommunities, Bits: 32, Proto: 63, Dimension: true, Description: "BGP communities of the route to the destination (ASN:value)"},
	{Name: "DstLargeCommunities", Kind: KindLargeCommunities, Bits: 96, Proto: 64, Dimension: true, Description: "BGP large communities of the route to the destination (ASN:local1:local2)"},
}

// ColumnByName returns the column called name.
func ColumnByName(name string) (Column, bool) {
	for _, c := range Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}
