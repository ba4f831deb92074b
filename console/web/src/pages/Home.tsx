// Home: what the pipeline receives now, at a glance, refreshing on its own.
import { useRef, useState } from 'preact/hooks';
import { api, ApiError, isAbort, type FlowRate, type LineResult, type PipelineStats, type TableResult } from '../api';
import { recentQuery, recentRate } from '../recent';
import { Sparkline } from '../components/Sparkline';
import { usePoll } from '../poll';
import { onLinkClick } from '../router';
import { palette } from '../theme';
import { fieldText, label as fmtLabel, shortLabels } from '../labels';
import { explore, hasValues, homeCards, widgetPath, type TopSpec } from '../topcards';
import { ago, rate as fmtRate, si } from '../units';

const refresh = 10_000;

interface Loaded<T> {
  data?: T;
  error?: string;
  status?: number;
  at?: Date;
}

function useWidget<T>(path: string, ms = refresh): Loaded<T> {
  const [s, set] = useState<Loaded<T>>({});
  usePoll(async (signal) => {
    try {
      const data = await api<T>(path, { signal });
      set({ data, at: new Date(), status: 200 });
    } catch (e) {
      if (isAbort(e)) return;
      const status = e instanceof ApiError ? e.status : 0;
      const error = status === 401 ? 'Waiting for the token (above).' : e instanceof ApiError ? e.message : String(e);
      set((old) => ({ ...old, error, status }));
    }
  }, ms);
  return s;
}

function Card(props: { title: string; note?: string; class?: string; testid?: string; children: preact.ComponentChildren; error?: string; loading?: boolean }) {
  return (
    <section class={'card ' + (props.class ?? '')} data-testid={props.testid}>
      <h2>
        {props.title}
        {props.note && <small class="note">{props.note}</small>}
      </h2>
      {props.error ? <div class="error-box">{props.error}</div> : props.loading ? <div class="loading">Loading…</div> : props.children}
    </section>
  );
}

/**
 * useLiveRate is the rate at which this process's sources receive flows,
 * from two samples of /api/v0/pipeline: it moves at once, while the store's
 * rate counts only the minutes already aggregated. null: no sources here
 * (a console over another process's store) or not known yet.
 */
function useLiveRate(): { rate: number | null; here: boolean } {
  const [rate, setRate] = useState<number | null>(null);
  const [here, setHere] = useState(true);
  const prev = useRef<{ n: number; t: number } | null>(null);
  const none = useRef(false); // no pipeline in this process: stop asking
  usePoll(async (signal) => {
    if (none.current) return;
    try {
      const p = await api<PipelineStats>('pipeline', { signal });
      const sources = p.stages.filter((s) => s.kind === 'source');
      if (!sources.length) {
        none.current = true;
        setHere(false);
        return setRate(null);
      }
      const n = sources.reduce((a, s) => a + s.flows_out, 0);
      const t = performance.now();
      if (prev.current && t > prev.current.t) setRate(Math.max(0, n - prev.current.n) / ((t - prev.current.t) / 1000));
      prev.current = { n, t };
    } catch (e) {
      if (e instanceof ApiError && e.status === 503) {
        none.current = true;
        setHere(false);
      }
    }
  }, 1500);
  return { rate, here };
}

/**
 * useStoredRate is, for a console without the sources in its process, the
 * rate of the flows stored in the last minute (raw flows, 10 s steps): the
 * flow-rate widget counts whole minutes only and says 0 in the first one.
 */
function useStoredRate(enabled: boolean): number | null {
  const [rate, setRate] = useState<number | null>(null);
  usePoll(async (signal) => {
    if (!enabled) return;
    try {
      setRate(recentRate(await api<LineResult>('console/graph/line', { body: recentQuery(new Date()), signal })));
    } catch {
      // The other widgets show the store's errors.
    }
  }, refresh, [enabled]);
  return rate;
}

function RateCard({ w, live, recent }: { w: Loaded<FlowRate>; live: number | null; recent: number | null }) {
  // The rate the pipeline receives now when this process has the sources,
  // or else the rate stored in the last minute; the store's average over
  // the minutes already aggregated beside it.
  const stored = w.data?.rate ?? 0;
  const shown = live ?? recent ?? stored;
  const minutes = w.data ? Math.round(w.data.period / 60) : 5;
  return (
    <Card title="Flows per second" class="rate" error={w.data ? undefined : w.error} loading={!w.data}>
      {w.data && (
        <div class="rate-body">
          <div class="bignum" data-testid="flow-rate" data-value={shown}>
            {si(shown, '', ' ').trim()}
            <small>{live !== null ? 'flows/s received now' : recent !== null ? 'flows/s stored in the last minute' : `flows/s, average of the last ${minutes} min`}</small>
            {(live !== null || recent !== null) && (
              <small class="muted">
                stored: {fmtRate(stored, 'flows')} over the last {minutes} min
              </small>
            )}
          </div>
          <Sparkline times={w.data.time} values={w.data.values} height={150} format={(v) => fmtRate(v, 'flows')} label="Flows per second over the last hour" />
        </div>
      )}
    </Card>
  );
}

/** share writes a fraction as a percentage people read: 61.2 %, 100 %. */
function share(f: number): string {
  return f >= 0.9995 ? '100 %' : `${(100 * f).toFixed(1)} %`;
}

/**
 * TopCard lists the top values of a widget, of the flows its filter keeps;
 * with short, a row of several dimensions (exporter name and address) shows
 * its first non-empty one unless another row shares it, the others in its
 * tooltip. An empty card says why, when its spec knows.
 */
function TopCard({ spec }: { spec: TopSpec }) {
  const w = useWidget<TableResult>(widgetPath(spec));
  const rows = w.data?.rows ?? [];
  const sum = rows.reduce((a, r) => a + r.avg, 0);
  const { label, short } = spec;
  const shorts = short ? shortLabels(rows.map((r) => r.dimensions), label) : [];
  const empty = spec.empty && w.data && !hasValues(rows);
  return (
    <Card title={spec.title} note={spec.note} class={empty ? 'top nodata' : 'top'} testid={`top-${spec.column}`} error={w.data ? undefined : w.error} loading={!w.data}>
      {empty ? (
        <p class="muted why" data-testid="why-empty">
          {spec.empty}
        </p>
      ) : rows.length === 0 ? (
        <p class="muted">Nothing stored in the last hour yet.</p>
      ) : (
        <table class="top">
          <tbody>
            {rows.map((r, i) => (
              <tr>
                <td class="name" title={`${fmtLabel(r.dimensions, label)}: explore`}>
                  <span class="swatch" style={{ background: palette[i % palette.length] }} />
                  {r.dimensions[r.dimensions.length - 1] === 'Other' ? (
                    'Other'
                  ) : (
                    <a href={explore(spec, r.dimensions[r.dimensions.length - 1])} onClick={onLinkClick}>
                      {short ? shorts[i] : fmtLabel(r.dimensions, label)}
                    </a>
                  )}
                </td>
                <td class="bar">
                  <span style={{ width: `${sum ? (100 * r.avg) / sum : 0}%`, background: palette[i % palette.length] }} />
                </td>
                <td class="num">{fmtRate(r.avg, 'l3bps')}</td>
                <td class="num muted">{sum ? share(r.avg / sum) : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function LastFlow({ w }: { w: Loaded<Record<string, unknown>> }) {
  const entries = Object.entries(w.data ?? {})
    .map(([k, v]) => [k, fieldText(v)])
    .filter(([, v]) => v !== null);
  const received = w.data?.TimeReceived as string | undefined;
  return (
    <Card title={received ? `Last flow received, ${ago(new Date(received))}` : 'Last flow received'} class="lastflow" error={w.data || w.status === 404 ? undefined : w.error} loading={!w.data && !w.error}>
      {w.status === 404 && <p class="muted">No flow stored yet.</p>}
      <dl class="kv">
        {entries.map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </>
        ))}
      </dl>
    </Card>
  );
}

function Empty() {
  return (
    <section class="card empty" data-testid="empty">
      <h2>No flows yet</h2>
      <p>The pipeline stores nothing so far. Point your exporters at this host:</p>
      <ul>
        <li>
          <b>NetFlow v5/v9 and IPFIX</b> to UDP port <code>2055</code>
        </li>
        <li>
          <b>sFlow</b> to UDP port <code>6343</code>
        </li>
        <li>
          <b>BMP</b> (BGP routes: AS paths, communities) to TCP port <code>10179</code>
        </li>
      </ul>
      <p class="muted">These are the ports of the default pipeline; the pipeline page lists the sources of yours.</p>
      <p>
        Or run the synthetic exporters: <code>make demo</code>, or <code>flowengine exporter -collector 127.0.0.1:2055</code>. The{' '}
        <a href="/pipeline" onClick={onLinkClick}>pipeline page</a> shows whether flows arrive; the{' '}
        <a href="/docs" onClick={onLinkClick}>docs</a> have router configuration snippets.
      </p>
    </section>
  );
}

export function Home() {
  const rate = useWidget<FlowRate>('console/widgets/flow-rate');
  const { rate: live, here } = useLiveRate();
  const recent = useStoredRate(!here);
  const last = useWidget<Record<string, unknown>>('console/widgets/last-flow');
  // Empty: nothing stored (no last flow) and nothing arriving.
  const empty = last.status === 404 && rate.data?.rate === 0 && !(live && live > 0) && !recent;
  return (
    <div class="page home">
      {empty && <Empty />}
      <div class="grid-home">
        <RateCard w={rate} live={live} recent={recent} />
        <LastFlow w={last} />
        {homeCards.map((c) => (
          <TopCard key={c.title} spec={c} />
        ))}
      </div>
    </div>
  );
}
