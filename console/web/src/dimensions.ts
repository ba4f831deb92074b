// The dimension picker of the visualize page: the columns the API lists,
// grouped as people look for them, and found by name or description.
import type { ColumnInfo } from './api';

// The groups in the order shown; a column goes to the first that matches,
// the BGP route of the destination before the other destination columns.
const bgp = /^Dst(ASPath|FirstAS|LastAS|Communities|LargeCommunities)$/;
const groupOrder: [string, RegExp][] = [
  ['Exporter', /^Exporter/],
  ['Source', /^Src/],
  ['Destination', /^(Dst|NextHop)/],
  ['Destination BGP route', bgp],
  ['Input interface', /^InIf/],
  ['Output interface', /^OutIf/],
  ['Other', /./],
];

/** groups sorts dimension columns into groups for the picker, in the API's order within each. */
export function groups(cols: ColumnInfo[]): [string, ColumnInfo[]][] {
  const out = new Map<string, ColumnInfo[]>(groupOrder.map(([g]) => [g, []]));
  for (const c of cols) {
    const g = bgp.test(c.name) ? 'Destination BGP route' : groupOrder.find(([, re]) => re.test(c.name))![0];
    out.get(g)!.push(c);
  }
  return [...out].filter(([, cs]) => cs.length > 0);
}

/**
 * pickable lists the dimensions that may still be added (not in used),
 * those matching every word of query in their name, description or group;
 * names starting with the query come first within a group.
 */
export function pickable(cols: ColumnInfo[], used: Set<string>, query: string): [string, ColumnInfo[]][] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const q = query.trim().toLowerCase();
  return groups(cols.filter((c) => c.dimension && !used.has(c.name)))
    .map(([g, cs]): [string, ColumnInfo[]] => {
      const hits = cs.filter((c) => {
        const text = `${c.name} ${c.description} ${g}`.toLowerCase();
        return words.every((w) => text.includes(w));
      });
      const first = (c: ColumnInfo) => (q && c.name.toLowerCase().startsWith(q) ? 0 : 1);
      return [g, hits.map((c, i) => ({ c, i })).sort((a, b) => first(a.c) - first(b.c) || a.i - b.i).map((x) => x.c)];
    })
    .filter(([, cs]) => cs.length > 0);
}
