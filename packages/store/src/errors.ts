import { FlowhoundError } from '@flowhound/runtime';

export class StoreError extends FlowhoundError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
