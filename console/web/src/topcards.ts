// The home page's top-N cards: which dimension each lists, of which flows,
// what a row opens, and what an empty card says.
import { condition, listKind, listText, protoName } from './labels';

/** Row is a row of a widget's answer, as the cards read it. */
export interface Row {
  dimensions: string[];
}

/** TopSpec is one card of the home page. */
export interface TopSpec {
  title: string;
  /** the dimension listed, the column a row filters Visualize on */
  column: string;
  /** the flows counted (filter language), when not all */
  filter?: string;
  /** the widget, when not widgets/top/{column} */
  path?: string;
  /** Visualize's dimensions when a row opens it */
  dims: string;
  label?: (v: string) => string;
  /** several dimensions per row, shown by the first non-empty one */
  short?: boolean;
  /** what an empty card says: why nothing is there, what fills it */
  empty?: string;
  /** a note under the title: which flows are counted */
  note?: string;
}

const as = (v: string) => `AS${v}`;

/** routed keeps the flows that have a route (an AS path, from BMP). */
export const routed = "DstASPath != ''";

/** homeCards are the home page's top-N cards, in order. */
export const homeCards: TopSpec[] = [
  { title: 'Top exporters', path: 'console/widgets/exporters', column: 'ExporterAddress', dims: 'InIfName,OutIfName', short: true },
  { title: 'Top protocols', column: 'Proto', label: protoName, dims: 'DstPort' },
  { title: 'Top source AS', column: 'SrcAS', label: as, dims: 'DstAS' },
  {
    title: 'Leaving through (first AS)',
    column: 'DstFirstAS',
    filter: routed,
    label: as,
    dims: 'DstASPath',
    note: 'flows with a route',
    empty: 'No flow of the last hour has a route. The bmp enricher adds the AS path of each flow’s destination from its router’s BMP session (TCP port 10179 in the default pipeline); inbound flows have none.',
  },
  {
    title: 'Top AS paths',
    column: 'DstASPath',
    filter: routed,
    label: (v) => listText('aspath', v),
    dims: 'OutIfName',
    note: 'neighbour first, origin last',
    empty: 'No flow of the last hour has an AS path: the bmp enricher sets DstASPath from the routers’ BMP sessions.',
  },
  {
    title: 'Top destination countries',
    column: 'DstCountry',
    filter: "DstCountry != ''",
    dims: 'DstAS',
    empty: 'No flow of the last hour has a destination country: the geoip enricher sets SrcCountry and DstCountry from a GeoIP database (MaxMind or IPinfo), which the default pipeline does not have.',
  },
];

/** widgetPath is the API path of a card's widget. */
export function widgetPath(c: TopSpec): string {
  const path = c.path ?? `console/widgets/top/${encodeURIComponent(c.column)}`;
  return c.filter ? `${path}?${new URLSearchParams({ filter: c.filter })}` : path;
}

/**
 * explore links a row of a card to the visualize page over the last hour,
 * filtered on its value (a list as routers print it: the filter language's
 * form) and grouped by the card's dims.
 */
export function explore(c: TopSpec, value: string): string {
  const kind = listKind(c.column);
  // A list always quoted: DstASPath = '15169', a path of one AS.
  const filter = kind ? `${c.column} = '${listText(kind, value)}'` : condition(c.column, value);
  const q = new URLSearchParams({ range: 'last hour', dims: c.dims, filter });
  return '/visualize?' + q.toString();
}

/** hasValues says whether rows name anything but "Other" and empty values. */
export function hasValues(rows: Row[]): boolean {
  return rows.some((r) => r.dimensions.some((d) => d !== '' && d !== 'Other'));
}
