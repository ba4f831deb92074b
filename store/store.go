// Package store is the query model the console asks of a flow store: a time
// range, a step, a metric, dimensions, a filter and top-N with the rest folded
// into "Other". One SQL builder renders it through a Dialect per store, with
// bound parameters only; the stores (stages/duckdb, stages/clickhouse) run the
// SQL through the small Backend interface and this package shapes the answer,
// so that every store returns the same JSON.
//
// It imports flow only.
package store

import (
	"context"
	"time"
)

// Metric is what a query measures.
type Metric string

// Metrics. Every one is scaled by SamplingRate.
const (
	MetricL3bps Metric = "l3bps"  // bits per second from Bytes
	MetricL2bps Metric = "l2bps"  // plus 18 bytes of Ethernet overhead per packet
	MetricPPS   Metric = "pps"    // packets per second
	MetricFlows Metric = "flows"  // flows per second
	MetricInL2  Metric = "inl2%"  // l2bps as a share of InIfSpeed, in percent
	MetricOutL2 Metric = "outl2%" // l2bps as a share of OutIfSpeed, in percent
)

// Dimension is a column the result is grouped by; address columns may be
// truncated to a prefix length (SrcAddr/24).
type Dimension struct {
	Column   string `json:"column"`
	Truncate int    `json:"truncate,omitempty"` // prefix length for address columns (IPv4 0-32, IPv6 0-128); 0: none
}

// Query is one request of the console.
type Query struct {
	Start          time.Time
	End            time.Time
	Points         int           // number of points wanted (Step is derived)
	Step           time.Duration // or the step itself; 0: from Points
	Dimensions     []Dimension
	Filter         string // filter language text
	Limit          int    // top-N dimension sets; the rest is "Other"
	Metric         Metric
	Bidirectional  bool // the reverse direction as its own series
	PreviousPeriod bool // the same query shifted back by the range's length
}

// Axis tells series apart in a line graph.
type Axis int

// Axes.
const (
	AxisDirect          Axis = 1
	AxisReverse         Axis = 2 // bidirectional: Src/Dst, In/Out swapped
	AxisPrevious        Axis = 3 // previous period, direct
	AxisPreviousReverse Axis = 4 // previous period, reverse
)

// Stats summarises a series. Total is the metric's quantity over the range
// (bits for l3bps/l2bps, packets for pps, flows for flows), scaled by
// SamplingRate; Min, Max, Avg and P95 are over the points' rates.
type Stats struct {
	Total float64 `json:"total"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Avg   float64 `json:"avg"`
	P95   float64 `json:"p95"`
}

// Series is one line of a graph.
type Series struct {
	Dimensions []string  `json:"dimensions"` // "Other" for the folded rest
	Axis       Axis      `json:"axis"`
	Values     []float64 `json:"values"` // one rate per point of Time
	Stats
}

// LineResult answers graph/line.
type LineResult struct {
	Start  time.Time   `json:"start"`
	End    time.Time   `json:"end"`
	Step   int64       `json:"step"` // seconds
	Table  string      `json:"table"`
	Time   []time.Time `json:"time"`
	Series []Series    `json:"series"`
}

// Row is one line of a table.
type Row struct {
	Dimensions []string `json:"dimensions"`
	Axis       Axis     `json:"axis"`
	Stats
}

// TableResult answers table.
type TableResult struct {
	Table string `json:"table"`
	Rows  []Row  `json:"rows"`
}

// SankeyLink is a flow between two nodes of adjacent dimensions.
type SankeyLink struct {
	Source string  `json:"source"`
	Target string  `json:"target"`
	Value  float64 `json:"value"` // average rate over the range
}

// SankeyResult answers graph/sankey. Node names are prefixed by their
// dimension index so equal values in two dimensions stay apart ("0:AS64501").
type SankeyResult struct {
	Table      string       `json:"table"`
	Dimensions []string     `json:"dimensions"`
	Rows       []Row        `json:"rows"`
	Nodes      []string     `json:"nodes"`
	Links      []SankeyLink `json:"links"`
}

// Table is one table a backend holds: flows (Interval 0) or a rollup.
type Table struct {
	Name      string
	Interval  time.Duration // 0 for the raw flows table
	Retention time.Duration // 0: forever
	Columns   []string      // the flow columns it has
	// Scaled tables hold Bytes, Packets and Flows already multiplied by
	// SamplingRate (rollups); the raw table scales at query time.
	Scaled bool
}

// Rows is the cursor of a query; *sql.Rows and clickhouse-go's driver.Rows
// both satisfy it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Backend is what a sink that stores flows gives the query model.
type Backend interface {
	// Dialect renders the model for this store's SQL.
	Dialect() Dialect
	// Tables lists the tables that exist, raw flows first.
	Tables() []Table
	// Query runs one SELECT with bound parameters. Table names in it are
	// unqualified (Table.Name through Dialect.Ident): they must resolve to
	// the backend's tables, e.g. by running in the backend's database.
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	// SavedFilters lists the saved filters, by name.
	SavedFilters(ctx context.Context) ([]SavedFilter, error)
	// SaveFilter adds or replaces the saved filter f.Name.
	SaveFilter(ctx context.Context, f SavedFilter) error
	// DeleteFilter removes a saved filter; removing a missing one is no error.
	DeleteFilter(ctx context.Context, name string) error
}

// SavedFilter is a filter kept by the store under a name.
type SavedFilter struct {
	Name        string    `json:"name"`
	Filter      string    `json:"filter"`
	Description string    `json:"description"`
	Updated     time.Time `json:"updated"`
}
