package clickhouse

import (
	"testing"

	"github.com/flowengine/flowengine/flow"
)

// TestColumnTypes pins the ClickHouse type of every schema column: a change
// here changes what provisioning creates on every server.
func TestColumnTypes(t *testing.T) {
	want := map[string]string{
		"TimeReceived":        "DateTime",
		"TimeFlowStart":       "DateTime",
		"TimeFlowEnd":         "DateTime",
		"SamplingRate":        "UInt64",
		"FlowDirection":       "UInt8",
		"ExporterAddress":     "IPv6",
		"ExporterName":        "LowCardinality(String)",
		"ExporterGroup":       "LowCardinality(String)",
		"ExporterRole":        "LowCardinality(String)",
		"ExporterSite":        "LowCardinality(String)",
		"ExporterRegion":      "LowCardinality(String)",
		"ExporterTenant":      "LowCardinality(String)",
		"SrcAddr":             "IPv6",
		"DstAddr":             "IPv6",
		"SrcNetMask":          "UInt8",
		"DstNetMask":          "UInt8",
		"NextHop":             "IPv6",
		"SrcMAC":              "UInt64",
		"DstMAC":              "UInt64",
		"SrcVlan":             "UInt16",
		"DstVlan":             "UInt16",
		"SrcAS":               "UInt32",
		"DstAS":               "UInt32",
		"SrcCountry":          "FixedString(2)",
		"DstCountry":          "FixedString(2)",
		"SrcNetName":          "LowCardinality(String)",
		"DstNetName":          "LowCardinality(String)",
		"SrcNetRole":          "LowCardinality(String)",
		"DstNetRole":          "LowCardinality(String)",
		"SrcNetSite":          "LowCardinality(String)",
		"DstNetSite":          "LowCardinality(String)",
		"SrcNetRegion":        "LowCardinality(String)",
		"DstNetRegion":        "LowCardinality(String)",
		"SrcNetTenant":        "LowCardinality(String)",
		"DstNetTenant":        "LowCardinality(String)",
		"InIfIndex":           "UInt32",
		"OutIfIndex":          "UInt32",
		"InIfName":            "LowCardinality(String)",
		"OutIfName":           "LowCardinality(String)",
		"InIfDescription":     "LowCardinality(String)",
		"OutIfDescription":    "LowCardinality(String)",
		"InIfSpeed":           "UInt64",
		"OutIfSpeed":          "UInt64",
		"InIfConnectivity":    "LowCardinality(String)",
		"OutIfConnectivity":   "LowCardinality(String)",
		"InIfProvider":        "LowCardinality(String)",
		"OutIfProvider":       "LowCardinality(String)",
		"InIfBoundary":        "Enum8('' = 0, 'external' = 1, 'internal' = 2)",
		"OutIfBoundary":       "Enum8('' = 0, 'external' = 1, 'internal' = 2)",
		"EType":               "UInt16",
		"Proto":               "UInt8",
		"SrcPort":             "UInt16",
		"DstPort":             "UInt16",
		"TCPFlags":            "UInt8",
		"IPTos":               "UInt8",
		"IPTTL":               "UInt8",
		"ICMPType":            "UInt8",
		"ICMPCode":            "UInt8",
		"ForwardingStatus":    "UInt8",
		"Bytes":               "UInt64",
		"Packets":             "UInt64",
		"DstASPath":           "Array(UInt32)",
		"DstCommunities":      "Array(UInt32)",
		"DstLargeCommunities": "Array(UInt128)",
	}
	if len(want) != len(flow.Columns) {
		t.Errorf("%d columns pinned, the schema has %d", len(want), len(flow.Columns))
	}
	for _, c := range flow.Columns {
		if got := clickhouseType(c); got != want[c.Name] {
			t.Errorf("%s: %s, want %s", c.Name, got, want[c.Name])
		}
	}
}

// TestColumnTypesOldServers pins the types that differ on servers without
// IPv6, LowCardinality or UInt128 (Debian's 18.16).
func TestColumnTypesOldServers(t *testing.T) {
	old := featuresOf(version{18, 16, 1})
	for name, want := range map[string]string{
		"SrcAddr":             "FixedString(16)",
		"ExporterName":        "String",
		"SrcCountry":          "FixedString(2)",
		"DstASPath":           "Array(UInt32)",
		"DstCommunities":      "Array(UInt32)",
		"DstLargeCommunities": "Array(FixedString(12))",
	} {
		c, _ := flow.ColumnByName(name)
		if got := old.columnType(c); got != want {
			t.Errorf("%s on 18.16: %s, want %s", name, got, want)
		}
	}
	c, _ := flow.ColumnByName("DstLargeCommunities")
	for v, want := range map[version]string{{21, 5, 0}: "Array(FixedString(12))", {21, 6, 0}: "Array(UInt128)", {26, 7, 0}: "Array(UInt128)"} {
		if got := featuresOf(v).columnType(c); got != want {
			t.Errorf("DstLargeCommunities on %s: %s, want %s", v, got, want)
		}
	}
}
