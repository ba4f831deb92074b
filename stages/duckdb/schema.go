package duckdb

import (
	"fmt"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// Physical types, by logical kind. Times are TIMESTAMP (microseconds, UTC);
// unsigned integers take the narrowest unsigned type of their width;
// addresses are UHUGEINT holding the 16 bytes of the IPv6 (or IPv4-mapped)
// address, so that a prefix is a range and truncation a pair of shifts;
// boundaries are UTINYINT (0, 1 external, 2 internal); MACs UBIGINT. AS
// paths and communities are lists of UINTEGER; large communities lists of
// UHUGEINT holding their 96 bits, ASN<<64 | Local1<<32 | Local2, so that
// they sort by ASN, then Local1, then Local2.

// colType is the DuckDB type of a column.
type colType struct {
	sql  string       // as DuckDB spells it in information_schema
	id   mapping.Type // the vector type the appender writes
	elem mapping.Type // of a list's elements
	size int          // bytes per value in a vector (of a list: per element)
}

var (
	tTimestamp = colType{"TIMESTAMP", mapping.TypeTimestamp, mapping.TypeInvalid, 8}
	tU8        = colType{"UTINYINT", mapping.TypeUTinyInt, mapping.TypeInvalid, 1}
	tU16       = colType{"USMALLINT", mapping.TypeUSmallInt, mapping.TypeInvalid, 2}
	tU32       = colType{"UINTEGER", mapping.TypeUInteger, mapping.TypeInvalid, 4}
	tU64       = colType{"UBIGINT", mapping.TypeUBigInt, mapping.TypeInvalid, 8}
	tU128      = colType{"UHUGEINT", mapping.TypeUHugeInt, mapping.TypeInvalid, 16}
	tVarchar   = colType{"VARCHAR", mapping.TypeVarchar, mapping.TypeInvalid, 16}
	tU32List   = colType{"UINTEGER[]", mapping.TypeList, mapping.TypeUInteger, 4}
	tU128List  = colType{"UHUGEINT[]", mapping.TypeList, mapping.TypeUHugeInt, 16}
)

// typeOf maps a flow column to its DuckDB type.
func typeOf(c flow.Column) colType {
	switch c.Kind {
	case flow.KindTime:
		return tTimestamp
	case flow.KindString:
		return tVarchar
	case flow.KindAddr:
		return tU128
	case flow.KindMAC:
		return tU64
	case flow.KindBoundary:
		return tU8
	case flow.KindASPath, flow.KindCommunities:
		return tU32List
	case flow.KindLargeCommunities:
		return tU128List
	}
	switch c.Bits {
	case 8:
		return tU8
	case 16:
		return tU16
	case 32:
		return tU32
	}
	return tU64
}

// column is a column of a table the sink writes.
type column struct {
	Name string
	Type colType
	flow flow.Column // zero for Flows and the saved filters' columns
}

// tableSpec is a table the sink wants.
type tableSpec struct {
	Name      string
	Interval  time.Duration // 0: raw flows or not a flow table
	Retention time.Duration // 0: forever
	Columns   []column
	Flows     bool // a flow table (raw or rollup), as opposed to saved_filters
	Key       string
}

// Table names.
const (
	flowsTable   = "flows"
	filtersTable = "saved_filters"
)

// Intervals of the rollup tables, finest first.
var rollupIntervals = []time.Duration{time.Minute, 5 * time.Minute, time.Hour}

// DefaultRetention is the retention of each table when the pipeline does not set it.
var DefaultRetention = map[string]time.Duration{
	flowsTable:                        15 * 24 * time.Hour,
	store.RollupName(time.Minute):     7 * 24 * time.Hour,
	store.RollupName(5 * time.Minute): 90 * 24 * time.Hour,
	store.RollupName(time.Hour):       2 * 365 * 24 * time.Hour,
}

// wantTables is the schema: flows, the rollups and saved_filters.
func wantTables(cols []flow.Column, retention map[string]time.Duration) []tableSpec {
	raw := tableSpec{Name: flowsTable, Retention: retention[flowsTable], Flows: true}
	for _, c := range cols {
		raw.Columns = append(raw.Columns, column{Name: c.Name, Type: typeOf(c), flow: c})
	}
	out := []tableSpec{raw}
	for _, iv := range rollupIntervals {
		name := store.RollupName(iv)
		t := tableSpec{Name: name, Interval: iv, Retention: retention[name], Flows: true}
		for _, c := range store.RollupColumns() {
			if c.Kind.IsList() {
				continue // lists stay in the raw table
			}
			t.Columns = append(t.Columns, column{Name: c.Name, Type: typeOf(c), flow: c})
		}
		t.Columns = append(t.Columns, column{Name: "Flows", Type: tU64})
		out = append(out, t)
	}
	out = append(out, tableSpec{Name: filtersTable, Key: "Name", Columns: []column{
		{Name: "Name", Type: tVarchar},
		{Name: "Filter", Type: tVarchar},
		{Name: "Description", Type: tVarchar},
		{Name: "Updated", Type: tTimestamp},
	}})
	return out
}

// quote quotes an identifier.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// columnDef is a column's definition in CREATE TABLE and ADD COLUMN: every
// flow column has a default, so that a column added later reads as zero in
// older rows (an empty list for lists). DuckDB adds columns without constraints only.
func columnDef(c column, notNull bool) string {
	def := "0"
	switch c.Type {
	case tVarchar:
		def = "''"
	case tTimestamp:
		def = "'epoch'::TIMESTAMP"
	case tU32List, tU128List:
		def = "[]::" + c.Type.sql
	}
	nn := ""
	if notNull {
		nn = " NOT NULL"
	}
	return fmt.Sprintf("%s %s%s DEFAULT %s", quote(c.Name), c.Type.sql, nn, def)
}

// nullable says whether column c of table t holds NULLs: the text columns
// of the flows table with emptyAsNull.
func nullable(t tableSpec, c column) bool {
	return emptyAsNull && t.Name == flowsTable && c.Type == tVarchar
}

func createTable(t tableSpec) string {
	defs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		defs[i] = columnDef(c, !nullable(t, c))
	}
	if t.Key != "" {
		defs = append(defs, fmt.Sprintf("PRIMARY KEY (%s)", quote(t.Key)))
	}
	return fmt.Sprintf("CREATE TABLE %s (\n  %s\n)", quote(t.Name), strings.Join(defs, ",\n  "))
}
