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

/** valueLabel shows a value of a column: Proto 6 → TCP, SrcAS 15169 → AS15169. */
export function valueLabel(column: string, v: string): string {
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
