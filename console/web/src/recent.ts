// The rate of flows stored in the last minute, for a console that runs
// apart from the pipeline (its process has no sources to sample): the
// flow-rate widget reads whole minutes only, so in the first minute it says 0.
import type { LineResult } from './api';

/** recentQuery asks the raw flows of the last minute, in 10-second steps ending on a whole 10 s. */
export function recentQuery(now: Date): { start: string; end: string; points: number; metric: 'flows' } {
  const end = Math.floor(now.getTime() / 10_000) * 10_000;
  const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  return { start: iso(end - 60_000), end: iso(end), points: 6, metric: 'flows' };
}

/**
 * recentRate is the flows per second of the steps of r from the first
 * with flows, the last one left out (flows of its last seconds may still be
 * on their way to the store); null when nothing was stored.
 */
export function recentRate(r: LineResult): number | null {
  let values = r.series[0]?.values ?? [];
  // Steps before the first flow do not count (the pipeline just started).
  const first = values.findIndex((v) => v > 0);
  values = first < 0 ? [] : values.slice(first);
  const full = values.length > 1 ? values.slice(0, -1) : values;
  if (!full.length) return null;
  const mean = full.reduce((a, v) => a + (Number.isFinite(v) ? v : 0), 0) / full.length;
  return mean > 0 ? mean : null;
}
