// The console API: JSON requests under /api/v0/, errors with the server's
// message, cancellation of superseded requests, a bearer token when the
// console asks for one, and a watch on the connection that reconnects.
import type { Metric } from './units';

export interface Stats {
  total: number;
  min: number;
  max: number;
  avg: number;
  p95: number;
}
export interface Series extends Stats {
  dimensions: string[];
  axis: number; // 1 direct, 2 reverse, 3 previous, 4 previous reverse
  values: number[];
}
export interface LineResult {
  start: string;
  end: string;
  step: number;
  table: string;
  time: string[];
  series: Series[];
}
export interface Row extends Stats {
  dimensions: string[];
  axis: number;
}
export interface TableResult {
  table: string;
  rows: Row[];
}
export interface SankeyResult {
  table: string;
  dimensions: string[];
  rows: Row[];
  nodes: string[];
  links: { source: string; target: string; value: number }[];
}
export interface FlowRate {
  rate: number;
  period: number;
  step: number;
  time: string[];
  values: number[];
}
export interface FilterError {
  offset: number;
  line: number;
  column: number;
  message: string;
}
export interface Completion {
  label: string;
  detail: string;
  kind: 'column' | 'operator' | 'value';
}
export interface ColumnInfo {
  name: string;
  type: string;
  description: string;
  dimension: boolean;
}
export interface SavedFilter {
  name: string;
  filter: string;
  description: string;
  updated: string;
}
export interface StageStats {
  id: string;
  kind: string;
  type: string;
  name: string;
  inputs: string[];
  outputs: string[];
  workers: number;
  when_full: string;
  state: string;
  flows_in: number;
  flows_out: number;
  flows_dropped: number;
  errors: number;
  restarts: number;
  queue_depth: number;
  queue_capacity: number;
  [extra: string]: unknown;
}
export interface PipelineStats {
  uptime: string;
  stages: StageStats[];
  [extra: string]: unknown;
}
export type { Metric };

/** ApiError is an answer other than 2xx, with the server's message. */
export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public limit?: string,
    public max?: number,
    public got?: number,
  ) {
    super(message);
  }
}

const tokenKey = 'flowengine.token';
type Listener = () => void;
const listeners = new Set<Listener>();

/** connection is what the console knows of its server. */
export const connection = {
  online: true,
  needToken: false,
  subscribe(l: Listener): () => void {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

function notify() {
  for (const l of listeners) l();
}

export function setToken(t: string) {
  if (t) localStorage.setItem(tokenKey, t);
  else localStorage.removeItem(tokenKey);
  connection.needToken = false;
  notify();
}

let probing = false;

/** lost marks the server unreachable and probes it until it answers. */
function lost() {
  if (!connection.online) return;
  connection.online = false;
  notify();
  if (probing) return;
  probing = true;
  const probe = async () => {
    try {
      const r = await fetch('/healthz', { cache: 'no-store' });
      if (r.ok) {
        probing = false;
        connection.online = true;
        notify();
        return;
      }
    } catch {
      /* still down */
    }
    setTimeout(probe, 2000);
  };
  setTimeout(probe, 1000);
}

/** api sends a request and decodes the JSON answer. */
export async function api<T>(path: string, opts: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const token = localStorage.getItem(tokenKey);
  if (token) headers.Authorization = `Bearer ${token}`;
  let r: Response;
  try {
    r = await fetch('/api/v0/' + path, {
      method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'),
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
    });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    lost();
    throw new ApiError(0, 'The console cannot reach its server: it retries every few seconds.');
  }
  if (!connection.online) {
    connection.online = true;
    notify();
  }
  if (r.status === 204) return undefined as T;
  let body: unknown;
  try {
    body = await r.json();
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    body = undefined;
  }
  if (!r.ok) {
    const b = body as { message?: string; limit?: string; max?: number; got?: number } | undefined;
    if (r.status === 401) {
      connection.needToken = true;
      notify();
    }
    throw new ApiError(r.status, b?.message ?? `The server answered ${r.status} ${r.statusText}.`, b?.limit, b?.max, b?.got);
  }
  return body as T;
}

/** isAbort tells a cancelled request from a failed one. */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/** Latest runs one request at a time: starting one cancels the one before. */
export class Latest {
  private ctl: AbortController | null = null;
  signal(): AbortSignal {
    this.ctl?.abort();
    this.ctl = new AbortController();
    return this.ctl.signal;
  }
  cancel() {
    this.ctl?.abort();
    this.ctl = null;
  }
}
