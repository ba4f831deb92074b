// The state of the visualize page and its URL: every setting is in the query
// string, so a copied link reproduces the view. Defaults are left out of the
// URL; unknown or malformed values fall back to the defaults.
import { metrics, type Metric } from './units';

export type GraphType = 'stacked' | 'lines' | 'stacked100' | 'grid' | 'sankey' | 'table';

export const graphTypes: { value: GraphType; label: string }[] = [
  { value: 'stacked', label: 'Stacked area' },
  { value: 'lines', label: 'Lines' },
  { value: 'stacked100', label: '100% stacked' },
  { value: 'grid', label: 'Grid' },
  { value: 'sankey', label: 'Sankey' },
  { value: 'table', label: 'Table' },
];

export interface VizState {
  range: string; // as typed: "last 6 hours", "2026-11-29 10:00 to 14:00"
  dimensions: string[]; // column names, addresses may carry a prefix length: "SrcAddr/24"
  metric: Metric;
  graph: GraphType;
  limit: number; // top-N
  filter: string;
  bidirectional: boolean;
  previous: boolean; // previous-period overlay
}

export const defaults: VizState = {
  range: 'last 6 hours',
  dimensions: ['SrcAS'],
  metric: 'l3bps',
  graph: 'stacked',
  limit: 10,
  filter: '',
  bidirectional: false,
  previous: false,
};

export const maxLimit = 50;
export const maxDimensions = 10;

const dimRe = /^[A-Za-z][A-Za-z0-9]*(\/\d{1,3})?$/;

/** toSearch writes a state as a query string (without "?"), defaults left out. */
export function toSearch(s: VizState): string {
  const p = new URLSearchParams();
  if (s.range !== defaults.range) p.set('range', s.range);
  if (s.dimensions.join(',') !== defaults.dimensions.join(',')) p.set('dims', s.dimensions.join(',') || '-');
  if (s.metric !== defaults.metric) p.set('metric', s.metric);
  if (s.graph !== defaults.graph) p.set('graph', s.graph);
  if (s.limit !== defaults.limit) p.set('limit', String(s.limit));
  if (s.filter !== '') p.set('filter', s.filter);
  if (s.bidirectional) p.set('bidir', '1');
  if (s.previous) p.set('previous', '1');
  return p.toString();
}

/** fromSearch reads a state from a query string, keeping what is valid. */
export function fromSearch(search: string): VizState {
  const p = new URLSearchParams(search);
  const s: VizState = { ...defaults, dimensions: [...defaults.dimensions] };
  const range = p.get('range');
  if (range && range.trim()) s.range = range.trim();
  const dims = p.get('dims');
  if (dims === '-') s.dimensions = [];
  else if (dims !== null) {
    const seen = new Set<string>();
    s.dimensions = dims
      .split(',')
      .map((d) => d.trim())
      .filter((d) => {
        const name = d.split('/')[0].toLowerCase();
        if (!dimRe.test(d) || seen.has(name)) return false;
        seen.add(name);
        return true;
      })
      .slice(0, maxDimensions);
  }
  const metric = p.get('metric');
  if (metrics.some((m) => m.value === metric)) s.metric = metric as Metric;
  const graph = p.get('graph');
  if (graph && ['stacked', 'lines', 'stacked100', 'grid', 'sankey', 'table'].includes(graph)) s.graph = graph as GraphType;
  const limit = Number(p.get('limit'));
  if (Number.isInteger(limit) && limit >= 1) s.limit = Math.min(limit, maxLimit);
  s.filter = p.get('filter') ?? '';
  s.bidirectional = flag(p.get('bidir'));
  s.previous = flag(p.get('previous'));
  return s;
}

function flag(v: string | null): boolean {
  return v === '1' || v === 'true' || v === 'yes';
}

/** splitDimension parses "SrcAddr/24" into its column and prefix length (0: none). */
export function splitDimension(d: string): { column: string; truncate: number } {
  const [column, bits] = d.split('/');
  return { column, truncate: bits ? Number(bits) : 0 };
}

/** joinDimension is the reverse of splitDimension. */
export function joinDimension(column: string, truncate: number): string {
  return truncate > 0 ? `${column}/${truncate}` : column;
}

/** moveDimension moves the dimension at i by delta places. */
export function moveDimension(dims: string[], i: number, delta: number): string[] {
  const j = i + delta;
  if (i < 0 || i >= dims.length || j < 0 || j >= dims.length) return dims;
  const out = [...dims];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

/** QueryBody is the body of graph/line, graph/sankey and table. */
export interface QueryBody {
  start: string;
  end: string;
  points: number;
  dimensions: string[];
  limit: number;
  filter: string;
  metric: Metric;
  bidirectional: boolean;
  previous_period: boolean;
}

/** queryBody turns a state and its resolved range into an API request. */
export function queryBody(s: VizState, start: Date, end: Date, points: number): QueryBody {
  const sankey = s.graph === 'sankey';
  return {
    start: start.toISOString(),
    end: end.toISOString(),
    points,
    dimensions: s.dimensions,
    limit: s.limit,
    filter: s.filter,
    metric: s.metric,
    bidirectional: !sankey && s.bidirectional,
    previous_period: !sankey && s.graph !== 'table' && s.previous,
  };
}

/**
 * unanswerable says why a state cannot be asked of the API as it stands (a
 * sankey of fewer than two dimensions), or returns null when it can.
 */
export function unanswerable(s: VizState): string | null {
  if (s.graph === 'sankey' && s.dimensions.length < 2)
    return s.dimensions.length === 0
      ? 'A sankey needs at least two dimensions: add two, like SrcAS and InIfProvider.'
      : `A sankey needs at least two dimensions: add one after ${splitDimension(s.dimensions[0]).column}.`;
  return null;
}
