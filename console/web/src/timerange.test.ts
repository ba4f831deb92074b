import { describe, expect, it } from 'vitest';
import { formatRange, parseRange, type Range } from './timerange';

// Tests run with TZ=UTC (vite.config.ts), so local times are UTC.
const now = new Date('2026-11-30T12:34:56Z');

function ok(text: string): { start: string; end: string } {
  const r = parseRange(text, now);
  if ('error' in r) throw new Error(r.error);
  return { start: r.start.toISOString(), end: r.end.toISOString() };
}

describe('parseRange', () => {
  it.each([
    ['last 6 hours', '2026-11-30T06:34:56.000Z', '2026-11-30T12:34:56.000Z'],
    ['Last Hour', '2026-11-30T11:34:56.000Z', '2026-11-30T12:34:56.000Z'],
    ['past 2 days', '2026-11-28T12:34:56.000Z', '2026-11-30T12:34:56.000Z'],
    ['last 15m', '2026-11-30T12:19:56.000Z', '2026-11-30T12:34:56.000Z'],
    ['6h', '2026-11-30T06:34:56.000Z', '2026-11-30T12:34:56.000Z'],
    ['last week', '2026-11-23T12:34:56.000Z', '2026-11-30T12:34:56.000Z'],
    ['today', '2026-11-30T00:00:00.000Z', '2026-11-30T12:34:56.000Z'],
    ['yesterday', '2026-11-29T00:00:00.000Z', '2026-11-30T00:00:00.000Z'],
    ['2026-11-28', '2026-11-28T00:00:00.000Z', '2026-11-29T00:00:00.000Z'],
    ['2026-11-30', '2026-11-30T00:00:00.000Z', '2026-11-30T12:34:56.000Z'],
    ['2026-11-28 to 2026-11-29', '2026-11-28T00:00:00.000Z', '2026-11-30T00:00:00.000Z'],
    ['2026-11-29 10:00 to 2026-11-29 14:30', '2026-11-29T10:00:00.000Z', '2026-11-29T14:30:00.000Z'],
    ['2026-11-29 10:00 - 14:30', '2026-11-29T10:00:00.000Z', '2026-11-29T14:30:00.000Z'],
    ['2026-11-29T10:00:00Z .. 2026-11-29T11:00:00+01:00', '2026-11-29T10:00:00.000Z', '2026-11-29T10:00:00.001Z'],
    ['yesterday to now', '2026-11-29T00:00:00.000Z', '2026-11-30T12:34:56.000Z'],
    ['3 hours ago to 1 hour ago', '2026-11-30T09:34:56.000Z', '2026-11-30T11:34:56.000Z'],
    ['10:00 to now', '2026-11-30T10:00:00.000Z', '2026-11-30T12:34:56.000Z'],
  ])('%s', (text, start, end) => {
    if (text.includes('+01:00')) {
      // The end is before the start: an error, checked below.
      expect('error' in parseRange(text, now)).toBe(true);
      return;
    }
    expect(ok(text)).toEqual({ start, end });
  });

  it.each([
    ['', 'Type a time range'],
    ['last forever', 'say how long'],
    ['soon', 'is not a date'],
    ['2026-02-30', 'is not a date'],
    ['2026-11-29 25:00 to now', 'is not a date'],
    ['2026-11-29 10:00', 'one instant'],
    ['2026-11-29 to 2026-11-28', 'before it starts'],
    ['a to b to c', 'two ends'],
  ])('%j is an error', (text, msg) => {
    const r = parseRange(text, now);
    expect('error' in r && r.error).toContain(msg);
  });

  it('reads back what formatRange writes', () => {
    const r: Range = { start: new Date('2026-11-29T10:00:00Z'), end: new Date('2026-11-29T10:07:30Z') };
    expect(formatRange(r)).toBe('2026-11-29 10:00 to 2026-11-29 10:07:30');
    expect(parseRange(formatRange(r), now)).toEqual(r);
  });
});

import { describe as describeRange } from './timerange';

describe('describe', () => {
  it('writes one date when both ends share it', () => {
    expect(describeRange({ start: new Date('2026-11-30T06:34:56Z'), end: new Date('2026-11-30T12:34:56Z') })).toBe('2026-11-30 06:34 – 12:34');
    expect(describeRange({ start: new Date('2026-11-29T00:00:00Z'), end: new Date('2026-11-30T00:00:00Z') })).toBe('2026-11-29 00:00 – 2026-11-30 00:00');
  });
});
