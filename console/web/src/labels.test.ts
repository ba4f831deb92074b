import { describe, expect, it } from 'vitest';
import { label, protoName, valueLabel } from './labels';

describe('labels', () => {
  it('names protocols and AS numbers', () => {
    expect(protoName('6')).toBe('TCP');
    expect(protoName('250')).toBe('250');
    expect(valueLabel('Proto', '17')).toBe('UDP');
    expect(valueLabel('SrcAS', '15169')).toBe('AS15169');
    expect(valueLabel('DstCountry', '')).toBe('(empty)');
  });
  it('leaves empty values out of a label', () => {
    expect(label(['', '192.0.2.1'])).toBe('192.0.2.1');
    expect(label(['', ''])).toBe('(unknown)');
    expect(label(['Other'], (v) => `AS${v}`)).toBe('Other');
  });
});

import { condition } from './labels';

describe('condition', () => {
  it('quotes what needs it', () => {
    expect(condition('SrcAS', '15169')).toBe('SrcAS = 15169');
    expect(condition('ExporterAddress', '2001:db8::1')).toBe('ExporterAddress = 2001:db8::1');
    expect(condition('InIfDescription', "Transit: O'Neil \\ co")).toBe("InIfDescription = 'Transit: O\\'Neil \\\\ co'");
  });
});
