import { describe, expect, it } from 'vitest';
import { FLOW_COLUMNS } from '@flowhound/schema';
import { REVERSE_PEN, fieldName, fieldType, ianaElement, ianaElementByName, ianaElements } from './ie.ts';

describe('IANA element registry subset', () => {
  it('knows every element a schema column is filled from', () => {
    // Ids from 32768 up are NetFlow v9 vendor field types (Cisco NSEL), outside the IPFIX id space.
    for (const c of FLOW_COLUMNS) for (const id of c.ies) if (id < 32768) expect(ianaElement(id), `${c.name} ← ${id}`).toBeDefined();
    for (const c of FLOW_COLUMNS) for (const e of c.enterpriseIes) if (e.enterprise === 29305) expect(ianaElement(e.id), `${c.name} ← reverse ${e.id}`).toBeDefined();
  });

  it('uses the exact IANA names and types', () => {
    expect(ianaElement(1)).toEqual({ id: 1, name: 'octetDeltaCount', type: 'unsigned64' });
    expect(ianaElement(8)?.name).toBe('sourceIPv4Address');
    expect(ianaElement(22)).toEqual({ id: 22, name: 'flowStartSysUpTime', type: 'unsigned32' });
    expect(ianaElement(152)?.type).toBe('dateTimeMilliseconds');
    expect(ianaElement(156)?.type).toBe('dateTimeNanoseconds');
    expect(ianaElement(160)?.name).toBe('systemInitTimeMilliseconds');
    expect(ianaElement(225)?.name).toBe('postNATSourceIPv4Address');
    expect(ianaElement(233)?.name).toBe('firewallEvent');
    expect(ianaElement(281)?.type).toBe('ipv6Address');
    expect(ianaElement(323)?.name).toBe('observationTimeMilliseconds');
    expect(ianaElement(361)?.name).toBe('portRangeStart');
    expect(ianaElementByName('samplingPacketInterval')?.id).toBe(305);
  });

  it('has no duplicate names and covers the ranges exporters use', () => {
    const all = ianaElements();
    expect(new Set(all.map((e) => e.name)).size).toBe(all.length);
    for (const id of [1, 50, 100, 130, 160, 176, 200, 240, 281, 282, 323, 364]) expect(ianaElement(id), String(id)).toBeDefined();
  });

  it('names reverse, enterprise and unknown fields', () => {
    expect(fieldName(1, REVERSE_PEN)).toBe('reverseOctetDeltaCount');
    expect(fieldName(6, REVERSE_PEN)).toBe('reverseTcpControlBits');
    expect(fieldType(1, REVERSE_PEN)).toBe('unsigned64');
    expect(fieldName(40, 6871)).toBe('6871.40');
    expect(fieldType(40, 6871)).toBeUndefined();
    expect(fieldName(40001, 0)).toBe('0.40001');
  });
});
