// Sequence numbers of export packets: how many records an exporter sent
// that never arrived. NetFlow v5 numbers flows, NetFlow v9 export packets,
// IPFIX data records (RFC 7011 §3.1). The trackers handle the 32-bit wrap,
// late messages (a small backward jump: not a loss), restarts (a big jump,
// or the exporter's uptime going back), exporters that do or do not count
// options records, and softflowd's IPFIX numbering, which counts the
// records of the message itself.

/** What one message did to a tracker. */
export const SEQ_UNCHECKED = 0;
export const SEQ_IN_ORDER = 1;
export const SEQ_GAP = 2;
export const SEQ_LATE = 3;
export const SEQ_RESET = 4;

/**
 * One hypothesis about how an exporter numbers its messages. Each message
 * covers [start, end) of the sequence space; as exporters may or may not
 * count options records, start and end are ranges.
 */
export class SeqTracker {
  started: boolean;
  endKnown: boolean;
  endLo: number;
  endHi: number;
  received: number;
  lost: number;
  late: number;
  resets: number;

  constructor() {
    this.started = false;
    this.endKnown = false;
    this.endLo = 0;
    this.endHi = 0;
    this.received = 0;
    this.lost = 0;
    this.late = 0;
    this.resets = 0;
  }

  feed(sLo: number, sHi: number, eLo: number, eHi: number, startKnown: boolean, endKnown: boolean, n: number, restart: boolean, window: number, maxGap: number): number {
    this.received += n;
    let res = SEQ_UNCHECKED;
    if (restart && this.started) {
      this.resets++;
      res = SEQ_RESET;
    } else if (this.started && this.endKnown && startKnown) {
      // Signed 32-bit differences: right across the wrap of the counter.
      const gap = (sLo - this.endHi) | 0;
      const back = (sHi - this.endLo) | 0;
      if (gap > 0) {
        if (gap > maxGap) {
          this.resets++;
          res = SEQ_RESET;
        } else {
          this.lost += gap;
          res = SEQ_GAP;
        }
      } else if (back < 0) {
        if (-back > window) {
          this.resets++;
          res = SEQ_RESET;
        } else {
          // A late message: what it carries was counted lost; the expectation stays where it is.
          const credit = n < this.lost ? n : this.lost;
          this.lost -= credit;
          this.late += credit;
          return SEQ_LATE;
        }
      } else res = SEQ_IN_ORDER;
    }
    this.started = true;
    this.endKnown = endKnown;
    this.endLo = eLo;
    this.endHi = eHi;
    return res;
  }
}

/** Sequence state of one (exporter, version, domain): the standard numbering and, for IPFIX, the softflowd one. */
export class SeqState {
  readonly unit: 'flows' | 'packets' | 'records';
  readonly std: SeqTracker;
  readonly ahead: SeqTracker | null;
  stdVotes: number;
  aheadVotes: number;
  lastUptime: number;

  constructor(version: number) {
    this.unit = version === 5 ? 'flows' : version === 9 ? 'packets' : 'records';
    this.std = new SeqTracker();
    this.ahead = version === 10 ? new SeqTracker() : null;
    this.stdVotes = 0;
    this.aheadVotes = 0;
    this.lastUptime = -1;
  }

  get current(): SeqTracker {
    return this.ahead !== null && this.aheadVotes > this.stdVotes ? this.ahead : this.std;
  }
}

