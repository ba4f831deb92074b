package clickhouse

import (
	"fmt"

	"github.com/flowengine/flowengine/flow"
)

// boundaryType is the Enum8 of flow.Boundary values.
const boundaryType = "Enum8('' = 0, 'external' = 1, 'internal' = 2)"

// countryColumns hold ISO 3166 alpha-2 codes: two bytes, always.
var countryColumns = map[string]bool{"SrcCountry": true, "DstCountry": true}

// The BGP list columns, on every server from Debian's 18.16 on:
//
//   - DstASPath (KindASPath): Array(UInt32), the AS numbers in path order,
//     neighbour first, origin last; [] when unknown.
//   - DstCommunities (KindCommunities): Array(UInt32), each standard
//     community as ASN<<16 | value, in the order the route carries them.
//   - DstLargeCommunities (KindLargeCommunities), on servers with UInt128
//     (21.6 on, features.UInt128): Array(UInt128), each community as
//     ASN<<64 | Local1<<32 | Local2 (flow.LargeCommunity.Uint128), so
//     65000:1:2 is toUInt128(65000) * 18446744073709551616 + 4294967298.
//   - DstLargeCommunities on older servers (18.16 has no UInt128):
//     Array(FixedString(12)), each community as its three numbers ASN,
//     Local1, Local2, four big-endian bytes each, so 65000:1:2 is
//     unhex('0000FDE8' || '00000001' || '00000002'); ordering the bytes
//     orders the communities as numbers. As text:
//     reinterpretAsUInt32(reverse(substring(x, 1, 4))) reads the ASN, at 5
//     Local1 and at 9 Local2.
//
// The lists live in the raw flows table only: rollup tables do not keep them.

// largeCommunitiesFallback is the type of DstLargeCommunities on servers
// without UInt128.
const largeCommunitiesFallback = "Array(FixedString(12))"

// clickhouseType is the ClickHouse type of a schema column on current
// servers (features.columnType adapts it to older ones).
func clickhouseType(c flow.Column) string {
	switch c.Kind {
	case flow.KindTime:
		return "DateTime"
	case flow.KindAddr:
		return "IPv6"
	case flow.KindBoundary:
		return boundaryType
	case flow.KindString:
		if countryColumns[c.Name] {
			return "FixedString(2)"
		}
		return "LowCardinality(String)"
	case flow.KindASPath, flow.KindCommunities:
		return "Array(UInt32)"
	case flow.KindLargeCommunities:
		return "Array(UInt128)"
	case flow.KindUint, flow.KindMAC:
		switch c.Bits {
		case 8, 16, 32, 64:
			return fmt.Sprintf("UInt%d", c.Bits)
		}
	}
	panic(fmt.Sprintf("clickhouse: column %s has kind %s and %d bits: no ClickHouse type", c.Name, c.Kind, c.Bits))
}
