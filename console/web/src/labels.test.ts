import { describe, expect, it } from 'vitest';
import { fieldText, label, listKind, listText, protoName, shortLabels, valueLabel } from './labels';

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

describe('list columns', () => {
  it('knows which columns are lists', () => {
    expect(listKind('DstASPath')).toBe('aspath');
    expect(listKind('DstCommunities')).toBe('communities');
    expect(listKind('DstLargeCommunities')).toBe('largecommunities');
    expect(listKind('DstFirstAS')).toBeNull();
    expect(listKind('DstAS')).toBeNull();
  });
  it('shows AS paths as routers print them', () => {
    for (const v of ['[64500, 64501, 64502]', '[64500,64501,64502]', '64500 64501 64502', ' 64500  64501 64502 '])
      expect(valueLabel('DstASPath', v)).toBe('64500 64501 64502');
    expect(valueLabel('DstASPath', '[]')).toBe('(no route)');
    expect(valueLabel('DstASPath', '')).toBe('(no route)');
    expect(valueLabel('DstCommunities', '[]')).toBe('(empty)');
  });
  it('shows communities as ASN:value', () => {
    expect(valueLabel('DstCommunities', "['65000:100', '65000:200']")).toBe('65000:100 65000:200');
    expect(valueLabel('DstCommunities', '65000:100 65000:200')).toBe('65000:100 65000:200');
    expect(valueLabel('DstCommunities', `[${65000 * 65536 + 100}, ${65535 * 65536 + 65281}]`)).toBe('65000:100 65535:65281');
  });
  it('shows large communities as ASN:local1:local2', () => {
    const packed = (asn: bigint, l1: bigint, l2: bigint) => ((asn << 64n) | (l1 << 32n) | l2).toString();
    expect(valueLabel('DstLargeCommunities', `[${packed(65000n, 1n, 2n)}, ${packed(4200000000n, 4294967295n, 0n)}]`)).toBe('65000:1:2 4200000000:4294967295:0');
    expect(valueLabel('DstLargeCommunities', '["65000:1:2","65000:3:4"]')).toBe('65000:1:2 65000:3:4');
    expect(listText('largecommunities', '65000:1:2')).toBe('65000:1:2');
  });
  it('labels the derived first and last AS like other AS columns', () => {
    expect(valueLabel('DstFirstAS', '64500')).toBe('AS64500');
    expect(valueLabel('DstLastAS', '0')).toBe('(no route)');
    expect(valueLabel('DstFirstAS', '0')).toBe('(no route)');
    expect(valueLabel('DstAS', '0')).toBe('AS0');
  });
});

describe('fieldText', () => {
  it('shows the fields of the last flow, lists as routers print them', () => {
    expect(fieldText([64500, 64501, 64502])).toBe('64500 64501 64502');
    expect(fieldText(['65000:100', '65000:200'])).toBe('65000:100 65000:200');
    expect(fieldText(['65000:1:2'])).toBe('65000:1:2');
    expect(fieldText('edge1')).toBe('edge1');
    expect(fieldText(443)).toBe('443');
  });
  it('leaves out what is empty', () => {
    for (const v of [[], '', 0, null, undefined]) expect(fieldText(v)).toBeNull();
  });
});

describe('shortLabels', () => {
  it('names exporters by name, with the address where two share a name', () => {
    const rows = [
      ['edge1.par', '192.0.2.1'],
      ['', '192.0.2.9'],
      ['edge2.ams', '192.0.2.2'],
      ['edge2.ams', '192.0.2.3'],
      ['Other', 'Other'],
    ];
    expect(shortLabels(rows)).toEqual(['edge1.par', '192.0.2.9', 'edge2.ams · 192.0.2.2', 'edge2.ams · 192.0.2.3', 'Other']);
  });
});
