package clickhouse

import (
	"fmt"

	"github.com/flowengine/flowengine/flow"
)

// boundaryType is the Enum8 of flow.Boundary values.
const boundaryType = "Enum8('' = 0, 'external' = 1, 'internal' = 2)"

// countryColumns hold ISO 3166 alpha-2 codes: two bytes, always.
var countryColumns = map[string]bool{"SrcCountry": true, "DstCountry": true}

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
	case flow.KindUint, flow.KindMAC:
		switch c.Bits {
		case 8, 16, 32, 64:
			return fmt.Sprintf("UInt%d", c.Bits)
		}
	}
	panic(fmt.Sprintf("clickhouse: column %s has kind %s and %d bits: no ClickHouse type", c.Name, c.Kind, c.Bits))
}
