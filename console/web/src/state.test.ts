import { describe, expect, it } from 'vitest';
import { defaults, fromSearch, moveDimension, queryBody, splitDimension, toSearch, unanswerable, type VizState } from './state';

describe('state and URL', () => {
  it('leaves defaults out', () => {
    expect(toSearch(defaults)).toBe('');
    expect(fromSearch('')).toEqual(defaults);
  });

  it('round-trips every setting', () => {
    const s: VizState = {
      range: '2026-11-29 10:00 to 2026-11-29 14:30',
      dimensions: ['DstAddr/24', 'InIfProvider', 'Proto'],
      metric: 'pps',
      graph: 'sankey',
      limit: 25,
      filter: "InIfBoundary = external AND SrcAS IN (AS15169, 13335) AND InIfName = 'xe 1/0'",
      bidirectional: true,
      previous: true,
    };
    const q = toSearch(s);
    expect(q).toContain('graph=sankey');
    expect(q).toContain('dims=DstAddr%2F24%2CInIfProvider%2CProto');
    expect(fromSearch(q)).toEqual(s);
    expect(fromSearch('?' + q)).toEqual(s);
  });

  it('keeps no dimensions', () => {
    const s = { ...defaults, dimensions: [] };
    expect(toSearch(s)).toBe('dims=-');
    expect(fromSearch(toSearch(s)).dimensions).toEqual([]);
  });

  it('drops what is not valid', () => {
    const s = fromSearch('metric=furlongs&graph=pie&limit=-3&dims=SrcAS,,1bad,SrcAS,DstCountry,Drop%3BTable&bidir=maybe');
    expect(s.metric).toBe('l3bps');
    expect(s.graph).toBe('stacked');
    expect(s.limit).toBe(10);
    expect(s.dimensions).toEqual(['SrcAS', 'DstCountry']);
    expect(s.bidirectional).toBe(false);
  });

  it('caps the top-N', () => {
    expect(fromSearch('limit=500').limit).toBe(50);
  });
});

describe('dimensions', () => {
  it('splits a prefix length', () => {
    expect(splitDimension('SrcAddr/24')).toEqual({ column: 'SrcAddr', truncate: 24 });
    expect(splitDimension('SrcAS')).toEqual({ column: 'SrcAS', truncate: 0 });
  });
  it('moves', () => {
    expect(moveDimension(['a', 'b', 'c'], 2, -1)).toEqual(['a', 'c', 'b']);
    expect(moveDimension(['a', 'b', 'c'], 0, -1)).toEqual(['a', 'b', 'c']);
  });
});

describe('queryBody', () => {
  it('asks what the graph draws', () => {
    const start = new Date('2026-11-30T06:00:00Z');
    const end = new Date('2026-11-30T12:00:00Z');
    const b = queryBody({ ...defaults, graph: 'sankey', bidirectional: true, previous: true }, start, end, 200);
    expect(b).toMatchObject({ start: '2026-11-30T06:00:00.000Z', end: '2026-11-30T12:00:00.000Z', bidirectional: false, previous_period: false });
    expect(queryBody({ ...defaults, previous: true }, start, end, 200).previous_period).toBe(true);
  });
});

describe('unanswerable', () => {
  it('says a sankey needs two dimensions instead of asking', () => {
    expect(unanswerable({ ...defaults, graph: 'sankey', dimensions: ['SrcAS'] })).toBe('A sankey needs at least two dimensions: add one after SrcAS.');
    expect(unanswerable({ ...defaults, graph: 'sankey', dimensions: ['DstAddr/24'] })).toContain('after DstAddr.');
    expect(unanswerable({ ...defaults, graph: 'sankey', dimensions: [] })).toContain('add two');
    expect(unanswerable({ ...defaults, graph: 'sankey', dimensions: ['SrcAS', 'InIfName'] })).toBeNull();
  });
  it('lets other graphs ask with one dimension or none', () => {
    for (const graph of ['stacked', 'lines', 'stacked100', 'grid', 'table'] as const) {
      expect(unanswerable({ ...defaults, graph, dimensions: [] })).toBeNull();
      expect(unanswerable({ ...defaults, graph, dimensions: ['SrcAS'] })).toBeNull();
    }
  });
});
