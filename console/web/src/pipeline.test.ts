import { describe, expect, it } from 'vitest';
import type { PipelineStats, StageStats } from './api';
import { layers, rates } from './pipeline';

function st(id: string, inputs: string[], flows_in = 0, flows_out = 0): StageStats {
  const [kind, type, name] = id.split('.');
  return { id, kind, type, name, inputs, outputs: [], workers: 1, when_full: 'block', state: 'running', flows_in, flows_out, flows_dropped: 0, errors: 0, restarts: 0, queue_depth: 0, queue_capacity: 16 };
}

describe('layers', () => {
  it('places a stage after its deepest input', () => {
    const l = layers([
      st('source.netflow.a', []),
      st('source.sflow.b', []),
      st('enricher.snmp.i', ['source.netflow.a', 'source.sflow.b']),
      st('classifier.exporter.c', ['enricher.snmp.i']),
      st('sink.file.f', ['classifier.exporter.c']),
      st('sink.kafka.k', ['source.netflow.a']),
    ]);
    expect(Object.fromEntries(l)).toEqual({
      'source.netflow.a': 0,
      'source.sflow.b': 0,
      'enricher.snmp.i': 1,
      'classifier.exporter.c': 2,
      'sink.file.f': 3,
      'sink.kafka.k': 1,
    });
  });
});

describe('rates', () => {
  it('divides the change by the time between samples', () => {
    const a: PipelineStats = { uptime: '1s', stages: [st('source.generate.g', [], 0, 100)] };
    const b: PipelineStats = { uptime: '3s', stages: [st('source.generate.g', [], 0, 700), st('sink.file.f', ['source.generate.g'], 5, 0)] };
    const r = rates(a, b, 2);
    expect(r.get('source.generate.g')).toEqual({ in: 0, out: 300, dropped: 0, errors: 0 });
    expect(r.has('sink.file.f')).toBe(false);
    expect(rates(null, b, 2).size).toBe(0);
  });
});
