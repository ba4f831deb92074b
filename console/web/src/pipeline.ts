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
