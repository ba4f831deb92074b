// A chart drawn by ECharts, which is loaded the first time one is shown.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { EChartsType } from '../charts/echarts';
import { useTheme } from '../theme';

type Mod = typeof import('../charts/echarts');
let mod: Promise<Mod> | null = null;
function load(): Promise<Mod> {
  return (mod ??= import('../charts/echarts'));
}

export interface ChartProps {
  option: Record<string, unknown>;
  height: number | string;
  /** onSpan is called with the span selected with the mouse (x axis values). */
  onSpan?: (from: number, to: number) => void;
  class?: string;
  label?: string;
  /** highlight emphasizes the series of that name (hovered in a table). */
  highlight?: string | null;
}

export function Chart({ option, height, onSpan, class: cls, label, highlight }: ChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<EChartsType | null>(null);
  const span = useRef(onSpan);
  span.current = onSpan;
  const theme = useTheme();
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let dead = false;
    let ro: ResizeObserver | null = null;
    load().then((m) => {
      if (dead || !el.current) return;
      const c = m.init(el.current, theme === 'dark' ? 'dark' : undefined, { renderer: 'canvas' });
      chart.current = c;
      c.on('brushEnd', (p: unknown) => {
        const areas = (p as { areas?: { coordRange?: number[] }[] }).areas ?? [];
        const r = areas[0]?.coordRange;
        c.dispatchAction({ type: 'brush', areas: [] });
        if (r && r.length === 2 && span.current) span.current(Math.min(r[0], r[1]), Math.max(r[0], r[1]));
      });
      ro = new ResizeObserver(() => c.resize());
      ro.observe(el.current);
      setReady(true);
    });
    return () => {
      dead = true;
      ro?.disconnect();
      chart.current?.dispose();
      chart.current = null;
      setReady(false);
    };
  }, [theme]);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const brush = onSpan ? { brush: { xAxisIndex: 0, brushType: 'lineX', brushMode: 'single', transformable: false, toolbox: [], brushStyle: { color: 'rgba(90,162,240,0.2)', borderColor: 'rgba(90,162,240,0.8)' } } } : {};
    c.setOption({ backgroundColor: 'transparent', animation: false, ...brush, ...option }, { notMerge: true });
    if (onSpan) {
      c.dispatchAction({ type: 'takeGlobalCursor', key: 'brush', brushOption: { brushType: 'lineX', brushMode: 'single' } });
    }
  }, [option, ready]);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    c.dispatchAction({ type: 'downplay' });
    if (highlight) c.dispatchAction({ type: 'highlight', seriesName: highlight });
  }, [highlight, ready]);

  return <div ref={el} class={'chart ' + (cls ?? '')} style={{ height: typeof height === 'number' ? `${height}px` : height }} role="img" aria-label={label} data-ready={ready ? '1' : '0'} />;
}
