// The pipeline graph: layers for drawing, and rates from two samples of the
// counters.
import type { PipelineStats, StageStats } from './api';

/** layers puts each stage in the column of its longest path from a source. */
export function layers(stages: StageStats[]): Map<string, number> {
  const byId = new Map(stages.map((s) => [s.id, s]));
  const layer = new Map<string, number>();
  const visit = (id: string, seen: Set<string>): number => {
    const known = layer.get(id);
    if (known !== undefined) return known;
    const s = byId.get(id);
    if (!s || seen.has(id)) return 0; // unknown input or a cycle: the engine refuses those
    seen.add(id);
    let l = 0;
    for (const i of s.inputs) if (byId.has(i)) l = Math.max(l, visit(i, seen) + 1);
    seen.delete(id);
    layer.set(id, l);
    return l;
  };
  for (const s of stages) visit(s.id, new Set());
  return layer;
}

export interface Rates {
  in: number;
  out: number;
  dropped: number;
  errors: number;
}

/** rates are the per-second changes of each stage's counters between two samples. */
export function rates(prev: PipelineStats | null, cur: PipelineStats, seconds: number): Map<string, Rates> {
  const out = new Map<string, Rates>();
  const before = new Map((prev?.stages ?? []).map((s) => [s.id, s]));
  for (const s of cur.stages) {
    const p = before.get(s.id);
    if (!p || seconds <= 0) continue;
    const d = (a: number, b: number) => Math.max(0, a - b) / seconds; // a restart resets nothing, but never go negative
    out.set(s.id, { in: d(s.flows_in, p.flows_in), out: d(s.flows_out, p.flows_out), dropped: d(s.flows_dropped, p.flows_dropped), errors: d(s.errors, p.errors) });
  }
  return out;
}

/** ExporterStats is what a NetFlow or sFlow source knows of one exporter. */
export interface ExporterStats {
  address: string;
  name?: string;
  protocol?: string;
  packets: number;
  flows: number;
  decode_errors: number;
  templates: number;
  sampling_rates: number[] | null;
  last_seen: string;
}

/** ExporterRow is one exporter as the pipeline page lists it. */
export interface ExporterRow extends ExporterStats {
  source: string;
  /** flows and packets per second since the previous sample; undefined for the first. */
  flowsPerSec?: number;
  packetsPerSec?: number;
  /** seconds since its last packet; stale past staleAfter. */
  idle: number;
  stale: boolean;
}

/** staleAfter is how long an exporter may stay silent before it is flagged. */
export const staleAfter = 60;

/** exportersOf returns the exporters a stage lists, or null for stages that keep none. */
export function exportersOf(s: StageStats): ExporterStats[] | null {
  return Array.isArray(s.exporters) ? (s.exporters as ExporterStats[]) : null;
}

/**
 * exporterRows lists every source's exporters, with rates from the previous
 * sample (seconds earlier) and how long each has been silent at now.
 */
export function exporterRows(prev: PipelineStats | null, cur: PipelineStats, seconds: number, now: Date): ExporterRow[] {
  const before = new Map<string, ExporterStats>();
  for (const s of prev?.stages ?? []) for (const e of exportersOf(s) ?? []) before.set(`${s.id} ${e.address}`, e);
  const rows: ExporterRow[] = [];
  for (const s of cur.stages) {
    for (const e of exportersOf(s) ?? []) {
      const p = before.get(`${s.id} ${e.address}`);
      const seen = Date.parse(e.last_seen);
      const idle = Number.isNaN(seen) || seen <= 0 ? Infinity : Math.max(0, (now.getTime() - seen) / 1000);
      const row: ExporterRow = { ...e, source: s.id, idle, stale: idle > staleAfter };
      if (p && seconds > 0) {
        row.flowsPerSec = Math.max(0, e.flows - p.flows) / seconds;
        row.packetsPerSec = Math.max(0, e.packets - p.packets) / seconds;
      }
      rows.push(row);
    }
  }
  return rows;
}

/**
 * samplingText shows sampling rates as routers print them: 1:1000, or
 * "1:100, 1:1000"; "unsampled" for 1; "none announced" when the exporter
 * gave none (its flows count as unsampled).
 */
export function samplingText(rates: number[] | null | undefined): string {
  if (!rates || rates.length === 0) return 'none announced';
  if (rates.length === 1 && rates[0] === 1) return 'unsampled';
  return rates.map((r) => `1:${r}`).join(', ');
}

/** protocolText names a protocol as people say it; templates exist only for NetFlow v9 and IPFIX. */
export function protocolText(p: string | undefined): { name: string; templates: boolean } {
  switch (p) {
    case 'netflow5':
      return { name: 'NetFlow v5', templates: false };
    case 'netflow9':
      return { name: 'NetFlow v9', templates: true };
    case 'ipfix':
      return { name: 'IPFIX', templates: true };
    case 'sflow5':
      return { name: 'sFlow v5', templates: false };
    default:
      return { name: p ?? '', templates: false };
  }
}

/** DetailTable is a list a stage reports in its details (the BMP routers, say), as a table. */
export interface DetailTable {
  stage: string;
  title: string;
  columns: string[];
  rows: string[][];
}

/**
 * detailTables turns every list of objects in the stages' details into a
 * table: numbers and text as they are, booleans as yes/no, nested lists as
 * their length, nested objects as JSON.
 */
export function detailTables(stages: StageStats[], fmt: (n: number) => string = String): DetailTable[] {
  const out: DetailTable[] = [];
  for (const s of stages) {
    const d = s.details;
    if (!d || typeof d !== 'object' || Array.isArray(d)) continue;
    for (const [k, v] of Object.entries(d as Record<string, unknown>)) {
      if (!Array.isArray(v)) continue;
      const objs = v.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x));
      const columns = [...new Set(objs.flatMap((o) => Object.keys(o)))];
      const cell = (x: unknown): string => {
        if (x === undefined || x === null) return '';
        if (typeof x === 'number') return fmt(x);
        if (typeof x === 'boolean') return x ? 'yes' : 'no';
        if (Array.isArray(x)) return String(x.length);
        if (typeof x === 'object') return JSON.stringify(x);
        return String(x);
      };
      out.push({ stage: s.id, title: k.replace(/_/g, ' '), columns: columns.map((c) => c.replace(/_/g, ' ')), rows: objs.map((o) => columns.map((c) => cell(o[c]))) });
    }
  }
  return out;
}
