import { describe, expect, it } from 'vitest';
import type { ColumnInfo } from './api';
import { groups, pickable } from './dimensions';

const col = (name: string, description: string, dimension = true): ColumnInfo => ({ name, type: 'uint32', description, dimension });
const cols = [
  col('TimeReceived', 'time the flow was received', false),
  col('ExporterName', 'exporter name (SNMP sysName or metadata)'),
  col('SrcAS', 'source AS number'),
  col('DstAS', 'destination AS number'),
  col('DstAddr', 'destination address'),
  col('InIfName', 'input interface name'),
  col('Proto', 'IP protocol'),
  col('DstASPath', 'BGP AS path towards the destination, neighbour first, origin last'),
  col('DstCommunities', 'BGP communities of the route to the destination (ASN:value)'),
  col('DstLargeCommunities', 'BGP large communities of the route to the destination (ASN:local1:local2)'),
  col('DstFirstAS', 'first AS of DstASPath (the neighbour)'),
  col('DstLastAS', 'last AS of DstASPath (the origin)'),
];
const names = (gs: [string, ColumnInfo[]][]) => gs.map(([g, cs]) => [g, cs.map((c) => c.name)]);

describe('dimension picker', () => {
  it('groups the BGP route of the destination apart', () => {
    expect(names(groups(cols.filter((c) => c.dimension)))).toEqual([
      ['Exporter', ['ExporterName']],
      ['Source', ['SrcAS']],
      ['Destination', ['DstAS', 'DstAddr']],
      ['Destination BGP route', ['DstASPath', 'DstCommunities', 'DstLargeCommunities', 'DstFirstAS', 'DstLastAS']],
      ['Input interface', ['InIfName']],
      ['Other', ['Proto']],
    ]);
  });
  it('lists dimensions only, without those in use', () => {
    const all = pickable(cols, new Set(['SrcAS']), '').flatMap(([, cs]) => cs.map((c) => c.name));
    expect(all).not.toContain('TimeReceived');
    expect(all).not.toContain('SrcAS');
    expect(all).toContain('DstLastAS');
  });
  it('finds by name, description or group', () => {
    expect(names(pickable(cols, new Set(), 'communit'))).toEqual([['Destination BGP route', ['DstCommunities', 'DstLargeCommunities']]]);
    expect(names(pickable(cols, new Set(), 'origin'))).toEqual([['Destination BGP route', ['DstASPath', 'DstLastAS']]]);
    expect(names(pickable(cols, new Set(), 'bgp large'))).toEqual([['Destination BGP route', ['DstLargeCommunities']]]);
    expect(names(pickable(cols, new Set(), 'input'))).toEqual([['Input interface', ['InIfName']]]);
    expect(pickable(cols, new Set(), 'nothing like this')).toEqual([]);
  });
  it('puts names that start with the query first', () => {
    expect(names(pickable(cols, new Set(), 'dstas'))).toEqual([['Destination', ['DstAS']], ['Destination BGP route', ['DstASPath', 'DstFirstAS', 'DstLastAS']]]);
    expect(names(pickable(cols, new Set(), 'dstl'))[0]).toEqual(['Destination BGP route', ['DstLargeCommunities', 'DstLastAS']]);
  });
});
