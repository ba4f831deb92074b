package store

import (
	"time"

	"github.com/flowengine/flowengine/flow"
)

// Dialect renders the parts of a query that differ between stores. The
// builder (this package) assembles them; every value a user typed reaches the
// SQL as a bound parameter ("?"), never as text. Implementations live beside
// their store (stages/duckdb, stages/clickhouse) and know its column types.
//
// What the builder expects of the SQL pieces and of Backend.Query:
//   - Bucket scans into *int64, Dimension into *string, Float into *float64
//     (the driver's Rows.Scan gets exactly these destinations).
//   - Dimension is never NULL ("" for no value) and is valid in SELECT,
//     in WHERE (compared with a string parameter: "<Dimension> = ?"), and
//     works with GROUP BY / ORDER BY on its SELECT alias.
//   - SELECT aliases are Ident("d0"), Ident("k0"), Ident("v"), Ident("t");
//     GROUP BY, ORDER BY use them; HAVING repeats the aggregate expression.
//   - Queries grouping by dimensions group by their Key in a subquery and
//     apply Dimension in the outer query, to the few rows it returns: the
//     subquery's Key columns are renamed to their column's name in between
//     ("SELECT k0 AS SrcAddr, v FROM (SELECT <Key> AS k0, … GROUP BY k0)"),
//     so Dimension reads them as it reads the table's columns.
//   - Plain SQL the builder writes around the pieces: SUM, CASE WHEN … THEN
//     … ELSE … END, + - * / on integer columns, = on integer columns,
//     = != < <= > >= between ListElement and a uint64 parameter,
//     AND/OR/NOT, parentheses, "LIMIT n" with a literal integer.
//   - List columns (KindASPath, KindCommunities, KindLargeCommunities) live
//     in the raw flows table only. Their Key is the list itself (grouped by
//     the store's native list type); their Dimension is its text as the
//     flow package writes it, elements separated by one space: "64500
//     64501" (Uint32s.String), "65000:100 65000:200"
//     (Uint32s.CommunityString), "65000:1:2 65000:1:3"
//     (LargeCommunities.String), "" for an empty list.
type Dialect interface {
	// Name is "duckdb" or "clickhouse".
	Name() string
	// Ident quotes an identifier (a table or column name from the schema).
	Ident(name string) string
	// Bucket yields, as a 64-bit integer, the Unix time in seconds of the
	// start of the step that holds TimeReceived (steps aligned on the epoch).
	Bucket(step time.Duration) (sql string, args []any)
	// TimeRange is the condition start <= TimeReceived < end.
	TimeRange(start, end time.Time) (sql string, args []any)
	// Dimension yields column c as text, as the console shows it: numbers in
	// decimal, boundaries as "external"/"internal"/"", addresses as an
	// address (IPv4 ones may come back IPv4-mapped or in any form
	// netip.ParseAddr reads: the store normalises them), truncated to
	// truncate bits when truncate > 0 (IPv4 addresses count 32 bits).
	// Every column of the schema can be asked (LastFlow reads a whole row
	// this way): MACs in decimal like other numbers; times (KindTime) as
	// Unix seconds in decimal or as text ("2006-01-02 15:04:05[.frac][+00]"
	// or RFC 3339), in UTC; absent addresses as "" or "::".
	Dimension(c flow.Column, truncate int) (sql string, args []any)
	// Key yields column c truncated as Dimension truncates it, in the
	// column's own type (cheaper to compute, hash and compare than text):
	// two rows have the same Key exactly when they have the same
	// Dimension, and Dimension(c, truncate) over a column of Key values
	// named c.Name gives what it gives over the table's column.
	Key(c flow.Column, truncate int) (sql string, args []any)
	// Compare is one filter comparison. v is uint64 (KindUint, KindMAC),
	// string (KindString), netip.Addr or, for op "<<", netip.Prefix
	// (KindAddr), flow.Boundary (KindBoundary) or time.Time (KindTime).
	// op is one of = != < <= > >= LIKE ILIKE UNLIKE IUNLIKE << HAS.
	// List columns take = and != with a whole list (flow.Uint32s for
	// KindASPath and KindCommunities, flow.LargeCommunities), and HAS (the
	// list holds the element v) with uint64 (an AS number, a community as
	// ASN<<16 | value) or flow.LargeCommunity; the builder writes NOT HAS as
	// NOT (… HAS …). Lists and elements reach the SQL as parameters, one
	// per element.
	// LIKE patterns (all four operators) come with % (any text), _ (one
	// character) and backslash escapes only before %, _ or a backslash, and
	// must be read so: as ClickHouse does, and DuckDB with ESCAPE '\'.
	Compare(c flow.Column, op string, v any) (sql string, args []any, err error)
	// Float casts a numeric expression to a 64-bit float.
	Float(expr string) string
	// ListElement yields element i of list column c (KindASPath or
	// KindCommunities; 1 the first, -1 the last) as an unsigned integer, 0
	// when the list is shorter. The derived columns (DstFirstAS, DstLastAS)
	// are computed with it.
	ListElement(c flow.Column, i int) string
	// UintText yields the unsigned integer expression expr as decimal text.
	UintText(expr string) string
	// ListElements, in a SELECT list, yields one row per element of list
	// column c, as text as in Dimension (unnest, arrayJoin): filter
	// completion offers the elements seen.
	ListElements(c flow.Column) string
}
