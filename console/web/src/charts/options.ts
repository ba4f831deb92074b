// ECharts options for the visualize page, built from the API's answers.
import type { LineResult, SankeyResult, Series } from '../api';
import type { GraphType } from '../state';
import { palette } from '../theme';
import { rate, type Metric } from '../units';

export const axisNames: Record<number, string> = { 1: '', 2: 'reverse', 3: 'previous period', 4: 'previous period, reverse' };

/** seriesName names a series by its dimension values. */
export function seriesName(s: { dimensions: string[]; axis: number }): string {
  const base = s.dimensions.length ? s.dimensions.map((d) => d || '(empty)').join(' · ') : 'Total';
  return s.axis > 1 ? `${base} (${axisNames[s.axis]})` : base;
}

/** colorOf gives each direct series a colour; its reverse shares it. */
export function colors(series: Series[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const s of series) {
    const key = s.dimensions.join('\u0000');
    if (!m.has(key)) m.set(key, s.dimensions[0] === 'Other' && s.dimensions.length === 1 ? '#9aa3ad' : palette[m.size % palette.length]);
  }
  return m;
}

export function colorOf(c: Map<string, string>, s: { dimensions: string[] }): string {
  return c.get(s.dimensions.join('\u0000')) ?? '#9aa3ad';
}

function times(res: LineResult): number[] {
  return res.time.map((t) => Date.parse(t));
}

/**
 * complete is how many leading points of res cover steps that ended by now:
 * the step still running holds a part of its flows and would draw as a drop.
 */
export function complete(res: LineResult, now: number = Date.now()): number {
  let n = res.time.length;
  while (n > 0 && Date.parse(res.time[n - 1]) + res.step * 1000 > now) n--;
  return n === 0 ? res.time.length : n;
}

/** percent turns each series into its share of the sum of its axis, per point. */
export function percent(series: Series[]): Series[] {
  const sums = new Map<number, number[]>();
  for (const s of series) {
    const sum = sums.get(s.axis) ?? new Array(s.values.length).fill(0);
    s.values.forEach((v, i) => (sum[i] += v));
    sums.set(s.axis, sum);
  }
  return series.map((s) => {
    const sum = sums.get(s.axis)!;
    return { ...s, values: s.values.map((v, i) => (sum[i] ? (100 * v) / sum[i] : 0)) };
  });
}

/** previousTotal sums the previous-period series of an axis into one. */
function previousTotal(series: Series[], axis: number): number[] | null {
  const prev = series.filter((s) => s.axis === axis);
  if (!prev.length) return null;
  const out = new Array(prev[0].values.length).fill(0);
  for (const s of prev) s.values.forEach((v, i) => (out[i] += v));
  return out;
}

export function lineOption(res: LineResult, graph: GraphType, metric: Metric, dark: boolean, now: number = Date.now(), hidden: Set<string> = new Set()): Record<string, unknown> {
  const n = complete(res, now);
  const ts = times(res).slice(0, n);
  const pct = graph === 'stacked100';
  const stacked = graph === 'stacked' || pct;
  const direct = res.series.filter((s) => s.axis <= 2 && !hidden.has(seriesName(s)));
  const shown = pct ? percent(direct) : direct;
  const c = colors(res.series);
  const bidir = res.series.some((s) => s.axis === 2);
  const fmt = (v: number) => (pct ? `${Math.abs(v).toFixed(1)} %` : rate(Math.abs(v), metric));
  const series: Record<string, unknown>[] = shown.map((s) => ({
    type: 'line',
    name: seriesName(s),
    stack: stacked ? `axis${s.axis}` : undefined,
    showSymbol: false,
    symbol: 'none',
    step: false,
    lineStyle: { width: stacked ? 0.8 : 1.6 },
    areaStyle: stacked ? { opacity: 0.85 } : undefined,
    color: colorOf(c, s),
    emphasis: { focus: 'series' },
    data: ts.map((t, i) => [t, s.axis === 2 ? -s.values[i] : s.values[i]]),
  }));
  if (!pct) {
    for (const axis of [3, 4]) {
      const p = previousTotal(res.series.filter((s) => !hidden.has(seriesName(s))), axis);
      if (!p) continue;
      series.push({
        type: 'line',
        name: axis === 3 ? 'Previous period' : 'Previous period (reverse)',
        showSymbol: false,
        symbol: 'none',
        lineStyle: { width: 1.5, type: 'dashed' },
        color: dark ? '#c8ced6' : '#4b5563',
        z: 5,
        data: ts.map((t, i) => [t, axis === 4 ? -p[i] : p[i]]),
      });
    }
  }
  return {
    grid: { left: 70, right: 16, top: 12, bottom: 28 },
    tooltip: {
      trigger: 'axis',
      order: 'seriesDesc',
      confine: true,
      valueFormatter: (v: number) => fmt(v),
    },
    xAxis: { type: 'time', min: Date.parse(res.start), max: Date.parse(res.end), axisLabel: { hideOverlap: true } },
    yAxis: {
      type: 'value',
      max: pct && !bidir ? 100 : undefined,
      min: pct && bidir ? -100 : undefined,
      axisLabel: { formatter: (v: number) => (pct ? `${Math.abs(v).toFixed(0)} %` : fmt(v)) },
    },
    series,
  };
}

/** smallOption draws one series (and its reverse) for the grid of graphs. */
export function smallOption(res: LineResult, s: Series, rev: Series | undefined, color: string, metric: Metric, max: number): Record<string, unknown> {
  const ts = times(res).slice(0, complete(res));
  const series: Record<string, unknown>[] = [
    { type: 'line', name: seriesName(s), showSymbol: false, areaStyle: { opacity: 0.5 }, lineStyle: { width: 1 }, color, data: ts.map((t, i) => [t, s.values[i]]) },
  ];
  if (rev) series.push({ type: 'line', name: seriesName(rev), showSymbol: false, areaStyle: { opacity: 0.3 }, lineStyle: { width: 1 }, color, data: ts.map((t, i) => [t, -rev.values[i]]) });
  return {
    grid: { left: 56, right: 8, top: 6, bottom: 20 },
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v: number) => rate(Math.abs(v), metric) },
    xAxis: { type: 'time', min: Date.parse(res.start), max: Date.parse(res.end), axisLabel: { hideOverlap: true, fontSize: 10 } },
    yAxis: { type: 'value', max, min: rev ? -max : 0, splitNumber: 2, axisLabel: { fontSize: 10, formatter: (v: number) => rate(Math.abs(v), metric) } },
    series,
  };
}

/** nodeLabel strips the dimension index the API prefixes node names with. */
export function nodeLabel(n: string): string {
  const i = n.indexOf(':');
  return i >= 0 && /^\d+$/.test(n.slice(0, i)) ? n.slice(i + 1) || '(empty)' : n;
}

/**
 * sankeyRight is the room the labels of the last column of a sankey need at
 * its right (they are drawn right of their nodes): from the longest, within
 * bounds, in pixels.
 */
export function sankeyRight(res: SankeyResult): number {
  const last = res.dimensions.length - 1;
  let longest = 0;
  for (const n of res.nodes) if (Number(n.split(':')[0]) === last) longest = Math.max(longest, nodeLabel(n).length);
  return Math.min(320, Math.max(80, Math.round(longest * 6.8) + 20));
}

export function sankeyOption(res: SankeyResult, metric: Metric): Record<string, unknown> {
  const depth = new Map<string, number>();
  res.nodes.forEach((n) => depth.set(n, Number(n.split(':')[0]) || 0));
  const right = sankeyRight(res);
  const last = res.dimensions.length - 1;
  return {
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (p: { dataType: string; data: { source?: string; target?: string; name?: string; value?: number }; value: number }) =>
        p.dataType === 'edge'
          ? `${nodeLabel(p.data.source!)} → ${nodeLabel(p.data.target!)}<br><b>${rate(p.data.value ?? 0, metric)}</b>`
          : `${nodeLabel(p.data.name!)}<br><b>${rate(p.value, metric)}</b>`,
    },
    series: [
      {
        type: 'sankey',
        left: 8,
        right,
        top: 30,
        bottom: 10,
        nodeGap: 10,
        draggable: false,
        emphasis: { focus: 'adjacency' },
        layoutIterations: 32,
        data: res.nodes.map((n, i) => ({ name: n, depth: depth.get(n), itemStyle: { color: palette[i % palette.length] } })),
        links: res.links,
        lineStyle: { color: 'gradient', opacity: 0.35, curveness: 0.5 },
        label: { formatter: (p: { name: string }) => nodeLabel(p.name), width: right - 12, overflow: 'truncate' },
      },
    ],
    // The dimensions' names over their columns; the last one ends at the
    // right edge, over its labels.
    graphic: res.dimensions.map((d, i) => ({
      type: 'text',
      ...(i === last && i > 0 ? { right: 8 } : { left: i === 0 ? 8 : `${(i / Math.max(1, last)) * 80 + 1}%` }),
      top: 6,
      style: { text: d, fontWeight: 'bold', fill: '#8d99a8' },
    })),
  };
}
