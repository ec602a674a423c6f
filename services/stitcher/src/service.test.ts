import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '@flowhound/bus';
import { ColumnarBatch, CONVERSATION_COLUMNS, FLOW_COLUMNS, formatIp, parseIp } from '@flowhound/schema';
import { toConversations } from './service.ts';

describe('stitcher walking skeleton', () => {
  it('carries every column the flow batch carried into the conversation message, and only those', () => {
    const flows = new ColumnarBatch(FLOW_COLUMNS, 4);
    flows.rows = 3;
    parseIp('2001:db8::9', flows.column('src_addr') as Uint8Array, 2 * 16);
    (flows.column('bytes') as Float64Array)[1] = 1234;
    (flows.column('egress_acl') as string[])[0] = 'acl';
    // As the stage receives it: decoded from the bus.
    const received = decodeBatch(encodeBatch(flows, 'i:1', 'ingest'), FLOW_COLUMNS).batch;
    const conv = toConversations(received);
    expect(CONVERSATION_COLUMNS.filter((_, i) => conv.touched[i] === 1).map((c) => c.name)).toEqual(['src_addr', 'bytes', 'egress_acl']);
    const out = decodeBatch(encodeBatch(conv, 'i:1/stitcher', 'stitcher'), CONVERSATION_COLUMNS).batch;
    expect(out.rows).toBe(3);
    expect(formatIp(out.read('src_addr') as Uint8Array, 2 * 16)).toBe('2001:db8::9');
    expect((out.read('bytes') as Float64Array)[1]).toBe(1234);
    expect((out.read('egress_acl') as string[])[0]).toBe('acl');
    expect((out.read('packets') as Float64Array)[1]).toBe(0);
  });
});
