// Time ranges as people type them: "last 6 hours", "yesterday", "today",
// "2026-11-29", "2026-11-29 10:00 to 2026-11-29 14:30". Dates are local time
// unless they carry a zone. A range is kept as its text (in the URL too), so
// "last 6 hours" stays relative and moves with the clock.

export interface Range {
  start: Date;
  end: Date;
}

export type Parsed = Range | { error: string };

export const presets = [
  'last 15 minutes',
  'last hour',
  'last 6 hours',
  'last 24 hours',
  'last 7 days',
  'last 30 days',
  'today',
  'yesterday',
];

const unitSeconds: Record<string, number> = {
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
  m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600,
  d: 86400, day: 86400, days: 86400,
  w: 604800, week: 604800, weeks: 604800,
  mo: 2592000, month: 2592000, months: 2592000,
  y: 31536000, year: 31536000, years: 31536000,
};

function startOfDay(t: Date): Date {
  return new Date(t.getFullYear(), t.getMonth(), t.getDate());
}

function addDays(t: Date, n: number): Date {
  return new Date(t.getFullYear(), t.getMonth(), t.getDate() + n, t.getHours(), t.getMinutes(), t.getSeconds());
}

/** span parses "6 hours", "6h", "hour", "90 minutes" into seconds. */
function span(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)?\s*([a-z]+)$/.exec(s);
  if (!m || !(m[2] in unitSeconds)) return null;
  const n = m[1] === undefined ? 1 : Number(m[1]);
  return n > 0 ? n * unitSeconds[m[2]] : null;
}

interface Point {
  t: Date;
  day: boolean; // a bare day: as an end, it means the end of that day
}

/** point parses one end of a range. */
function point(s: string, now: Date): Point | null {
  s = s.trim();
  if (s === 'now') return { t: now, day: false };
  if (s === 'today') return { t: startOfDay(now), day: true };
  if (s === 'yesterday') return { t: addDays(startOfDay(now), -1), day: true };
  const ago = /^(.+?)\s+ago$/.exec(s);
  if (ago) {
    const sec = span(ago[1]);
    return sec === null ? null : { t: new Date(now.getTime() - sec * 1000), day: false };
  }
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(s);
  if (m) {
    const t = new Date(+m[1], +m[2] - 1, +m[3]);
    return t.getMonth() === +m[2] - 1 ? { t, day: true } : null;
  }
  m = /^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(s);
  if (m) {
    const t = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0);
    return t.getMonth() === +m[2] - 1 && +m[4] < 24 && +m[5] < 60 ? { t, day: false } : null;
  }
  m = /^(\d{1,2}):(\d{2})$/.exec(s);
  if (m && +m[1] < 24 && +m[2] < 60) {
    return { t: new Date(now.getFullYear(), now.getMonth(), now.getDate(), +m[1], +m[2]), day: false };
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(s)) {
    const t = new Date(s);
    return isNaN(t.getTime()) ? null : { t, day: false };
  }
  return null;
}

/** parseRange reads the text of a time range at the time now. */
export function parseRange(text: string, now: Date = new Date()): Parsed {
  const s = text.trim().toLowerCase().replace(/\s+/g, ' ');
  if (s === '') return { error: 'Type a time range, like "last 6 hours", "yesterday" or "2026-11-29 10:00 to 14:00".' };
  const rel = /^(?:last|past|previous)\s+(.+)$/.exec(s) ?? /^(\d+(?:\.\d+)?\s*[a-z]+)$/.exec(s);
  if (rel) {
    const sec = span(rel[1]);
    if (sec === null) return { error: `"${text.trim()}": say how long, like "last 6 hours", "last 2 days" or "last 30m".` };
    return { start: new Date(now.getTime() - sec * 1000), end: now };
  }
  if (s === 'today') return { start: startOfDay(now), end: now };
  if (s === 'yesterday') return { start: addDays(startOfDay(now), -1), end: startOfDay(now) };
  const parts = s.split(/\s+(?:to|until|→)\s+|\s+-\s+|\s*\.\.\s*/);
  if (parts.length > 2) return { error: `"${text.trim()}": a range has two ends, like "2026-11-29 10:00 to 2026-11-29 14:00".` };
  const a = point(parts[0], now);
  if (!a) return { error: `"${parts[0]}" is not a date: write 2026-11-29, 2026-11-29 10:00, "yesterday", "3 hours ago" or "now".` };
  if (parts.length === 1) {
    if (!a.day) return { error: `"${text.trim()}" is one instant: give two ends, like "${parts[0]} to now".` };
    const end = addDays(a.t, 1);
    return { start: a.t, end: end > now && a.t < now ? now : end };
  }
  let b = point(parts[1], now);
  // "2026-11-29 10:00 to 14:00": the end's time on the start's day.
  const hm = /^(\d{1,2}):(\d{2})$/.exec(parts[1].trim());
  if (hm && b) b = { t: new Date(a.t.getFullYear(), a.t.getMonth(), a.t.getDate(), +hm[1], +hm[2]), day: false };
  if (!b) return { error: `"${parts[1]}" is not a date: write 2026-11-29, 2026-11-29 14:00, "yesterday", "1 hour ago" or "now".` };
  let end = b.day ? addDays(b.t, 1) : b.t;
  if (b.day && end > now && b.t < now) end = now;
  if (end <= a.t) return { error: `The range ends (${formatTime(end)}) before it starts (${formatTime(a.t)}).` };
  return { start: a.t, end };
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** formatTime writes a time the way parseRange reads it back (local time). */
export function formatTime(t: Date): string {
  const base = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
  return t.getSeconds() ? `${base}:${pad(t.getSeconds())}` : base;
}

/** formatRange writes an absolute range as text parseRange reads back. */
export function formatRange(r: Range): string {
  return `${formatTime(r.start)} to ${formatTime(r.end)}`;
}

/** describe writes a range compactly for people: one date when both ends share it. */
export function describe(r: Range): string {
  const day = (t: Date) => `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
  const hm = (t: Date) => `${pad(t.getHours())}:${pad(t.getMinutes())}`;
  if (day(r.start) === day(r.end)) return `${day(r.start)} ${hm(r.start)} – ${hm(r.end)}`;
  return `${day(r.start)} ${hm(r.start)} – ${day(r.end)} ${hm(r.end)}`;
}
