import { describe, expect, it } from 'vitest';
import { BATCH_SLOTS, BatchSlots } from './batch-slots.ts';

describe('batch slots', () => {
  it('hands out free slots, makes a slot’s buffer once, and reuses it when freed', () => {
    const s = new BatchSlots();
    const a = s.take(1000);
    expect([s.taken, s.fresh, a.byteLength, a.buffer instanceof SharedArrayBuffer]).toEqual([0, true, 1000, true]);
    const b = s.take(2000);
    expect([s.taken, s.fresh]).toEqual([1, true]);
    s.free(0);
    const c = s.take(1100);
    // Slot 0 again, its buffer kept: it has room for a batch a little longer.
    expect([s.taken, s.fresh, c.buffer === a.buffer, c.byteLength]).toEqual([0, false, true, 1100]);
    expect(s.buffer(0)).toBe(a.buffer);
    expect(b.buffer).not.toBe(a.buffer);
    expect(s.inFlight).toBe(2);
  });

  it('makes a slot a larger buffer when a batch does not fit', () => {
    const s = new BatchSlots();
    const small = s.take(100);
    s.free(0);
    const big = s.take(1_000_000);
    expect([s.taken, s.fresh, big.byteLength, big.buffer === small.buffer]).toEqual([0, true, 1_000_000, false]);
    expect(s.buffer(0)).toBe(big.buffer);
  });

  it('gives a plain array, not a slot, when every slot is in flight, and ignores slots it did not hand out', () => {
    const s = new BatchSlots();
    for (let i = 0; i < BATCH_SLOTS; i++) s.take(10);
    const extra = s.take(10);
    expect([s.taken, s.fresh, extra.buffer instanceof SharedArrayBuffer]).toEqual([-1, false, false]);
    s.free(-1);
    s.free(BATCH_SLOTS);
    expect(s.inFlight).toBe(BATCH_SLOTS);
    s.free(3);
    s.take(10);
    expect(s.taken).toBe(3);
  });
});
