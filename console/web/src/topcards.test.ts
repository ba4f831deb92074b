import { describe, expect, it } from 'vitest';
import { explore, hasValues, homeCards, routed, widgetPath } from './topcards';

const card = (title: string) => homeCards.find((c) => c.title === title)!;

describe('home cards', () => {
  it('counts only the flows with a route in the BGP cards', () => {
    const bgp = homeCards.filter((c) => c.column.startsWith('DstFirstAS') || c.column === 'DstASPath');
    expect(bgp.map((c) => c.column)).toEqual(['DstFirstAS', 'DstASPath']);
    for (const c of bgp) {
      expect(c.filter).toBe(routed);
      expect(c.empty).toMatch(/bmp enricher/);
    }
  });

  it('says which enricher fills the countries', () => {
    expect(card('Top destination countries').filter).toBe("DstCountry != ''");
    expect(card('Top destination countries').empty).toMatch(/geoip enricher/);
  });

  it('passes the filter as a query parameter', () => {
    expect(widgetPath(card('Top AS paths'))).toBe("console/widgets/top/DstASPath?filter=DstASPath+%21%3D+%27%27");
    expect(new URLSearchParams(widgetPath(card('Top AS paths')).split('?')[1]).get('filter')).toBe("DstASPath != ''");
    expect(widgetPath(card('Top source AS'))).toBe('console/widgets/top/SrcAS');
    expect(widgetPath(card('Top exporters'))).toBe('console/widgets/exporters');
  });

  it('labels paths and first AS as routers print them', () => {
    expect(card('Top AS paths').label!('[64501, 3356, 15169]')).toBe('64501 3356 15169');
    expect(card('Leaving through (first AS)').label!('64501')).toBe('AS64501');
  });

  it('opens Visualize filtered on the row', () => {
    const link = new URL(explore(card('Top AS paths'), '[64501, 3356, 15169]'), 'http://x');
    expect(link.pathname).toBe('/visualize');
    expect(link.searchParams.get('filter')).toBe("DstASPath = '64501 3356 15169'");
    expect(link.searchParams.get('dims')).toBe('OutIfName');
    expect(link.searchParams.get('range')).toBe('last hour');
    expect(new URL(explore(card('Top AS paths'), '15169'), 'http://x').searchParams.get('filter')).toBe("DstASPath = '15169'");
    const first = new URL(explore(card('Leaving through (first AS)'), '64501'), 'http://x');
    expect(first.searchParams.get('filter')).toBe('DstFirstAS = 64501');
    expect(first.searchParams.get('dims')).toBe('DstASPath');
    expect(new URL(explore(card('Top destination countries'), 'FR'), 'http://x').searchParams.get('filter')).toBe('DstCountry = FR');
  });

  it('tells an empty card', () => {
    expect(hasValues([])).toBe(false);
    expect(hasValues([{ dimensions: [''] }, { dimensions: ['Other'] }])).toBe(false);
    expect(hasValues([{ dimensions: ['64501 3356'] }])).toBe(true);
  });
});
