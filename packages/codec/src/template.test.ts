import { describe, expect, it } from 'vitest';
import {
  C_BYTES,
  C_FLOW_START,
  C_ICMP,
  C_SRC_ADDR,
  MemoryTemplateStore,
  OP_ICMP_CODE,
  OP_ICMP_TYPE,
  OP_IP4,
  OP_SKIP,
  OP_TIME,
  OP_U64,
  DEFAULT_MAX_TEMPLATES_PER_EXPORTER,
  VARIABLE_LENGTH,
  WITHDRAW_ALL,
  WITHDRAW_ALL_DATA,
  WITHDRAW_ALL_OPTIONS,
  compileTemplate,
  parseTemplateSet,
  sameTemplate,
  type TemplateDef,
} from './template.ts';

const f = (id: number, length: number, enterprise = 0) => ({ id, length, enterprise });

describe('compileTemplate', () => {
  it('precomputes offsets and ops for a fixed-length template', () => {
    const t = compileTemplate({ version: 9, domain: 0, templateId: 256, scopeFieldCount: 0, fields: [f(8, 4), f(1, 8), f(22, 4), f(99, 2), f(12, 4)] });
    expect(t.recordLength).toBe(22);
    expect([...t.offsets]).toEqual([0, 4, 12, 16, 18]);
    expect(t.ops[0]).toBe(OP_IP4);
    expect(t.cols[0]).toBe(C_SRC_ADDR);
    expect(t.ops[1]).toBe(OP_U64);
    expect(t.cols[1]).toBe(C_BYTES);
    expect(t.ops[2]).toBe(OP_TIME);
    expect(t.cols[2]).toBe(C_FLOW_START);
    expect(t.ops[3]).toBe(OP_SKIP);
    expect(t.unknownFields).toBe(1);
    expect(t.impliedIpVersion).toBe(4);
  });

  it('lets the best element win when several fill one column, without counting the others unknown', () => {
    // octetDeltaCount (1) before octetTotalCount (85) as the schema lists them; ms before seconds.
    const t = compileTemplate({ version: 10, domain: 0, templateId: 256, scopeFieldCount: 0, fields: [f(85, 8), f(1, 8), f(150, 4), f(152, 8), f(60, 1)] });
    expect([...t.ops]).toEqual([OP_SKIP, OP_U64, OP_SKIP, OP_TIME, t.ops[4]]);
    expect(t.unknownFields).toBe(0);
    expect(t.impliedIpVersion).toBe(0);
  });

  it('uses ICMP type and code elements only when the combined one is absent', () => {
    const split = compileTemplate({ version: 9, domain: 0, templateId: 256, scopeFieldCount: 0, fields: [f(176, 1), f(177, 1)] });
    expect([...split.ops]).toEqual([OP_ICMP_TYPE, OP_ICMP_CODE]);
    expect(split.cols[0]).toBe(C_ICMP);
    const both = compileTemplate({ version: 9, domain: 0, templateId: 256, scopeFieldCount: 0, fields: [f(176, 1), f(177, 1), f(32, 2)] });
    expect([...both.ops.slice(0, 2)]).toEqual([OP_SKIP, OP_SKIP]);
  });

  it('marks variable-length templates and skips enterprise and ill-sized fields', () => {
    const t = compileTemplate({ version: 10, domain: 0, templateId: 300, scopeFieldCount: 0, fields: [f(82, VARIABLE_LENGTH), f(8, 16), f(1, 4, 6871), f(2, 4)] });
    expect(t.recordLength).toBe(-1);
    expect(t.minRecordLength).toBe(1 + 16 + 4 + 4);
    expect(t.unknownFields).toBe(3);
  });

  it('finds system init time and sampling in options templates, never reading v9 scope types as elements', () => {
    const v9 = compileTemplate({ version: 9, domain: 0, templateId: 256, scopeFieldCount: 1, fields: [f(2, 4), f(34, 4), f(35, 1)] });
    expect(v9.isOptions).toBe(true);
    expect(v9.opt.sampling).toBe(1);
    expect(v9.opt.systemInit).toBe(-1);
    // Scope type 2 is "Interface": its value is an ifIndex, not packetDeltaCount.
    expect(v9.opt.ifIndex).toBe(0);
    const ipfix = compileTemplate({ version: 10, domain: 0, templateId: 256, scopeFieldCount: 1, fields: [f(143, 4), f(160, 8), f(305, 4), f(306, 4)] });
    expect([ipfix.opt.systemInit, ipfix.opt.samplingPacketInterval, ipfix.opt.samplingSpace, ipfix.opt.sampling]).toEqual([1, 2, 3, -1]);
  });
});

describe('parseTemplateSet', () => {
  const bytes = (...xs: number[]) => new Uint8Array(xs);

  it('parses IPFIX templates with enterprise fields', () => {
    // template 300, 2 fields: octetDeltaCount/8, enterprise 6871 element 40/2
    const b = bytes(0x01, 0x2c, 0, 2, 0, 1, 0, 8, 0x80, 40, 0, 2, 0, 0, 0x1a, 0xd7);
    const r = parseTemplateSet(b, 0, b.length, 10, 2, 7);
    expect(r.error).toBeUndefined();
    expect(r.templates).toEqual([{ version: 10, domain: 7, templateId: 300, scopeFieldCount: 0, fields: [f(1, 8), f(40, 2, 6871)] }]);
  });

  it('reads bit 15 of a NetFlow v9 field type as part of the type (vendor types like 40001)', () => {
    const b = bytes(0x01, 0x00, 0, 1, 0x9c, 0x41, 0, 4);
    expect(parseTemplateSet(b, 0, b.length, 9, 0, 0).templates[0].fields).toEqual([f(40001, 4)]);
  });

  it('parses withdrawals, and withdraw-all of the set’s kind when the template id is the set id', () => {
    const b = bytes(0x01, 0x2c, 0, 0, 0, 2, 0, 0);
    expect(parseTemplateSet(b, 0, b.length, 10, 2, 0).withdrawals).toEqual([300, WITHDRAW_ALL_DATA]);
    const o = bytes(0x01, 0x2c, 0, 0, 0, 3, 0, 0);
    expect(parseTemplateSet(o, 0, o.length, 10, 3, 0).withdrawals).toEqual([300, WITHDRAW_ALL_OPTIONS]);
  });

  it('parses v9 options templates by scope and option lengths', () => {
    // id 256, scope length 4 (interface/4), option length 8 (samplingInterval/4, samplingAlgorithm/1), 2 bytes padding
    const b = bytes(1, 0, 0, 4, 0, 8, 0, 2, 0, 4, 0, 34, 0, 4, 0, 35, 0, 1, 0, 0);
    const r = parseTemplateSet(b, 0, b.length, 9, 1, 0);
    expect(r.templates).toEqual([{ version: 9, domain: 0, templateId: 256, scopeFieldCount: 1, fields: [f(2, 4), f(34, 4), f(35, 1)] }]);
  });

  it('reports a template cut short and a template id below 256, keeping what parsed', () => {
    const cut = bytes(0x01, 0x00, 0, 3, 0, 8, 0, 4);
    expect(parseTemplateSet(cut, 0, cut.length, 9, 0, 0).error).toMatch(/declares 3 fields/);
    const low = bytes(0, 5, 0, 1, 0, 8, 0, 4, 1, 0, 0, 1, 0, 8, 0, 4);
    const r = parseTemplateSet(low, 0, low.length, 9, 0, 0);
    expect(r.skipped[0]).toMatch(/below 256/);
    expect(r.templates.map((t) => t.templateId)).toEqual([256]);
  });
});

describe('MemoryTemplateStore', () => {
  const def = (templateId: number, domain = 0, version = 10): TemplateDef => ({ version, domain, templateId, scopeFieldCount: 0, fields: [f(8, 4)] });

  it('keeps templates apart by exporter, version and domain, and withdraws one or all of a domain', () => {
    const s = new MemoryTemplateStore();
    s.put('a', def(256));
    s.put('a', def(257));
    s.put('a', def(256, 1));
    s.put('a', def(256, 0, 9));
    s.put('b', def(256));
    expect(s.size).toBe(5);
    expect(s.get('a', 10, 0, 256)?.def.templateId).toBe(256);
    expect(s.get('a', 10, 2, 256)).toBeUndefined();
    s.withdraw('a', 10, 0, 256);
    expect(s.get('a', 10, 0, 256)).toBeUndefined();
    expect(s.get('a', 10, 0, 257)).toBeDefined();
    s.withdraw('a', 10, 0, WITHDRAW_ALL);
    expect(s.get('a', 10, 0, 257)).toBeUndefined();
    expect(s.get('a', 10, 1, 256)).toBeDefined();
    expect(s.get('a', 9, 0, 256)).toBeDefined();
    expect(s.size).toBe(3);
  });

  it('withdraws all data templates or all options templates of a domain, leaving the other kind', () => {
    const s = new MemoryTemplateStore();
    const opt = (templateId: number, domain = 0): TemplateDef => ({ version: 10, domain, templateId, scopeFieldCount: 1, fields: [f(149, 4), f(34, 4)] });
    s.put('a', def(256));
    s.put('a', def(257));
    s.put('a', opt(258));
    s.put('a', opt(259));
    s.put('a', def(256, 1));
    s.put('a', opt(258, 1));
    s.withdraw('a', 10, 0, WITHDRAW_ALL_DATA);
    expect([256, 257, 258, 259].map((id) => s.get('a', 10, 0, id) !== undefined)).toEqual([false, false, true, true]);
    s.put('a', def(256));
    s.withdraw('a', 10, 0, WITHDRAW_ALL_OPTIONS);
    expect([256, 257, 258, 259].map((id) => s.get('a', 10, 0, id) !== undefined)).toEqual([true, false, false, false]);
    // Other domains are untouched.
    expect(s.get('a', 10, 1, 256)).toBeDefined();
    expect(s.get('a', 10, 1, 258)).toBeDefined();
    expect(s.size).toBe(3);
  });

  it('refuses new templates beyond its cap per exporter (all versions and domains together), counts them, and keeps the ones it has', () => {
    expect(new MemoryTemplateStore().maxTemplatesPerExporter).toBe(DEFAULT_MAX_TEMPLATES_PER_EXPORTER);
    const s = new MemoryTemplateStore({ maxTemplatesPerExporter: 3 });
    expect(s.put('a', def(256))).toBe(true);
    expect(s.put('a', def(256, 1))).toBe(true);
    expect(s.put('a', def(256, 0, 9))).toBe(true);
    expect(s.full('a')).toBe(true);
    expect(s.put('a', def(257))).toBe(false);
    expect(s.put('a', def(300, 2))).toBe(false);
    expect(s.refused).toBe(2);
    expect(s.get('a', 10, 0, 257)).toBeUndefined();
    // A redefinition replaces, at the cap too.
    expect(s.put('a', { ...def(256), fields: [f(8, 4), f(12, 4)] })).toBe(true);
    expect(s.get('a', 10, 0, 256)?.fieldCount).toBe(2);
    // Other exporters have their own room.
    expect(s.put('b', def(257))).toBe(true);
    expect(s.full('b')).toBe(false);
    // A withdrawal makes room.
    s.withdraw('a', 10, 1, WITHDRAW_ALL);
    expect(s.full('a')).toBe(false);
    expect(s.put('a', def(257))).toBe(true);
    expect(s.size).toBe(4);
    expect(s.refused).toBe(2);
  });

  it('tells a redefinition from a refresh', () => {
    expect(sameTemplate(def(256), def(256))).toBe(true);
    expect(sameTemplate(def(256), { ...def(256), fields: [f(8, 4), f(1, 4)] })).toBe(false);
  });
});
