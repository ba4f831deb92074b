// Pipeline: the running pipeline's compiled graph, each stage with its live
// rates, drops, queue and errors.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, isAbort, type PipelineStats, type StageStats } from '../api';
import { detailTables, exporterRows, exportersOf, layers, protocolText, rates, samplingText, type ExporterRow, type Rates } from '../pipeline';
import { usePoll } from '../poll';
import { count, duration, si } from '../units';

const WMAX = 236;
const WMIN = 132;
const H = 162;
const GX = 32;
const GY = 18;
const PAD = 20;

const kindColor: Record<string, string> = {
  source: '#2f7dd1',
  enricher: '#3aa76d',
  classifier: '#8e6bd1',
  processor: '#c9a227',
  sink: '#e8833a',
};

function perSec(v: number | undefined): string {
  return v === undefined ? '…' : si(v, '/s', ' ');
}

function Node({ s, r, x, y, w }: { s: StageStats; r?: Rates; x: number; y: number; w: number }) {
  const compact = w < 210; // totals go to the tooltips
  const source = s.kind === 'source';
  const sink = s.kind === 'sink';
  const fill = s.queue_capacity ? s.queue_depth / s.queue_capacity : 0;
  return (
    <div class="node" style={{ left: `${x}px`, top: `${y}px`, width: `${w}px`, height: `${H}px`, '--kind': kindColor[s.kind] ?? '#7a8b99' }} data-testid="stage" data-id={s.id}>
      <span class={`state ${s.state}`}>{s.state}</span>
      <div class="kind">{s.kind}</div>
      <div class="title" title={s.id}>
        {s.type} <span class="muted">"{s.name}"</span>
      </div>
      <div class="stats">
        {!source && (
          <>
            <span class="muted">in</span>
            <span class="num" data-testid="in-total" data-value={s.flows_in} title={`${s.flows_in} flows in`}>
              {perSec(r?.in)} {!compact && <span class="muted">· {count(s.flows_in)}</span>}
            </span>
          </>
        )}
        {!sink && (
          <>
            <span class="muted">out</span>
            <span class="num" data-testid="out-total" data-value={s.flows_out} title={`${s.flows_out} flows out`}>
              {perSec(r?.out)} {!compact && <span class="muted">· {count(s.flows_out)}</span>}
            </span>
          </>
        )}
        {exportersOf(s) !== null && (
          <>
            <span class="muted">exporters</span>
            <span class="num" data-testid="exporters-total">
              {count(Number(s.exporters_total ?? 0))}
            </span>
          </>
        )}
        <span class="muted">dropped</span>
        <span class={'num' + (s.flows_dropped ? ' bad' : '')}>
          {count(s.flows_dropped)}
          {r && r.dropped > 0 ? ` (${perSec(r.dropped)})` : ''}
        </span>
        <span class="muted">errors</span>
        <span class={'num' + (s.errors ? ' bad' : '')}>
          {count(s.errors)}
          {s.restarts ? ` · ${s.restarts} restarts` : ''}
        </span>
        {s.queue_capacity > 0 && (
          <>
            <span class="muted">queue</span>
            <span class="num">
              {s.queue_depth}/{s.queue_capacity}
              {s.workers > 1 ? ` · ${s.workers} workers` : ''}
            </span>
          </>
        )}
      </div>
      {s.queue_capacity > 0 && (
        <div class={'queue' + (fill > 0.8 ? ' full' : '')} title={`${s.queue_depth} of ${s.queue_capacity} batches waiting (when full: ${s.when_full})`}>
          <span style={{ width: `${Math.round(fill * 100)}%` }} />
        </div>
      )}
    </div>
  );
}

/** Exporters lists what each NetFlow/sFlow source knows of its exporters. */
function Exporters({ rows, stats, stale }: { rows: ExporterRow[]; stats: PipelineStats; stale: boolean }) {
  const sources = stats.stages.filter((s) => exportersOf(s) !== null);
  if (!sources.length) return null;
  const total = sources.reduce((a, s) => a + Number(s.exporters_total ?? 0), 0);
  const shown = rows.length;
  return (
    <section class={'card exporters' + (stale ? ' stale' : '')} data-testid="exporters" title={stale ? 'The last state the server sent' : undefined}>
      <h2>
        Exporters <span class="muted">{total > shown ? `${shown} most active of ${total}` : `${shown}`}</span>
      </h2>
      {!rows.length ? (
        <p class="muted" data-testid="no-exporters">
          No exporter has sent anything yet. Point NetFlow/IPFIX and sFlow at this host: UDP 2055 and 6343 in the default pipeline, else the{' '}
          <code>listen</code> of {sources.map((s) => `${s.type} "${s.name}"`).join(' and ')}.
        </p>
      ) : (
        <div style={{ overflowX: 'auto' }}>
          <table class="data">
            <thead>
              <tr>
                <th>exporter</th>
                {sources.length > 1 && <th>source</th>}
                <th>protocol</th>
                <th class="num">flows/s</th>
                <th class="num">packets/s</th>
                <th class="num">flows</th>
                <th class="num">packets</th>
                <th class="num">decode errors</th>
                <th class="num">templates</th>
                <th>sampling</th>
                <th>last seen</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const p = protocolText(r.protocol);
                return (
                  <tr key={`${r.source} ${r.address}`} class={r.stale ? 'stale' : ''} data-testid="exporter" data-address={r.address} data-flows={r.flows}>
                    <td title={r.name ? `${r.name} (${r.address})` : r.address}>
                      {r.name ? (
                        <>
                          {r.name} <span class="muted">{r.address}</span>
                        </>
                      ) : (
                        r.address
                      )}
                    </td>
                    {sources.length > 1 && <td class="muted">{r.source.split('.').slice(1).join(' ')}</td>}
                    <td>{p.name}</td>
                    <td class="num">{perSec(r.flowsPerSec)}</td>
                    <td class="num">{perSec(r.packetsPerSec)}</td>
                    <td class="num" title={`${r.flows}`}>
                      {count(r.flows)}
                    </td>
                    <td class="num" title={`${r.packets}`}>
                      {count(r.packets)}
                    </td>
                    <td class={'num' + (r.decode_errors ? ' bad' : '')}>{count(r.decode_errors)}</td>
                    <td class="num">{p.templates ? r.templates : '–'}</td>
                    <td class={r.sampling_rates?.length ? '' : 'muted'} title={r.sampling_rates?.length ? undefined : 'The exporter announced no sampling rate: its flows are stored as unsampled (default_sampling_rate sets one).'}>
                      {samplingText(r.sampling_rates)}
                    </td>
                    <td class={r.stale ? 'bad' : 'muted'} title={r.last_seen}>
                      {Number.isFinite(r.idle) ? (r.idle < 2 ? 'just now' : `${duration(r.idle)} ago`) : '–'}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** Details shows the lists stages report of their state (the BMP routers, say). */
function Details({ stages }: { stages: StageStats[] }) {
  return (
    <>
      {detailTables(stages, count).map((t) => (
        <section class="card exporters" data-testid="details" data-stage={t.stage}>
          <h2>
            {t.title} <span class="muted">{t.stage}</span>
          </h2>
          {t.rows.length === 0 ? (
            <p class="muted">None yet.</p>
          ) : (
            <div style={{ overflowX: 'auto' }}>
              <table class="data">
                <thead>
                  <tr>
                    {t.columns.map((c) => (
                      <th>{c}</th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {t.rows.map((r) => (
                    <tr>
                      {r.map((c) => (
                        <td>{c}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      ))}
    </>
  );
}

export function Pipeline() {
  const [stats, setStats] = useState<PipelineStats | null>(null);
  const [rate, setRate] = useState<Map<string, Rates>>(new Map());
  const [exporters, setExporters] = useState<ExporterRow[]>([]);
  const [error, setError] = useState('');
  const prev = useRef<{ s: PipelineStats; t: number } | null>(null);

  usePoll(async (signal) => {
    try {
      const s = await api<PipelineStats>('pipeline', { signal });
      const t = performance.now();
      const seconds = prev.current ? (t - prev.current.t) / 1000 : 0;
      if (prev.current) setRate(rates(prev.current.s, s, seconds));
      setExporters(exporterRows(prev.current?.s ?? null, s, seconds, new Date()));
      prev.current = { s, t };
      setStats(s);
      setError('');
    } catch (e) {
      if (!isAbort(e)) setError(e instanceof ApiError ? e.message : String(e));
    }
  }, 2000);

  const box = useRef<HTMLDivElement>(null);
  const [avail, setAvail] = useState(1240);
  useEffect(() => {
    if (!box.current) return;
    const ro = new ResizeObserver(() => box.current && setAvail(box.current.clientWidth));
    ro.observe(box.current);
    return () => ro.disconnect();
  }, [stats !== null]);

  const layout = useMemo(() => {
    if (!stats) return null;
    const l = layers(stats.stages);
    const cols: StageStats[][] = [];
    for (const s of stats.stages) (cols[l.get(s.id) ?? 0] ??= []).push(s);
    const n = cols.length;
    // The widest nodes that fit the page, down to WMIN; beyond, it scrolls.
    const W = Math.max(WMIN, Math.min(WMAX, Math.floor((avail - 2 * PAD - (n - 1) * GX) / n)));
    const tallest = Math.max(...cols.map((c) => c?.length ?? 0));
    const height = PAD * 2 + tallest * H + (tallest - 1) * GY;
    const pos = new Map<string, { x: number; y: number }>();
    cols.forEach((c, i) => {
      const h = c.length * H + (c.length - 1) * GY;
      c.forEach((s, j) => pos.set(s.id, { x: PAD + i * (W + GX), y: (height - h) / 2 + j * (H + GY) }));
    });
    return { pos, W, width: PAD * 2 + cols.length * W + (cols.length - 1) * GX, height };
  }, [stats, avail]);

  if (!stats) return <div class="page">{error ? <div class="error-box">{error}</div> : <div class="loading">Loading…</div>}</div>;
  const sources = stats.stages.filter((s) => s.kind === 'source');
  const sinks = stats.stages.filter((s) => s.kind === 'sink');
  const sum = (ss: StageStats[], f: (r: Rates) => number) => ss.reduce((a, s) => a + (rate.get(s.id) ? f(rate.get(s.id)!) : 0), 0);
  const dropped = stats.stages.reduce((a, s) => a + s.flows_dropped, 0);
  return (
    <div class="page">
      <div class="pipeline-head">
        <h1>Pipeline</h1>
        <span class="muted">
          {stats.stages.length} stages · up {stats.uptime} · {perSec(rate.size ? sum(sources, (r) => r.out) : undefined)} received by {sources.length} source{sources.length === 1 ? '' : 's'} · {sinks.length} sink{sinks.length === 1 ? '' : 's'}
          {dropped ? ` · ${count(dropped)} dropped` : ''}
        </span>
        {error && <span class="err">{error}</span>}
      </div>
      {layout && (
        <div class={'dag' + (error ? ' stale' : '')} ref={box} style={{ height: `${layout.height + 4}px` }} title={error ? 'The last state the server sent' : undefined}>
          <svg class="edges" width={layout.width} height={layout.height}>
            {stats.stages.flatMap((s) =>
              s.inputs.map((i) => {
                const a = layout.pos.get(i);
                const b = layout.pos.get(s.id);
                if (!a || !b) return null;
                const x1 = a.x + layout.W;
                const y1 = a.y + H / 2;
                const x2 = b.x;
                const y2 = b.y + H / 2;
                const live = (rate.get(i)?.out ?? 0) > 0;
                return <path class={live ? 'live' : ''} d={`M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`} />;
              }),
            )}
          </svg>
          {stats.stages.map((s) => {
            const p = layout.pos.get(s.id)!;
            return <Node s={s} r={rate.get(s.id)} x={p.x} y={p.y} w={layout.W} />;
          })}
        </div>
      )}
      <Exporters rows={exporters} stats={stats} stale={error !== ''} />
      <Details stages={stats.stages} />
    </div>
  );
}
