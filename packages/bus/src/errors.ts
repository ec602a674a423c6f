import { FlowhoundError } from '@flowhound/runtime';

export class BusError extends FlowhoundError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusError';
  }
}

/** A batch on the bus could not be decoded (wrong schema, truncated). */
export class BatchFormatError extends FlowhoundError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BatchFormatError';
  }
}
