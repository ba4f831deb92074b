import { describe, expect, it } from 'vitest';
import type { LineResult } from './api';
import { recentQuery, recentRate } from './recent';

describe('recent', () => {
  it('asks the last minute in 10 s steps ending on a whole 10 s', () => {
    expect(recentQuery(new Date('2026-11-30T13:26:57.300Z'))).toEqual({ start: '2026-11-30T13:25:50Z', end: '2026-11-30T13:26:50Z', points: 6, metric: 'flows' });
  });
  const line = (values: number[]): LineResult => ({ start: '', end: '', step: 10, table: 'flows', time: values.map(() => ''), series: values.length ? [{ dimensions: [], axis: 1, values, total: 0, min: 0, max: 0, avg: 0, p95: 0 }] : [] });
  it('averages the steps but the last', () => {
    expect(recentRate(line([100, 200, 300, 10]))).toBe(200);
    expect(recentRate(line([50]))).toBe(50);
    expect(recentRate(line([]))).toBeNull();
    expect(recentRate(line([0, 0, 0]))).toBeNull();
    expect(recentRate(line([0, 0, 90, 110, 20]))).toBe(100);
  });
});
