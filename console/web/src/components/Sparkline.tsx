// A small area chart in SVG, for the home page: no chart library to load
// before the first numbers show.
import { useState } from 'preact/hooks';

export interface SparklineProps {
  times: string[];
  values: number[];
  height: number;
  format(v: number): string;
  label: string;
}

const W = 600;

export function Sparkline({ times, values, height, format, label }: SparklineProps) {
  const [hover, setHover] = useState<number | null>(null);
  const n = values.length;
  if (n === 0) return null;
  const H = height;
  const top = 8;
  const bottom = 18;
  const max = Math.max(...values, 0) || 1;
  const x = (i: number) => (n === 1 ? W : (i / (n - 1)) * W);
  const y = (v: number) => top + (1 - v / max) * (H - top - bottom);
  const line = values.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
  const area = `${line}L${W},${H - bottom}L0,${H - bottom}Z`;
  const hhmm = (t: string) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return (
    <div class="sparkline" style={{ height: `${H}px` }} role="img" aria-label={label}>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        width="100%"
        height={H}
        onMouseMove={(e) => {
          const r = (e.currentTarget as SVGElement).getBoundingClientRect();
          setHover(Math.round(((e.clientX - r.left) / r.width) * (n - 1)));
        }}
        onMouseLeave={() => setHover(null)}
      >
        <line x1="0" x2={W} y1={y(max)} y2={y(max)} class="grid" />
        <line x1="0" x2={W} y1={H - bottom} y2={H - bottom} class="axis" />
        <path d={area} class="area" />
        <path d={line} class="line" vector-effect="non-scaling-stroke" />
        {hover !== null && <line x1={x(hover)} x2={x(hover)} y1={top} y2={H - bottom} class="cursor" vector-effect="non-scaling-stroke" />}
      </svg>
      <span class="max">{format(max)}</span>
      <span class="from">{hhmm(times[0])}</span>
      <span class="to">{hhmm(times[n - 1])}</span>
      {hover !== null && (
        <span class="tip" style={{ left: `${(x(hover) / W) * 100}%` }}>
          {hhmm(times[hover])} · <b>{format(values[hover])}</b>
        </span>
      )}
    </div>
  );
}
