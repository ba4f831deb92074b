import { describe, expect, it } from 'vitest';
import type { PipelineStats, StageStats } from './api';
import { detailTables, exporterRows, exportersOf, layers, protocolText, rates, samplingText, type ExporterStats } from './pipeline';

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

describe('exporters', () => {
  const ex = (address: string, packets: number, flows: number, last_seen: string): ExporterStats => ({ address, protocol: 'netflow9', packets, flows, decode_errors: 0, templates: 2, sampling_rates: [1000], last_seen });
  const src = (exporters: ExporterStats[] | null) => ({ ...st('source.netflow.routers', []), exporters });
  it('lists each source’s exporters with rates and silence', () => {
    const now = new Date('2026-11-30T12:00:00Z');
    const a: PipelineStats = { uptime: '1s', stages: [src([ex('192.0.2.1', 10, 100, '2026-11-30T11:59:58Z')])] };
    const b: PipelineStats = {
      uptime: '3s',
      stages: [src([ex('192.0.2.1', 30, 700, '2026-11-30T11:59:59Z'), ex('192.0.2.2', 5, 50, '2026-11-30T11:58:00Z')]), st('sink.file.f', ['source.netflow.routers'])],
    };
    const rows = exporterRows(a, b, 2, now);
    expect(rows.map((r) => [r.source, r.address, r.flowsPerSec, r.packetsPerSec, r.idle, r.stale])).toEqual([
      ['source.netflow.routers', '192.0.2.1', 300, 10, 1, false],
      ['source.netflow.routers', '192.0.2.2', undefined, undefined, 120, true],
    ]);
    expect(exporterRows(null, { uptime: '1s', stages: [src(null)] }, 2, now)).toEqual([]);
    expect(exportersOf(st('sink.file.f', []))).toBeNull();
    expect(exportersOf(src([]))).toEqual([]);
  });
  it('writes sampling rates and protocols as people read them', () => {
    expect(samplingText([1000])).toBe('1:1000');
    expect(samplingText([100, 1000])).toBe('1:100, 1:1000');
    expect(samplingText([1])).toBe('unsampled');
    expect(samplingText(null)).toBe('none announced');
    expect(samplingText([])).toBe('none announced');
    expect(protocolText('ipfix')).toEqual({ name: 'IPFIX', templates: true });
    expect(protocolText('sflow5')).toEqual({ name: 'sFlow v5', templates: false });
  });
});

describe('detailTables', () => {
  it('makes a table of each list in the details', () => {
    const bmp = { ...st('enricher.bmp.routes', []), details: { routers: [{ address: '192.0.2.1', connected: true, routes: 1200, peers: [{}, {}] }, { address: '192.0.2.2', connected: false, routes: 0, peers: [] }], note: 'x' } };
    expect(detailTables([st('source.netflow.a', []), bmp])).toEqual([
      {
        stage: 'enricher.bmp.routes',
        title: 'routers',
        columns: ['address', 'connected', 'routes', 'peers'],
        rows: [
          ['192.0.2.1', 'yes', '1200', '2'],
          ['192.0.2.2', 'no', '0', '0'],
        ],
      },
    ]);
  });
});
