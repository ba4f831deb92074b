import { describe, expect, it } from 'vitest';
import type { LineResult, Series } from '../api';
import { complete, lineOption, nodeLabel, percent, sankeyOption, sankeyRight, seriesName } from './options';

function series(dimensions: string[], axis: number, values: number[]): Series {
  return { dimensions, axis, values, total: 0, min: 0, max: 0, avg: 0, p95: 0 };
}

const res: LineResult = {
  start: '2026-11-30T12:00:00Z',
  end: '2026-11-30T12:03:00Z',
  step: 60,
  table: 'flows_1m0s',
  time: ['2026-11-30T12:00:00Z', '2026-11-30T12:01:00Z', '2026-11-30T12:02:00Z'],
  series: [series(['TCP'], 1, [10, 20, 5]), series(['UDP'], 1, [30, 20, 1]), series(['TCP'], 2, [1, 1, 1]), series(['TCP'], 3, [7, 7, 7]), series(['UDP'], 3, [1, 1, 1])],
};

describe('chart options', () => {
  it('names series', () => {
    expect(seriesName(series([], 1, []))).toBe('Total');
    expect(seriesName(series(['AS1', ''], 2, []))).toBe('AS1 · (empty) (reverse)');
  });
  it('computes shares per axis', () => {
    const p = percent(res.series.filter((s) => s.axis <= 2));
    expect(p[0].values.map((v) => Math.round(v * 100) / 100)).toEqual([25, 50, 83.33]);
    expect(p[2].values).toEqual([100, 100, 100]);
  });
  it('leaves out the step still running', () => {
    expect(complete(res, Date.parse('2026-11-30T12:02:30Z'))).toBe(2);
    expect(complete(res, Date.parse('2026-11-30T12:03:00Z'))).toBe(3);
  });
  it('draws reverse below the axis and the previous period as one line', () => {
    const o = lineOption(res, 'stacked', 'l3bps', false, Date.parse('2026-11-30T13:00:00Z')) as { series: { name: string; data: number[][]; stack?: string }[] };
    expect(o.series.map((s) => s.name)).toEqual(['TCP', 'UDP', 'TCP (reverse)', 'Previous period']);
    expect(o.series[2].data[0][1]).toBe(-1);
    expect(o.series[3].data.map((d) => d[1])).toEqual([8, 8, 8]);
    expect(o.series[0].stack).toBe('axis1');
  });
  it('strips the dimension index of sankey nodes', () => {
    expect(nodeLabel('0:AS64501')).toBe('AS64501');
    expect(nodeLabel('1:')).toBe('(empty)');
    expect(nodeLabel('0:2001:db8::1')).toBe('2001:db8::1');
  });
  it('leaves room for the labels of the last sankey column', () => {
    const sk = (nodes: string[]) => ({ table: 'flows', dimensions: ['DstFirstAS', 'DstLargeCommunities'], rows: [], links: [], nodes });
    expect(sankeyRight(sk(['0:AS3356', '1:a']))).toBe(80);
    const wide = sankeyRight(sk(['0:AS3356', '1:64512:10:20 64512:11:0', '1:65000:1:2']));
    expect(wide).toBeGreaterThan(150);
    expect(sankeyRight(sk(['0:x', '1:' + '65000:1:2 '.repeat(40)]))).toBe(320);
    const o = sankeyOption(sk(['0:AS3356', '1:64512:10:20 64512:11:0']), 'l3bps') as { series: { right: number }[]; graphic: Record<string, unknown>[] };
    expect(o.series[0].right).toBe(wide);
    expect(o.graphic[1].right).toBe(8);
    expect(o.graphic[0].left).toBe(8);
  });
});
