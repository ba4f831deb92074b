// Visualize: explore the traffic by any dimension, over any range, with a
// filter; every setting lives in the URL.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, isAbort, Latest, type ColumnInfo, type LineResult, type SankeyResult, type Series, type TableResult } from '../api';
import { Chart } from '../components/Chart';
import { DimensionPicker } from '../components/DimensionPicker';
import { FilterBar } from '../components/FilterBar';
import { colorOf, colors, lineOption, sankeyOption, seriesName, smallOption } from '../charts/options';
import { navigate, useLocation } from '../router';
import {
  fromSearch,
  graphTypes,
  joinDimension,
  maxDimensions,
  maxLimit,
  moveDimension,
  queryBody,
  splitDimension,
  toSearch,
  unanswerable,
  type VizState,
} from '../state';
import { useTheme } from '../theme';
import { describe, formatRange, parseRange, presets } from '../timerange';
import { metrics, rate, total, type Metric } from '../units';
import { valueLabel } from '../labels';

let columnsCache: Promise<ColumnInfo[]> | null = null;
function loadColumns(): Promise<ColumnInfo[]> {
  columnsCache ??= api<{ columns: ColumnInfo[] }>('console/columns')
    .then((r) => r.columns)
    .catch((e) => {
      columnsCache = null;
      throw e;
    });
  return columnsCache;
}

function useColumns(): ColumnInfo[] {
  const [cols, set] = useState<ColumnInfo[]>([]);
  useEffect(() => {
    loadColumns().then(set, () => {});
  }, []);
  return cols;
}

type Result =
  | { kind: 'line'; data: LineResult }
  | { kind: 'sankey'; data: SankeyResult }
  | { kind: 'table'; data: TableResult };

interface Load {
  result?: Result;
  key?: string; // the request the result answers
  loading: boolean;
  error?: string;
  filterError?: string;
  limit?: string; // the limit the request went over: its field shows the error
  limitMessage?: string;
  took?: number;
}

/** limitMessage says which setting went over a limit of the store, and how far. */
function limitMessage(limit: string, max?: number, got?: number): string | undefined {
  switch (limit) {
    case 'range_days':
      return `This range spans ${got} days; the console answers at most ${max}: narrow it.`;
    case 'dimensions':
      return `${got} dimensions; at most ${max}: remove some.`;
    case 'limit':
      return `Top ${got} is over the most the console answers, ${max}.`;
  }
  return undefined;
}

const relative = (r: string) => /^(last|past|previous|today|\d)|now/i.test(r.trim());

export function Visualize() {
  const { search } = useLocation();
  const state = useMemo(() => fromSearch(search), [search]);
  const columns = useColumns();
  const dark = useTheme() === 'dark';
  const set = (patch: Partial<VizState>, push = false) => {
    const q = toSearch({ ...state, ...patch });
    navigate('/visualize' + (q ? '?' + q : ''), !push);
  };

  const range = useMemo(() => parseRange(state.range), [state.range]);
  const [load, setLoad] = useState<Load>({ loading: false });
  const latest = useRef(new Latest());
  const [tick, setTick] = useState(0);

  // The request: debounced, the previous one cancelled.
  const key = JSON.stringify({ ...state, tick });
  useEffect(() => {
    if ('error' in range) return;
    if (unanswerable(state)) {
      latest.current.cancel();
      setLoad({ loading: false });
      return;
    }
    const t = setTimeout(async () => {
      const signal = latest.current.signal();
      const r = parseRange(state.range);
      if ('error' in r) return;
      setLoad((l) => ({ ...l, loading: true }));
      const body = queryBody(state, r.start, r.end, state.graph === 'grid' ? 120 : 200);
      const t0 = performance.now();
      try {
        let result: Result;
        if (state.graph === 'sankey') result = { kind: 'sankey', data: await api<SankeyResult>('console/graph/sankey', { body, signal }) };
        else if (state.graph === 'table') result = { kind: 'table', data: await api<TableResult>('console/table', { body, signal }) };
        else result = { kind: 'line', data: await api<LineResult>('console/graph/line', { body, signal }) };
        setLoad({ result, key, loading: false, took: performance.now() - t0 });
      } catch (e) {
        if (isAbort(e)) return;
        const msg = e instanceof ApiError ? e.message : String(e);
        const limit = e instanceof ApiError ? e.limit : undefined;
        const fieldMsg = e instanceof ApiError && limit ? limitMessage(limit, e.max, e.got) : undefined;
        const isFilter = !limit && state.filter !== '' && /filter/i.test(msg);
        setLoad((l) => ({ ...l, loading: false, error: isFilter ? undefined : msg, filterError: isFilter ? msg : undefined, limit, limitMessage: fieldMsg }));
      }
    }, 250);
    return () => clearTimeout(t);
  }, [key]);
  useEffect(() => () => latest.current.cancel(), []);

  // A relative range moves with the clock.
  useEffect(() => {
    if (!relative(state.range)) return;
    const i = setInterval(() => document.visibilityState === 'visible' && setTick((n) => n + 1), 60_000);
    return () => clearInterval(i);
  }, [state.range]);

  const onSpan = (from: number, to: number) => {
    if (to - from < 1000) return;
    set({ range: formatRange({ start: new Date(from), end: new Date(to) }) }, true);
  };

  const dimCols = columns.filter((c) => c.dimension);
  return (
    <div class="viz">
      <Controls state={state} set={set} range={range} dimCols={dimCols} limitError={load.limit ? { limit: load.limit, message: load.limitMessage ?? load.error ?? '' } : undefined} />
      <div class="vizmain">
        <FilterBar
          value={state.filter}
          columns={columns.map((c) => c.name)}
          onApply={(f) => set({ filter: f.trim() }, true)}
          serverError={load.filterError}
        />
        <GraphCard state={state} load={load} blocked={unanswerable(state)} dark={dark} onSpan={onSpan} onRefresh={() => setTick((n) => n + 1)} />
      </div>
    </div>
  );
}

function Field(props: { label: string; children: preact.ComponentChildren; for?: string }) {
  return (
    <div class="field">
      <label class="label" for={props.for}>
        {props.label}
      </label>
      {props.children}
    </div>
  );
}

function Controls({
  state,
  set,
  range,
  dimCols,
  limitError,
}: {
  state: VizState;
  set: (p: Partial<VizState>, push?: boolean) => void;
  range: ReturnType<typeof parseRange>;
  dimCols: ColumnInfo[];
  limitError?: { limit: string; message: string };
}) {
  const over = (l: string) => (limitError?.limit === l ? <span class="err">{limitError.message}</span> : null);
  const [rangeText, setRangeText] = useState(state.range);
  useEffect(() => setRangeText(state.range), [state.range]);
  const typed = parseRange(rangeText);
  const types = new Map(dimCols.map((c) => [c.name, c.type]));
  const descriptions = new Map(dimCols.map((c) => [c.name, c.description]));
  const used = useMemo(() => new Set(state.dimensions.map((d) => splitDimension(d).column)), [state.dimensions]);
  const applyRange = () => {
    if (!('error' in typed)) set({ range: rangeText.trim() }, true);
  };
  return (
    <aside class="controls card">
      <Field label="Time range" for="range">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            applyRange();
          }}
        >
          <input id="range" type="text" value={rangeText} onInput={(e) => setRangeText(e.currentTarget.value)} onBlur={applyRange} style={{ width: '100%' }} spellcheck={false} />
        </form>
        {'error' in typed ? (
          <span class="err">{typed.error}</span>
        ) : (
          <span class="hint">{describe(typed)}</span>
        )}
        {over('range_days')}
        <div class="presets">
          {presets.map((p) => (
            <button class={state.range === p ? 'on' : ''} onClick={() => set({ range: p }, true)}>
              {p.replace('last ', '')}
            </button>
          ))}
        </div>
      </Field>

      <Field label="Dimensions">
        <ul class="dims" data-testid="dimensions">
          {state.dimensions.map((d, i) => {
            const { column, truncate } = splitDimension(d);
            const addr = types.get(column) === 'address';
            return (
              <li>
                <span class="dname" title={descriptions.get(column) ? `${column}: ${descriptions.get(column)}` : column}>
                  {column}
                </span>
                {addr && (
                  <input
                    type="number"
                    min={0}
                    max={128}
                    placeholder="/len"
                    title="Truncate addresses to this prefix length (like 24 for IPv4 /24)"
                    value={truncate || ''}
                    onChange={(e) => {
                      const n = Number(e.currentTarget.value);
                      const dims = [...state.dimensions];
                      dims[i] = joinDimension(column, Number.isInteger(n) && n > 0 && n <= 128 ? n : 0);
                      set({ dimensions: dims });
                    }}
                  />
                )}
                <button title="Move up" aria-label={`Move ${column} up`} disabled={i === 0} onClick={() => set({ dimensions: moveDimension(state.dimensions, i, -1) })}>
                  ↑
                </button>
                <button title="Move down" aria-label={`Move ${column} down`} disabled={i === state.dimensions.length - 1} onClick={() => set({ dimensions: moveDimension(state.dimensions, i, 1) })}>
                  ↓
                </button>
                <button title="Remove" aria-label={`Remove ${column}`} onClick={() => set({ dimensions: state.dimensions.filter((_, j) => j !== i) })}>
                  ✕
                </button>
              </li>
            );
          })}
        </ul>
        {state.dimensions.length < maxDimensions && <DimensionPicker columns={dimCols} used={used} onPick={(v) => set({ dimensions: [...state.dimensions, v] })} />}
        {state.graph === 'sankey' && state.dimensions.length < 2 && <span class="err">A sankey needs two dimensions or more.</span>}
        {over('dimensions')}
      </Field>

      <Field label="Metric" for="metric">
        <select id="metric" value={state.metric} onChange={(e) => set({ metric: e.currentTarget.value as Metric })}>
          {metrics.map((m) => (
            <option value={m.value}>{m.label}</option>
          ))}
        </select>
      </Field>

      <Field label="Graph">
        <div class="seg" role="group" aria-label="Graph type">
          {graphTypes.map((g) => (
            <button class={state.graph === g.value ? 'on' : ''} aria-pressed={state.graph === g.value} onClick={() => set({ graph: g.value }, true)}>
              {g.label}
            </button>
          ))}
        </div>
      </Field>

      <Field label="Top" for="limit">
        <input
          id="limit"
          type="number"
          min={1}
          max={maxLimit}
          value={state.limit}
          onChange={(e) => {
            const n = Number(e.currentTarget.value);
            if (Number.isInteger(n) && n >= 1) set({ limit: Math.min(n, maxLimit) });
          }}
        />
        {over('limit')}
      </Field>

      <div class="checks">
        <label>
          <input type="checkbox" checked={state.bidirectional} disabled={state.graph === 'sankey'} onChange={(e) => set({ bidirectional: e.currentTarget.checked })} /> Bidirectional
        </label>
        <label>
          <input type="checkbox" checked={state.previous} disabled={state.graph === 'sankey' || state.graph === 'table'} onChange={(e) => set({ previous: e.currentTarget.checked })} /> Previous period
        </label>
      </div>
      {'error' in range && <span class="err">{range.error}</span>}
    </aside>
  );
}

/** friendly rewrites dimension values as people know them (6 → TCP). */
function friendly(r: Result | undefined, dims: string[]): Result | undefined {
  if (!r) return r;
  const split = dims.map(splitDimension);
  const cols = split.map((d) => d.column);
  const fmt = (vals: string[]) =>
    vals.map((v, i) => (v === 'Other' ? v : valueLabel(cols[i], v) + (split[i]?.truncate && v !== '' ? `/${split[i].truncate}` : '')));
  if (r.kind === 'line') return { ...r, data: { ...r.data, series: r.data.series.map((s) => ({ ...s, dimensions: fmt(s.dimensions) })) } };
  if (r.kind === 'table') return { ...r, data: { ...r.data, rows: r.data.rows.map((s) => ({ ...s, dimensions: fmt(s.dimensions) })) } };
  const node = (n: string) => {
    const i = n.indexOf(':');
    const d = Number(n.slice(0, i));
    return i > 0 && n.slice(i + 1) !== 'Other' ? `${d}:${valueLabel(r.data.dimensions[d] ?? cols[d], n.slice(i + 1))}` : n;
  };
  return {
    ...r,
    data: {
      ...r.data,
      rows: r.data.rows.map((s) => ({ ...s, dimensions: fmt(s.dimensions) })),
      nodes: r.data.nodes.map(node),
      links: r.data.links.map((l) => ({ ...l, source: node(l.source), target: node(l.target) })),
    },
  };
}

function GraphCard({
  state,
  load,
  blocked,
  dark,
  onSpan,
  onRefresh,
}: {
  state: VizState;
  load: Load;
  blocked: string | null;
  dark: boolean;
  onSpan: (a: number, b: number) => void;
  onRefresh: () => void;
}) {
  const res = useMemo(() => (blocked ? undefined : friendly(load.result, state.dimensions)), [load.result, blocked]);
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [hover, setHover] = useState<string | null>(null);
  const toggle = (name: string) =>
    setHidden((h) => {
      const n = new Set(h);
      if (!n.delete(name)) n.add(name);
      return n;
    });
  const option = useMemo(() => {
    if (!res) return null;
    if (res.kind === 'line' && state.graph !== 'grid') return lineOption(res.data, state.graph, state.metric, dark, Date.now(), hidden);
    if (res.kind === 'sankey') return sankeyOption(res.data, state.metric);
    return null;
  }, [res, state.graph, state.metric, dark, hidden]);

  const empty =
    res &&
    ((res.kind === 'line' && res.data.series.every((s) => s.total === 0)) ||
      (res.kind === 'sankey' && res.data.links.length === 0) ||
      (res.kind === 'table' && res.data.rows.length === 0));

  let body: preact.ComponentChildren = null;
  if (blocked)
    body = (
      <div class="empty-graph" style={{ height: '240px' }} data-testid="graph-blocked">
        {blocked}
      </div>
    );
  else if (!res) body = load.error ? null : <div class="empty-graph" style={{ height: '380px' }}>Loading…</div>;
  else if (empty) body = <div class="empty-graph" style={{ height: '240px' }}>No traffic matches in this range{state.filter ? ' with this filter' : ''}.</div>;
  else if (res.kind === 'line' && state.graph === 'grid') body = <Smalls res={res.data} metric={state.metric} />;
  else if (option)
    body = <Chart option={option} height={res.kind === 'sankey' ? 460 : 380} onSpan={res.kind === 'line' ? onSpan : undefined} label="Traffic graph" class="main-chart" highlight={res.kind === 'line' ? hover : null} />;

  return (
    <section class="card graph-card" data-testid="graph" data-state={blocked ? 'blocked' : load.loading ? 'loading' : load.error ? 'error' : res ? 'ready' : 'idle'} data-kind={res?.kind} data-series={res?.kind === 'line' ? res.data.series.length : res?.kind === 'sankey' ? res.data.links.length : res?.data.rows.length}>
      <div class="status" title="The table the store read and the time the request took">
        {load.loading ? 'Loading…' : res ? `${res.data.table}${load.took ? ` · ${Math.round(load.took)} ms` : ''}` : '\u00a0'}{' '}
        <button class="icon refresh" onClick={onRefresh} title="Ask again now (relative ranges refresh every minute)" aria-label="Refresh">
          ↻
        </button>
      </div>
      {load.error && !blocked && <div class="error-box" role="alert">{load.error}</div>}
      {body}
      {res?.kind === 'line' && state.graph !== 'grid' && !empty && <div class="hint">Drag across the graph to zoom in; Back zooms out.</div>}
      {res && !empty && <StatsTable res={res} metric={state.metric} dims={state.dimensions} hidden={res.kind === 'line' ? hidden : undefined} onToggle={res.kind === 'line' && state.graph !== 'grid' ? toggle : undefined} onHover={setHover} />}
    </section>
  );
}

function Smalls({ res, metric }: { res: LineResult; metric: Metric }) {
  const c = colors(res.series);
  const direct = res.series.filter((s) => s.axis === 1);
  const max = Math.max(1e-9, ...res.series.filter((s) => s.axis <= 2).map((s) => s.max));
  return (
    <div class="smalls">
      {direct.map((s) => {
        const rev = res.series.find((r) => r.axis === 2 && r.dimensions.join('\u0000') === s.dimensions.join('\u0000'));
        return (
          <div class="small">
            <h3 title={seriesName(s)}>
              <span class="swatch" style={{ background: colorOf(c, s) }} />
              {seriesName(s)} <span class="muted">· avg {rate(s.avg, metric)}</span>
            </h3>
            <Chart option={smallOption(res, s, rev, colorOf(c, s), metric, max)} height={130} />
          </div>
        );
      })}
    </div>
  );
}

function StatsTable({
  res,
  metric,
  dims,
  hidden,
  onToggle,
  onHover,
}: {
  res: Result;
  metric: Metric;
  dims: string[];
  hidden?: Set<string>;
  onToggle?: (name: string) => void;
  onHover?: (name: string | null) => void;
}) {
  const rows: (Series | { dimensions: string[]; axis: number; min: number; max: number; avg: number; p95: number; total: number })[] =
    res.kind === 'line' ? res.data.series : res.data.rows;
  const c = colors(rows as Series[]);
  const heads = dims.length ? dims.map((d) => splitDimension(d).column) : ['Series'];
  const pct = metric === 'inl2%' || metric === 'outl2%';
  const spread = res.kind !== 'sankey'; // a sankey's rows carry their average only
  return (
    <div style={{ overflowX: 'auto', marginTop: '0.8em' }}>
      <table class="data" data-testid="stats-table">
        <thead>
          <tr>
            {heads.map((h) => (
              <th>{h}</th>
            ))}
            <th></th>
            {spread && <th class="num">min</th>}
            {spread && <th class="num">max</th>}
            <th class="num">avg</th>
            {spread && <th class="num">p95</th>}
            {!pct && <th class="num">total</th>}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr
              class={(r.axis >= 3 ? 'prev' : '') + (hidden?.has(seriesName(r)) ? ' off' : '') + (onToggle && r.axis <= 2 ? ' toggles' : '')}
              onClick={onToggle && r.axis <= 2 ? () => onToggle(seriesName(r)) : undefined}
              onMouseEnter={onHover ? () => onHover(seriesName(r)) : undefined}
              onMouseLeave={onHover ? () => onHover(null) : undefined}
              title={onToggle && r.axis <= 2 ? 'Click to hide or show this series' : undefined}
            >
              {(r.dimensions.length ? r.dimensions : ['Total']).map((d, i) => (
                <td>
                  {i === 0 && <span class="swatch" style={{ background: colorOf(c, r) }} />}
                  {d || '(empty)'}
                </td>
              ))}
              <td class="muted">{r.axis === 2 ? 'reverse' : r.axis === 3 ? 'previous' : r.axis === 4 ? 'previous, reverse' : ''}</td>
              {spread && <td class="num">{rate(r.min, metric)}</td>}
              {spread && <td class="num">{rate(r.max, metric)}</td>}
              <td class="num">{rate(r.avg, metric)}</td>
              {spread && <td class="num">{rate(r.p95, metric)}</td>}
              {!pct && <td class="num">{total(r.total, metric)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
