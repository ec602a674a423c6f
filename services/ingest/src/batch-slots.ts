// Where a decoding worker encodes its batches: a few SharedArrayBuffers
// that it and the main thread both see. The worker writes a batch into a
// free slot and posts only the slot's number and length; the main thread
// publishes the bytes in place (or copies them, for a bus that keeps what
// it is given) and frees the slot. A new buffer per batch, transferred to
// the main thread, cost the worker ~60 µs a 130 KB batch on the
// development machine (page faults of fresh memory, the transfer), and
// each buffer arriving in the main thread counted as memory outside its
// heap until a full GC: ~4 full GCs a second there at 1M records/s.
import type { BatchBuffers } from '@flowhound/bus';

/**
 * Slots per worker: batches in flight at once (published, not yet
 * acknowledged). At 1M records/s on a busy machine the main thread had 8
 * in flight most of the time; 32 of ~200 KB are ~6 MB a worker.
 */
export const BATCH_SLOTS = 32;
/** A slot's buffer is made this much larger than the batch that needed it, so later batches a little longer still fit. */
const HEADROOM = 1.25;
const ROUNDING = 64 * 1024;

/** The worker's side: which slots are free, and the buffers behind them. */
export class BatchSlots implements BatchBuffers {
  private readonly buffers: (SharedArrayBuffer | null)[];
  /** 1 while the main thread has the slot's batch. */
  private readonly busy: Uint8Array;
  /** Slot the last take() handed out; -1 when none was free and the batch got an array of its own. */
  taken: number;
  /** The last take() made the slot a new buffer: the main thread must be sent it with the batch. */
  fresh: boolean;

  constructor() {
    this.buffers = new Array<SharedArrayBuffer | null>(BATCH_SLOTS).fill(null);
    this.busy = new Uint8Array(BATCH_SLOTS);
    this.taken = -1;
    this.fresh = false;
  }

  take(length: number): Uint8Array {
    for (let i = 0; i < BATCH_SLOTS; i++) {
      if (this.busy[i] === 1) continue;
      let sab = this.buffers[i];
      this.fresh = sab === null || sab.byteLength < length;
      if (this.fresh) {
        sab = new SharedArrayBuffer(Math.ceil((length * HEADROOM) / ROUNDING) * ROUNDING);
        this.buffers[i] = sab;
      }
      this.busy[i] = 1;
      this.taken = i;
      return new Uint8Array(sab!, 0, length);
    }
    // Every slot in flight (the bus is slow, or publishes failed and their slots are kept): a plain array, transferred.
    this.taken = -1;
    this.fresh = false;
    return new Uint8Array(length);
  }

  /** The buffer of a slot, to send with a batch when `fresh`. */
  buffer(slot: number): SharedArrayBuffer {
    return this.buffers[slot]!;
  }

  /** The main thread is done with a slot. A slot this worker did not hand out (a message meant for a thread that died) is ignored. */
  free(slot: number): void {
    if (slot >= 0 && slot < BATCH_SLOTS) this.busy[slot] = 0;
  }

  /** Slots handed out and not freed. */
  get inFlight(): number {
    let n = 0;
    for (let i = 0; i < BATCH_SLOTS; i++) n += this.busy[i];
    return n;
  }
}
