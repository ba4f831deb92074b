package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flowengine/flowengine/flow"
	"github.com/flowengine/flowengine/store"
)

// version is a ClickHouse server version, as `SELECT version()` prints it.
type version struct{ Major, Minor, Patch int }

func parseVersion(s string) (version, error) {
	parts := strings.SplitN(strings.TrimSpace(s), ".", 4)
	if len(parts) < 2 {
		return version{}, fmt.Errorf("unexpected server version %q", s)
	}
	var v version
	var err error
	if v.Major, err = strconv.Atoi(parts[0]); err != nil {
		return version{}, fmt.Errorf("unexpected server version %q", s)
	}
	if v.Minor, err = strconv.Atoi(parts[1]); err != nil {
		return version{}, fmt.Errorf("unexpected server version %q", s)
	}
	if len(parts) > 2 {
		v.Patch, _ = strconv.Atoi(parts[2])
	}
	return v, nil
}

func (v version) atLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// features are the DDL features a server supports, from its version. The
// thresholds come from the ClickHouse changelog:
//   - 19.1.6: per-column compression codecs;
//   - 19.3.3: IPv4/IPv6 types, toStartOfInterval, LowCardinality production
//     ready (before it needs allow_experimental_low_cardinality_type);
//   - 19.6: TTL expressions for tables and columns;
//   - 20.6: ILIKE;
//   - 21.6: UInt128 without experimental settings (big integers made
//     production ready, ClickHouse#23631);
//   - 22.2: insert_deduplication_token (with the table setting
//     non_replicated_deduplication_window, from 20.10).
type features struct {
	Version          version
	IPv6             bool
	LowCardinality   bool
	StartOfInterval  bool
	Codecs           bool
	TTL              bool
	ILike            bool
	DedupToken       bool
	UInt128          bool
	MaterializedView bool // always true; kept for symmetry in the plan output
}

func featuresOf(v version) features {
	return features{
		Version:          v,
		Codecs:           v.atLeast(19, 1),
		IPv6:             v.atLeast(19, 3),
		LowCardinality:   v.atLeast(19, 3),
		StartOfInterval:  v.atLeast(19, 3),
		TTL:              v.atLeast(19, 6),
		ILike:            v.atLeast(20, 6),
		DedupToken:       v.atLeast(22, 2),
		UInt128:          v.atLeast(21, 6),
		MaterializedView: true,
	}
}

// columnType maps a schema column to the type this server supports.
func (f features) columnType(c flow.Column) string {
	t := clickhouseType(c)
	if c.Kind == flow.KindAddr && !f.IPv6 {
		return "FixedString(16)"
	}
	if c.Kind == flow.KindLargeCommunities && !f.UInt128 {
		return largeCommunitiesFallback
	}
	if !f.LowCardinality && strings.HasPrefix(t, "LowCardinality(") {
		return strings.TrimSuffix(strings.TrimPrefix(t, "LowCardinality("), ")")
	}
	return t
}

// codec returns the column codec clause, or "".
func (f features) codec(c flow.Column) string {
	if !f.Codecs {
		return ""
	}
	if c.Kind == flow.KindTime {
		return "CODEC(Delta, LZ4)"
	}
	return ""
}

// roundTime returns the expression rounding TimeReceived down to interval.
func (f features) roundTime(col string, interval time.Duration) string {
	switch {
	case f.StartOfInterval && interval%time.Second == 0:
		return fmt.Sprintf("toStartOfInterval(%s, INTERVAL %d SECOND)", col, interval/time.Second)
	case interval == time.Minute:
		return fmt.Sprintf("toStartOfMinute(%s)", col)
	case interval == 5*time.Minute:
		return fmt.Sprintf("toStartOfFiveMinute(%s)", col)
	case interval == 15*time.Minute:
		return fmt.Sprintf("toStartOfFifteenMinutes(%s)", col)
	case interval == time.Hour:
		return fmt.Sprintf("toStartOfHour(%s)", col)
	case interval == 24*time.Hour:
		return fmt.Sprintf("toDateTime(toDate(%s))", col)
	}
	n := int64(interval / time.Second)
	return fmt.Sprintf("toDateTime(intDiv(toUInt32(%s), %d) * %d)", col, n, n)
}

// partitioning says how a table is cut into partitions, so that retention
// can drop whole partitions on servers without TTL.
type partitioning int

const (
	partitionHour partitioning = iota
	partitionDay
	partitionMonth
)

// partitioningFor picks partitions small enough for retention to be precise
// and large enough to stay few (ClickHouse wants at most a few hundred).
func partitioningFor(retention time.Duration) partitioning {
	switch {
	case retention > 0 && retention <= 2*24*time.Hour:
		return partitionHour
	case retention > 0 && retention <= 180*24*time.Hour:
		return partitionDay
	}
	return partitionMonth
}

func (p partitioning) expr(col string) string {
	switch p {
	case partitionHour:
		return fmt.Sprintf("intDiv(toUInt32(%s), 3600)", col)
	case partitionDay:
		return fmt.Sprintf("toYYYYMMDD(%s)", col)
	}
	return fmt.Sprintf("toYYYYMM(%s)", col)
}

// end returns the time at which every row of partition id is older than,
// parsing the partition id ClickHouse shows in system.parts.
func (p partitioning) end(id string) (time.Time, bool) {
	id = strings.Trim(id, "'")
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	switch p {
	case partitionHour:
		return time.Unix((n+1)*3600, 0).UTC(), true
	case partitionDay:
		t, err := time.ParseInLocation("20060102", id, time.UTC)
		return t.AddDate(0, 0, 1), err == nil
	}
	t, err := time.ParseInLocation("200601", id, time.UTC)
	return t.AddDate(0, 1, 0), err == nil
}

// tableSpec is a table the pipeline wants.
type tableSpec struct {
	Name        string
	Engine      string // engine name as system.tables shows it
	EngineArgs  string // "((Bytes, Packets))" or ""
	Columns     []colSpec
	OrderBy     []string
	Partition   partitioning
	PartitionBy string
	Retention   time.Duration // 0: keep forever
	TTLColumn   string
	// DedupWindow, when Dedup: the table's non_replicated_deduplication_window
	// (0: the server's default, no deduplication).
	Dedup       bool
	DedupWindow int
	// Fill fills a lookup table when it is created.
	Fill func(ctx context.Context, conn driver.Conn) error
}

type colSpec struct {
	Name  string
	Type  string
	Codec string
}

// viewSpec is a materialized view feeding a consolidated table.
type viewSpec struct {
	Name    string
	To      string
	From    string
	Columns []colSpec // what the SELECT yields, to compare with the live view
	Select  string
}

// consolidation is one consolidated table: flows summed over an interval.
type consolidation struct {
	Interval  time.Duration
	Retention time.Duration
}

func consolidatedName(interval time.Duration) string { return "flows_" + interval.String() }

// schema is every object the sink provisions.
type schema struct {
	Database string
	Features features
	Tables   []tableSpec
	Views    []viewSpec
}

// Where rollups are computed: by the sink, which inserts pre-aggregated rows
// (the default), or by materialized views on the server.
const (
	consolidateInEngine = "engine"
	consolidateInServer = "server"
)

// wantSchema computes the objects the pipeline wants on a server with f.
// With consolidation in the engine, the rollup tables get no views: the
// sink inserts their rows itself.
func wantSchema(db string, f features, cols []flow.Column, retention time.Duration, cons []consolidation, consolidateIn string) schema {
	sc := schema{Database: db, Features: f}
	flows := tableSpec{
		Name: "flows", Engine: "MergeTree", Retention: retention, TTLColumn: "TimeReceived",
		Partition: partitioningFor(retention),
		OrderBy:   []string{"TimeReceived"},
	}
	for _, key := range []string{"ExporterAddress", "InIfName", "OutIfName"} {
		if hasColumn(cols, key) {
			flows.OrderBy = append(flows.OrderBy, key)
		}
	}
	flows.PartitionBy = flows.Partition.expr("TimeReceived")
	for _, c := range cols {
		flows.Columns = append(flows.Columns, colSpec{Name: c.Name, Type: f.columnType(c), Codec: f.codec(c)})
	}
	sc.Tables = append(sc.Tables, flows)

	for _, cn := range cons {
		t, v := rollupTable(db, f, cols, cn)
		if f.DedupToken {
			// Inserts of rollup rows carry a deduplication token: a retried
			// block the server already wrote is not added twice.
			t.Dedup = true
			if consolidateIn == consolidateInEngine {
				t.DedupWindow = dedupWindow
			}
		}
		sc.Tables = append(sc.Tables, t)
		if consolidateIn == consolidateInServer {
			sc.Views = append(sc.Views, v)
		}
	}

	sc.Tables = append(sc.Tables, tableSpec{
		Name: "protocols", Engine: "ReplacingMergeTree",
		Columns: []colSpec{{Name: "Proto", Type: "UInt8"}, {Name: "Name", Type: "String"}, {Name: "Description", Type: "String"}},
		OrderBy: []string{"Proto"},
		Fill: func(ctx context.Context, conn driver.Conn) error {
			batch, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (Proto, Name, Description)", quote(db), quote("protocols")))
			if err != nil {
				return err
			}
			for _, p := range ianaProtocols {
				if err := batch.Append(p.Number, p.Name, p.Description); err != nil {
					_ = batch.Abort()
					return err
				}
			}
			return batch.Send()
		},
	}, tableSpec{
		Name: "asns", Engine: "ReplacingMergeTree",
		Columns: []colSpec{{Name: "ASN", Type: "UInt32"}, {Name: "Name", Type: "String"}},
		OrderBy: []string{"ASN"},
	}, tableSpec{
		// Saved filters of the console: every change is a new row with a
		// higher Version; reads keep the newest row of each name
		// (argMax), deletions are rows with Deleted = 1.
		Name: savedFiltersTable, Engine: "ReplacingMergeTree", EngineArgs: "(Version)",
		Columns: []colSpec{{Name: "Name", Type: "String"}, {Name: "Filter", Type: "String"},
			{Name: "Description", Type: "String"}, {Name: "Updated", Type: "DateTime"},
			{Name: "Version", Type: "UInt64"}, {Name: "Deleted", Type: "UInt8"}},
		OrderBy: []string{"Name"},
	})
	return sc
}

// dedupWindow is how many recent blocks a rollup table remembers to
// deduplicate retried inserts (non_replicated_deduplication_window): retries
// come within seconds to minutes, while the sinks of a deployment insert a
// few blocks per second into each table.
const dedupWindow = 10000

// savedFiltersTable holds the console's saved filters.
const savedFiltersTable = "saved_filters"

// rollupTable is the table of consolidation cn (store.RollupColumns the
// schema has, plus Flows; Bytes, Packets and Flows scaled by SamplingRate
// and summed), and the view computing its rows on the server.
func rollupTable(db string, f features, cols []flow.Column, cn consolidation) (tableSpec, viewSpec) {
	name := consolidatedName(cn.Interval)
	t := tableSpec{
		Name: name, Engine: "SummingMergeTree", EngineArgs: "((Bytes, Packets, Flows))",
		Retention: cn.Retention, TTLColumn: "TimeReceived", Partition: partitioningFor(cn.Retention),
	}
	t.PartitionBy = t.Partition.expr("TimeReceived")
	v := viewSpec{Name: name + "_consumer", To: name, From: "flows"}
	scale := ""
	if hasColumn(cols, "SamplingRate") {
		scale = " * greatest(`SamplingRate`, 1)"
	}
	var sel, group []string
	for _, c := range rollupColumns(cols) {
		switch c.Name {
		case "TimeReceived":
			sel = append(sel, fmt.Sprintf("%s AS TimeReceived", f.roundTime("TimeReceived", cn.Interval)))
		case "Bytes", "Packets":
			sel = append(sel, fmt.Sprintf("sum(%s%s) AS %s", quote(c.Name), scale, quote(c.Name)))
		default:
			sel = append(sel, quote(c.Name))
		}
		cs := colSpec{Name: c.Name, Type: f.columnType(c)}
		t.Columns = append(t.Columns, cs)
		v.Columns = append(v.Columns, cs)
		if c.Name != "Bytes" && c.Name != "Packets" {
			t.OrderBy = append(t.OrderBy, c.Name)
			group = append(group, quote(c.Name))
		}
	}
	flows := "count()"
	if scale != "" {
		flows = "sum(greatest(`SamplingRate`, 1))"
	}
	sel = append(sel, flows+" AS `Flows`")
	t.Columns = append(t.Columns, colSpec{Name: "Flows", Type: "UInt64"})
	v.Columns = append(v.Columns, colSpec{Name: "Flows", Type: "UInt64"})
	v.Select = fmt.Sprintf("SELECT %s FROM %s.%s GROUP BY %s", strings.Join(sel, ", "),
		quote(db), quote("flows"), strings.Join(group, ", "))
	return t, v
}

// rollupColumns are the columns of store.RollupColumns that cols has, in
// schema order. Lists (AS paths, communities) are never among them: they
// stay in the raw flows table.
func rollupColumns(cols []flow.Column) []flow.Column {
	var out []flow.Column
	for _, c := range store.RollupColumns() {
		if hasColumn(cols, c.Name) && !c.Kind.IsList() {
			out = append(out, c)
		}
	}
	return out
}

func hasColumn(cols []flow.Column, name string) bool {
	for _, c := range cols {
		if c.Name == name {
			return true
		}
	}
	return false
}

// createTable renders the CREATE TABLE statement of t.
func (sc schema) createTable(t tableSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (", quote(sc.Database), quote(t.Name))
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(columnDef(c))
	}
	fmt.Fprintf(&b, ") ENGINE = %s%s", t.Engine, t.EngineArgs)
	if t.PartitionBy != "" {
		fmt.Fprintf(&b, " PARTITION BY %s", t.PartitionBy)
	}
	fmt.Fprintf(&b, " ORDER BY (%s)", strings.Join(quoteAll(t.OrderBy), ", "))
	if ttl := sc.ttlClause(t); ttl != "" {
		b.WriteString(" " + ttl)
	}
	if t.DedupWindow > 0 {
		fmt.Fprintf(&b, " SETTINGS non_replicated_deduplication_window = %d", t.DedupWindow)
	}
	return b.String()
}

func (sc schema) ttlClause(t tableSpec) string {
	if !sc.Features.TTL || t.Retention <= 0 || t.TTLColumn == "" {
		return ""
	}
	return fmt.Sprintf("TTL %s + INTERVAL %d SECOND", quote(t.TTLColumn), int64(t.Retention/time.Second))
}

func (sc schema) createView(v viewSpec) string {
	return fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s TO %s.%s AS %s",
		quote(sc.Database), quote(v.Name), quote(sc.Database), quote(v.To), v.Select)
}

func columnDef(c colSpec) string {
	s := quote(c.Name) + " " + c.Type
	if c.Codec != "" {
		s += " " + c.Codec
	}
	return s
}

// quote quotes an identifier with backticks.
func quote(id string) string { return "`" + strings.ReplaceAll(id, "`", "\\`") + "`" }

func quoteAll(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = quote(id)
	}
	return out
}

var (
	spaceRE    = regexp.MustCompile(`\s+`)
	dateTimeRE = regexp.MustCompile(`DateTime\('[^']*'\)`)
)

// normType normalizes a column type as system.columns prints it, for comparison.
func normType(t string) string {
	t = dateTimeRE.ReplaceAllString(t, "DateTime")
	t = strings.ReplaceAll(t, `\'`, `'`)
	return spaceRE.ReplaceAllString(t, "")
}

// normKey normalizes a sorting key for comparison: "a, b" and "(`a`, `b`)".
func normKey(k string) string {
	k = strings.NewReplacer("`", "", "(", "", ")", "").Replace(k)
	return spaceRE.ReplaceAllString(k, "")
}
