// Dimension values as people know them.

const protocols: Record<string, string> = {
  '1': 'ICMP', '2': 'IGMP', '4': 'IPIP', '6': 'TCP', '17': 'UDP', '41': 'IPv6', '47': 'GRE', '50': 'ESP', '51': 'AH', '58': 'ICMPv6', '89': 'OSPF', '103': 'PIM', '112': 'VRRP', '132': 'SCTP',
};

/** protoName names an IP protocol number: 6 → TCP. */
export function protoName(v: string): string {
  return protocols[v] ?? v;
}

/** label shows a row's dimension values, leaving empty ones out. */
export function label(dimensions: string[], format?: (v: string) => string): string {
  const parts = dimensions.filter((d) => d !== '').map((d) => (format && d !== 'Other' ? format(d) : d));
  return parts.length ? parts.join(' · ') : '(unknown)';
}

/** ListKind is how the items of a list column read. */
export type ListKind = 'aspath' | 'communities' | 'largecommunities';

/** listKind tells the list columns (DstASPath, DstCommunities, DstLargeCommunities) apart. */
export function listKind(column: string): ListKind | null {
  if (/ASPath$/.test(column)) return 'aspath';
  if (/LargeCommunities$/.test(column)) return 'largecommunities';
  if (/Communities$/.test(column)) return 'communities';
  return null;
}

const u32 = 0xffffffffn;

/** listItem writes one item of a list as routers print it. */
function listItem(kind: ListKind, item: string): string {
  if (!/^\d+$/.test(item)) return item; // already "65000:100" or text
  switch (kind) {
    case 'aspath':
      return item;
    case 'communities': {
      const n = Number(item);
      return n <= 0xffffffff ? `${Math.floor(n / 65536)}:${n % 65536}` : item;
    }
    case 'largecommunities': {
      // 96 bits packed as ASN<<64 | Local1<<32 | Local2.
      const n = BigInt(item);
      return `${n >> 64n}:${(n >> 32n) & u32}:${n & u32}`;
    }
  }
}

/**
 * listText shows a list value as routers print it, items separated by
 * spaces, whatever form the store wrote it in ("[64500, 64501]",
 * "64500 64501"; communities as "65000:100" or as their 32-bit number, large
 * ones as "65000:1:2" or their 96-bit number).
 */
export function listText(kind: ListKind, v: string): string {
  const inner = v.trim().replace(/^\[(.*)\]$/s, '$1');
  return inner
    .split(/[\s,]+/)
    .map((i) => i.replace(/^['"](.*)['"]$/, '$1'))
    .filter((i) => i !== '')
    .map((i) => listItem(kind, i))
    .join(' ');
}

/**
 * shortLabels names rows of several dimensions (exporter name and address)
 * by their first non-empty value, or in full where that first value names
 * more than one row.
 */
export function shortLabels(rows: string[][], format?: (v: string) => string): string[] {
  const first = rows.map((d) => label(d.filter((v) => v !== '').slice(0, 1), format));
  const seen = new Map<string, number>();
  for (const f of first) seen.set(f, (seen.get(f) ?? 0) + 1);
  return rows.map((d, i) => (seen.get(first[i])! > 1 ? label(d, format) : first[i]));
}

/**
 * valueLabel shows a value of a column: Proto 6 → TCP, SrcAS 15169 →
 * AS15169; an empty AS path, and its first and last AS then 0, as
 * "(no route)".
 */
export function valueLabel(column: string, v: string): string {
  const list = listKind(column);
  if (list) v = listText(list, v);
  if ((column === 'DstASPath' && v === '') || (/^Dst(First|Last)AS$/.test(column) && v === '0')) return '(no route)';
  if (v === '') return '(empty)';
  if (column === 'Proto') return protoName(v);
  if (/AS$/.test(column) && /^\d+$/.test(v)) return `AS${v}`;
  return v;
}

/** condition writes the filter that keeps one value of a column. */
export function condition(column: string, value: string): string {
  if (/^[A-Za-z0-9_.:\/-]+$/.test(value)) return `${column} = ${value}`;
  return `${column} = '${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * fieldText shows a field of a flow as the API's JSON gives it (the last
 * flow of the home page): lists as their items separated by spaces
 * ([64500, 64501] → "64500 64501"); null for what is not worth a line
 * (empty text, 0, an empty list).
 */
export function fieldText(v: unknown): string | null {
  if (v === '' || v === 0 || v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.length ? v.map((i) => (typeof i === 'object' ? JSON.stringify(i) : String(i))).join(' ') : null;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
