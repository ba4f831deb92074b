import { describe, expect, it } from 'vitest';
import { ago, count, duration, rate, si, total } from './units';

describe('rate', () => {
  it.each([
    [0, 'l3bps', '0 bps'],
    [999, 'l3bps', '999 bps'],
    [1000, 'l3bps', '1 kbps'],
    [1234, 'l3bps', '1.23 kbps'],
    [12_345_678, 'l3bps', '12.3 Mbps'],
    [999_600, 'l3bps', '1 Mbps'],
    [1.25e9, 'l2bps', '1.25 Gbps'],
    [400e9, 'l3bps', '400 Gbps'],
    [3.2e12, 'l3bps', '3.2 Tbps'],
    [3400, 'pps', '3.4 kpps'],
    [2_500_000, 'pps', '2.5 Mpps'],
    [120, 'flows', '120 flows/s'],
    [0.5, 'flows', '0.5 flows/s'],
    [0.004, 'flows', '0.004 flows/s'],
    [42.49, 'inl2%', '42.5 %'],
    [1.5, 'outl2%', '1.50 %'],
    [-2e6, 'l3bps', '-2 Mbps'],
    [NaN, 'l3bps', '–'],
  ] as const)('%s %s is %s', (v, m, want) => {
    expect(rate(v, m)).toBe(want);
  });
});

describe('total', () => {
  it('turns bits into bytes', () => {
    expect(total(8e9, 'l3bps')).toBe('1 GB');
    expect(total(12_000, 'l2bps')).toBe('1.5 kB');
  });
  it('counts packets and flows', () => {
    expect(total(2.5e6, 'pps')).toBe('2.5M packets');
    expect(total(42, 'flows')).toBe('42 flows');
  });
});

describe('si and count', () => {
  it('rounds to three digits', () => {
    expect(si(99.96, 'x')).toBe('100 x');
    expect(si(9.996, 'x')).toBe('10 x');
    expect(count(1234)).toBe('1.23k');
    expect(count(7)).toBe('7');
  });
});

describe('duration', () => {
  it.each([
    [5, '5s'],
    [90, '1m'],
    [3600, '1h'],
    [3900, '1h 5m'],
    [86400 * 3, '3d'],
    [86400 * 3 + 7200, '3d 2h'],
  ])('%i seconds is %s', (s, want) => expect(duration(s)).toBe(want));
  it('says ago', () => {
    const now = new Date('2026-11-30T12:00:00Z');
    expect(ago(new Date('2026-11-30T11:59:59.5Z'), now)).toBe('just now');
    expect(ago(new Date('2026-11-30T11:58:00Z'), now)).toBe('2m ago');
  });
});
