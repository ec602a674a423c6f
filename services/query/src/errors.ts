import { FlowhoundError } from '@flowhound/runtime';

/** A filter the user typed is invalid; the message shows where. */
export class FilterError extends FlowhoundError {
  readonly position: number;
  constructor(message: string, source: string, position: number) {
    super(`filter error at position ${position + 1}: ${message}\n  ${source}\n  ${' '.repeat(position)}^`);
    this.name = 'FilterError';
    this.position = position;
  }
}

/** A request asks for more than the service will give. */
export class RequestTooLargeError extends FlowhoundError {
  constructor(message: string) {
    super(message);
    this.name = 'RequestTooLargeError';
  }
}
