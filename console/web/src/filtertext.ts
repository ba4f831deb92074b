// Offsets in a filter: the API counts UTF-8 bytes, the editor UTF-16 units.

const enc = new TextEncoder();

/** byteOffset is the UTF-8 byte offset of the UTF-16 index i of s. */
export function byteOffset(s: string, i: number): number {
  return enc.encode(s.slice(0, i)).length;
}

/** charOffset is the UTF-16 index of the UTF-8 byte offset b of s. */
export function charOffset(s: string, b: number): number {
  let bytes = 0;
  let i = 0;
  while (i < s.length && bytes < b) {
    const cp = s.codePointAt(i)!;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += cp >= 0x10000 ? 2 : 1;
  }
  return i;
}

/** tokenEnd is where the token starting at i ends, for underlining an error. */
export function tokenEnd(s: string, i: number): number {
  if (i >= s.length) return i;
  const q = s[i];
  if (q === "'" || q === '"') {
    const j = s.indexOf(q, i + 1);
    return j < 0 ? s.length : j + 1;
  }
  const m = /^(?:[^\s()',"=!<>]+|<<|<=|>=|!=|<>|[=<>(),])/.exec(s.slice(i));
  return i + (m ? m[0].length : 1);
}

/** keywords of the filter language, for highlighting. */
export const keywords = new Set(['AND', 'OR', 'NOT']);

/** wordOperators are the operators written as words (HAS: a list holds a value). */
export const wordOperators = new Set(['IN', 'LIKE', 'ILIKE', 'UNLIKE', 'IUNLIKE', 'HAS']);

/** WordKind is how the editor highlights a word of a filter. */
export type WordKind = 'keyword' | 'operator' | 'propertyName' | 'number' | 'atom';

/**
 * wordKind classifies a word of a filter (no spaces, quotes, brackets or
 * symbol operators in it) given the column names in lower case: AND/OR/NOT,
 * word operators, columns, numbers (AS64500, addresses and prefixes,
 * communities 65000:100 and large communities 65000:1:2), other values.
 */
export function wordKind(w: string, columns: Set<string>): WordKind {
  const up = w.toUpperCase();
  if (keywords.has(up)) return 'keyword';
  if (wordOperators.has(up)) return 'operator';
  if (columns.has(w.toLowerCase())) return 'propertyName';
  if (/^(AS)?\d+$/i.test(w) || /^[0-9a-f:.]+(\/\d+)?$/i.test(w)) return 'number';
  return 'atom';
}
