import { describe, expect, it } from 'vitest';
import { byteOffset, charOffset, tokenEnd, wordKind } from './filtertext';

describe('offsets', () => {
  const s = "InIfDescription = 'Café 🚀' AND SrcAS = 1";
  it('converts both ways', () => {
    for (let i = 0; i <= s.length; i++) {
      if (i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) < 0xdc00) continue; // inside a pair
      expect(charOffset(s, byteOffset(s, i))).toBe(i);
    }
    expect(byteOffset(s, s.indexOf('AND'))).toBe(s.indexOf('AND') + 1 + 2); // é is 2 bytes, 🚀 is 4 bytes in 2 units
  });
  it('clamps past the end', () => {
    expect(charOffset('ab', 10)).toBe(2);
  });
});

describe('tokenEnd', () => {
  it.each([
    ['SrcAS = 1', 0, 5],
    ['SrcAS = 1', 6, 7],
    ['SrcAS << 10.0.0.0/8', 6, 8],
    ["X = 'a b' AND", 4, 9],
    ["X = 'a b", 4, 8],
    ['SrcAdr = 1', 0, 6],
    ['(a)', 0, 1],
  ])('%j at %i ends at %i', (s, i, want) => expect(tokenEnd(s, i)).toBe(want));
});

describe('wordKind', () => {
  const cols = new Set(['dstcommunities', 'dstaspath', 'dstlargecommunities', 'srcas']);
  it.each([
    ['HAS', 'operator'],
    ['has', 'operator'],
    ['LIKE', 'operator'],
    ['IN', 'operator'],
    ['NOT', 'keyword'],
    ['and', 'keyword'],
    ['DstCommunities', 'propertyName'],
    ['DstLargeCommunities', 'propertyName'],
    ['65000:100', 'number'],
    ['65000:1:2', 'number'],
    ['AS3356', 'number'],
    ['192.0.2.0/24', 'number'],
    ['tcp', 'atom'],
  ])('%s is %s', (w, kind) => {
    expect(wordKind(w, cols)).toBe(kind);
  });
});
