// Numbers as network engineers read them: bits per second in kbps, Mbps,
// Gbps (powers of 1000), packets in k/M pps, volumes in bytes.

export type Metric = 'l3bps' | 'l2bps' | 'pps' | 'flows' | 'inl2%' | 'outl2%';

export const metrics: { value: Metric; label: string }[] = [
  { value: 'l3bps', label: 'L3 bits/s' },
  { value: 'l2bps', label: 'L2 bits/s' },
  { value: 'pps', label: 'packets/s' },
  { value: 'flows', label: 'flows/s' },
  { value: 'inl2%', label: '% of in interface speed' },
  { value: 'outl2%', label: '% of out interface speed' },
];

const prefixes = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

/** si writes v with a 1000-based prefix and about three significant digits. */
export function si(v: number, unit: string, space = ' '): string {
  if (!Number.isFinite(v)) return '–';
  const neg = v < 0;
  let a = Math.abs(v);
  let i = 0;
  while (a >= 999.5 && i < prefixes.length - 1) {
    a /= 1000;
    i++;
  }
  let s: string;
  if (a === 0) s = '0';
  else if (a >= 99.95) s = a.toFixed(0);
  else if (a >= 9.995) s = a.toFixed(1);
  else if (a >= 0.01 || i > 0) s = a.toFixed(2);
  else s = a.toPrecision(2);
  s = s.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  return (neg ? '-' : '') + s + space + prefixes[i] + unit;
}

/** rate formats a value of a metric: 1.25 Gbps, 3.4 kpps, 120 flows/s, 42.5 %. */
export function rate(v: number, metric: Metric): string {
  switch (metric) {
    case 'l3bps':
    case 'l2bps':
      return si(v, 'bps');
    case 'pps':
      return si(v, 'pps');
    case 'flows':
      return si(v, 'flows/s');
    case 'inl2%':
    case 'outl2%':
      return Number.isFinite(v) ? `${v >= 10 ? v.toFixed(1) : v.toFixed(2)} %` : '–';
  }
}

/** total formats the quantity of a metric over a range: bits become bytes. */
export function total(v: number, metric: Metric): string {
  switch (metric) {
    case 'l3bps':
    case 'l2bps':
      return si(v / 8, 'B');
    case 'pps':
      return si(v, '', '') + ' packets';
    case 'flows':
      return si(v, '', '') + ' flows';
    default:
      return '–';
  }
}

/** count formats a plain count: 1234 → 1.23k. */
export function count(v: number): string {
  return si(v, '', '');
}

/** duration formats seconds as 45s, 12m, 3h 5m, 2d 4h. */
export function duration(s: number): string {
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

/** ago formats how long ago a time was. */
export function ago(t: Date, now: Date = new Date()): string {
  const s = (now.getTime() - t.getTime()) / 1000;
  if (s < 2) return 'just now';
  return `${duration(s)} ago`;
}
