package clickhouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/flow"
)

var _ engine.Provisioner = (*Sink)(nil)

// change is a plan entry with the statements that make it.
type change struct {
	engine.Change
	stmts []string
	fill  func(ctx context.Context, conn driver.Conn) error // run after stmts
}

type liveColumn struct{ Name, Type string }

type liveTable struct {
	Engine, SortingKey, PartitionKey, EngineFull string
	Columns                                      []liveColumn
}

// Plan compares the live database with what the pipeline wants. It changes nothing.
func (s *Sink) Plan(ctx context.Context) (*engine.Plan, error) {
	changes, _, err := s.diff(ctx)
	if err != nil {
		return nil, err
	}
	return &engine.Plan{Stage: s.id, Changes: engine.Changes(changes)}, nil
}

// Apply makes the changes of a plan. It recomputes the difference and
// refuses to go on if it no longer matches plan, and refuses destructive
// changes unless allow_destructive is set.
func (s *Sink) Apply(ctx context.Context, plan *engine.Plan) error {
	changes, sc, err := s.diff(ctx)
	if err != nil {
		return err
	}
	if plan != nil && !engine.SameChanges(plan.Changes, changes) {
		return fmt.Errorf("clickhouse: the database changed since the plan was made (%d changes planned, %d now): plan again",
			len(plan.Changes), len(changes))
	}
	if !s.cfg.allowDestructive {
		if refused := engine.Destructive(changes); len(refused) > 0 {
			return fmt.Errorf("clickhouse: refusing %d destructive change(s) (set allow_destructive = true on %s to allow them): %s",
				len(refused), s.id, strings.Join(refused, "; "))
		}
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	for _, c := range changes {
		for _, stmt := range c.stmts {
			s.log.Info("clickhouse provisioning", "change", string(c.Action)+" "+c.Resource)
			s.log.Debug("clickhouse statement", "sql", stmt)
			if err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("clickhouse: %s %s: %w", c.Action, c.Resource, err)
			}
		}
		if c.fill != nil {
			if err := c.fill(ctx, conn); err != nil {
				return fmt.Errorf("clickhouse: fill %s: %w", c.Resource, err)
			}
		}
	}
	s.mu.Lock()
	s.features = &sc.Features
	s.mu.Unlock()
	return nil
}

// serverFeatures reads the server version.
func (s *Sink) serverFeatures(ctx context.Context) (features, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return features{}, err
	}
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return features{}, s.explain(err)
	}
	ver, err := parseVersion(v)
	if err != nil {
		return features{}, err
	}
	f := featuresOf(ver)
	if f.UInt128 {
		// A flows table created before the server was upgraded keeps its
		// large communities as FixedString(12): so does everything else
		// (inserts, queries), rather than a type change no server can make.
		var typ string
		err := conn.QueryRow(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = 'flows' AND name = ?",
			s.cfg.database, flow.Columns[flow.ColDstLargeCommunities].Name).Scan(&typ)
		switch {
		case err == nil && normType(typ) == normType(largeCommunitiesFallback):
			f.UInt128 = false
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return features{}, s.explain(err)
		}
	}
	s.mu.Lock()
	s.features = &f
	s.mu.Unlock()
	return f, nil
}

// diff computes the changes between the live database and the wanted schema.
func (s *Sink) diff(ctx context.Context) ([]change, schema, error) {
	f, err := s.serverFeatures(ctx)
	if err != nil {
		return nil, schema{}, err
	}
	sc := s.schema(f)
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, sc, err
	}
	db := s.cfg.database
	var changes []change

	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", db).Scan(&n); err != nil {
		return nil, sc, s.explain(err)
	}
	live := map[string]*liveTable{}
	if n == 0 {
		changes = append(changes, change{
			Change: engine.Change{Action: engine.ActionCreate, Resource: "clickhouse database " + db,
				Details: []string{fmt.Sprintf("server %s", f.Version)}},
			stmts: []string{"CREATE DATABASE IF NOT EXISTS " + quote(db)},
		})
	} else {
		rows, err := conn.Query(ctx, "SELECT name, engine, sorting_key, partition_key, engine_full FROM system.tables WHERE database = ?", db)
		if err != nil {
			return nil, sc, s.explain(err)
		}
		for rows.Next() {
			var name string
			t := &liveTable{}
			if err := rows.Scan(&name, &t.Engine, &t.SortingKey, &t.PartitionKey, &t.EngineFull); err != nil {
				rows.Close()
				return nil, sc, err
			}
			live[name] = t
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, sc, s.explain(err)
		}
		rows, err = conn.Query(ctx, "SELECT table, name, type FROM system.columns WHERE database = ?", db)
		if err != nil {
			return nil, sc, s.explain(err)
		}
		for rows.Next() {
			var table string
			var c liveColumn
			if err := rows.Scan(&table, &c.Name, &c.Type); err != nil {
				rows.Close()
				return nil, sc, err
			}
			if t := live[table]; t != nil {
				t.Columns = append(t.Columns, c)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, sc, s.explain(err)
		}
	}

	// Views no longer wanted (consolidation moved into the engine) go
	// first: they hold no data, and would feed replaced tables.
	wantedViews := map[string]bool{}
	for _, v := range sc.Views {
		wantedViews[v.Name] = true
	}
	var stale []string
	for name, t := range live {
		if t.Engine == "MaterializedView" && strings.HasPrefix(name, "flows_") && strings.HasSuffix(name, "_consumer") && !wantedViews[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	for _, name := range stale {
		changes = append(changes, change{
			Change: engine.Change{Action: engine.ActionDelete, Resource: fmt.Sprintf("clickhouse view %s.%s", db, name),
				Details: []string{"rollups are computed by the sink (consolidate_in = \"engine\"): the view holds no data"}},
			stmts: []string{fmt.Sprintf("DROP TABLE IF EXISTS %s.%s", quote(db), quote(name))},
		})
	}

	replaced := map[string]bool{}
	for _, t := range sc.Tables {
		changes = append(changes, sc.diffTable(t, live[t.Name], replaced)...)
	}
	for _, v := range sc.Views {
		changes = append(changes, sc.diffView(v, live[v.Name], replaced[v.To])...)
	}
	return changes, sc, nil
}

func (sc schema) tableDetails(t tableSpec) []string {
	d := []string{fmt.Sprintf("engine = %s%s", t.Engine, t.EngineArgs)}
	if t.PartitionBy != "" {
		d = append(d, "partition by "+t.PartitionBy)
	}
	d = append(d, fmt.Sprintf("order by (%s)", strings.Join(t.OrderBy, ", ")))
	switch {
	case t.Retention <= 0 || t.TTLColumn == "":
	case sc.Features.TTL:
		d = append(d, fmt.Sprintf("ttl %s + %s", t.TTLColumn, formatRetention(t.Retention)))
	default:
		d = append(d, fmt.Sprintf("retention %s: old partitions dropped by the sink (server %s has no TTL)",
			formatRetention(t.Retention), sc.Features.Version))
	}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name + " " + c.Type
	}
	d = append(d, fmt.Sprintf("%d columns: %s", len(t.Columns), strings.Join(names, ", ")))
	return d
}

func (sc schema) diffTable(t tableSpec, lt *liveTable, replaced map[string]bool) []change {
	res := fmt.Sprintf("clickhouse table %s.%s", sc.Database, t.Name)
	create := []string{sc.createTable(t)}
	if lt == nil {
		return []change{{Change: engine.Change{Action: engine.ActionCreate, Resource: res, Details: sc.tableDetails(t)}, stmts: create, fill: t.Fill}}
	}
	var why []string
	if lt.Engine != t.Engine {
		why = append(why, fmt.Sprintf("engine %s -> %s", lt.Engine, t.Engine))
	}
	if normKey(lt.SortingKey) != normKey(strings.Join(t.OrderBy, ", ")) {
		why = append(why, fmt.Sprintf("order by (%s) -> (%s)", lt.SortingKey, strings.Join(t.OrderBy, ", ")))
	}
	if t.EngineArgs != "" && !strings.Contains(normKey(lt.EngineFull), normKey(t.Engine+t.EngineArgs)) {
		why = append(why, fmt.Sprintf("engine %s -> %s%s", strings.SplitN(lt.EngineFull, " ", 2)[0], t.Engine, t.EngineArgs))
	}
	if normKey(lt.PartitionKey) != normKey(t.PartitionBy) {
		why = append(why, fmt.Sprintf("partition by %s -> %s", lt.PartitionKey, t.PartitionBy))
	}
	if len(why) > 0 {
		replaced[t.Name] = true
		stmts := append([]string{fmt.Sprintf("DROP TABLE IF EXISTS %s.%s", quote(sc.Database), quote(t.Name))}, create...)
		return []change{{Change: engine.Change{Action: engine.ActionReplace, Resource: res, Destructive: true,
			Details: append(why, "the table is dropped and created again: its data is lost")}, stmts: stmts, fill: t.Fill}}
	}

	var out []change
	liveCols := map[string]string{}
	for _, c := range lt.Columns {
		liveCols[c.Name] = c.Type
	}
	wanted := map[string]bool{}
	prev := ""
	for _, c := range t.Columns {
		wanted[c.Name] = true
		cres := fmt.Sprintf("clickhouse column %s.%s.%s", sc.Database, t.Name, c.Name)
		lt, ok := liveCols[c.Name]
		switch {
		case !ok:
			after := " FIRST"
			if prev != "" {
				after = " AFTER " + quote(prev)
			}
			out = append(out, change{
				Change: engine.Change{Action: engine.ActionCreate, Resource: cres, Details: []string{"type " + c.Type}},
				stmts:  []string{fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s%s", quote(sc.Database), quote(t.Name), columnDef(c), after)},
			})
		case normType(lt) != normType(c.Type):
			out = append(out, change{
				Change: engine.Change{Action: engine.ActionUpdate, Resource: cres, Destructive: true,
					Details: []string{fmt.Sprintf("type %s -> %s", lt, c.Type), "data rewrite: every part of the table is rewritten"}},
				stmts: []string{fmt.Sprintf("ALTER TABLE %s.%s MODIFY COLUMN %s", quote(sc.Database), quote(t.Name), columnDef(c))},
			})
		}
		prev = c.Name
	}
	for _, c := range lt.Columns {
		if wanted[c.Name] {
			continue
		}
		out = append(out, change{
			Change: engine.Change{Action: engine.ActionDelete, Resource: fmt.Sprintf("clickhouse column %s.%s.%s", sc.Database, t.Name, c.Name),
				Destructive: true, Details: []string{"type " + c.Type, "the column's data is lost"}},
			stmts: []string{fmt.Sprintf("ALTER TABLE %s.%s DROP COLUMN %s", quote(sc.Database), quote(t.Name), quote(c.Name))},
		})
	}
	if t.Dedup {
		if have := liveDedupWindow(lt.EngineFull); have != t.DedupWindow {
			out = append(out, change{
				Change: engine.Change{Action: engine.ActionUpdate, Resource: res + " settings",
					Details: []string{fmt.Sprintf("non_replicated_deduplication_window %d -> %d (retried inserts of rollup rows deduplicated)", have, t.DedupWindow)}},
				stmts: []string{fmt.Sprintf("ALTER TABLE %s.%s MODIFY SETTING non_replicated_deduplication_window = %d", quote(sc.Database), quote(t.Name), t.DedupWindow)},
			})
		}
	}
	if ttl := sc.ttlClause(t); ttl != "" {
		want := int64(t.Retention / time.Second)
		if have, ok := liveTTLSeconds(lt.EngineFull); !ok || have != want {
			from := "none"
			if ok {
				from = formatRetention(time.Duration(have) * time.Second)
			}
			out = append(out, change{
				Change: engine.Change{Action: engine.ActionUpdate, Resource: res + " ttl",
					Details: []string{fmt.Sprintf("retention %s -> %s", from, formatRetention(t.Retention))}},
				stmts: []string{fmt.Sprintf("ALTER TABLE %s.%s MODIFY %s", quote(sc.Database), quote(t.Name), ttl)},
			})
		}
	}
	return out
}

var dedupRE = regexp.MustCompile(`non_replicated_deduplication_window = (\d+)`)

// liveDedupWindow reads a table's non_replicated_deduplication_window from
// its engine_full (0 when not set).
func liveDedupWindow(engineFull string) int {
	m := dedupRE.FindStringSubmatch(engineFull)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var ttlRE = regexp.MustCompile(`TTL .*?toIntervalSecond\((\d+)\)`)

// liveTTLSeconds reads the TTL interval of a table from its engine_full.
func liveTTLSeconds(engineFull string) (int64, bool) {
	m := ttlRE.FindStringSubmatch(engineFull)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n, err == nil
}

func (sc schema) diffView(v viewSpec, lv *liveTable, targetReplaced bool) []change {
	res := fmt.Sprintf("clickhouse view %s.%s", sc.Database, v.Name)
	create := sc.createView(v)
	details := []string{fmt.Sprintf("materialized view: %s.flows -> %s.%s", sc.Database, sc.Database, v.To)}
	if lv == nil {
		return []change{{Change: engine.Change{Action: engine.ActionCreate, Resource: res, Details: details}, stmts: []string{create}}}
	}
	same := lv.Engine == "MaterializedView" && len(lv.Columns) == len(v.Columns)
	for i := 0; same && i < len(v.Columns); i++ {
		same = lv.Columns[i].Name == v.Columns[i].Name && normType(lv.Columns[i].Type) == normType(v.Columns[i].Type)
	}
	if same && !targetReplaced {
		return nil
	}
	return []change{{
		Change: engine.Change{Action: engine.ActionReplace, Resource: res,
			Details: append(details, "the view holds no data: it is dropped and created again with the new columns")},
		stmts: []string{fmt.Sprintf("DROP TABLE IF EXISTS %s.%s", quote(sc.Database), quote(v.Name)), create},
	}}
}

func formatRetention(d time.Duration) string {
	day := 24 * time.Hour
	if d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// ErrAuthentication is wrapped by errors caused by wrong credentials.
var ErrAuthentication = engine.Permanent(errors.New("authentication failed"))

// Server error codes that mean the credentials are wrong.
var authCodes = map[int32]bool{192: true, 193: true, 194: true, 516: true}

// explain turns connection and authentication failures into readable
// errors. It never includes the password.
func (s *Sink) explain(err error) error {
	if err == nil {
		return nil
	}
	var ex *exception
	if errors.As(err, &ex) && authCodes[ex.Code] {
		return fmt.Errorf("clickhouse %s: %w for user %q: check username and password (server said: %s)",
			strings.Join(s.cfg.servers, ","), ErrAuthentication, s.cfg.username, firstLine(ex.Message))
	}
	if isTransient(err) {
		return fmt.Errorf("clickhouse %s: cannot reach the server: %w", strings.Join(s.cfg.servers, ","), err)
	}
	return fmt.Errorf("clickhouse: %w", err)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
