// Errors of the ingest service, exported together.
import { FlowhoundError } from '@flowhound/runtime';

/** An allowlist entry is not an IPv4/IPv6 address or network. */
export class AllowlistError extends FlowhoundError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AllowlistError';
  }
}

/** An IPFIX-over-TCP stream cannot be framed any further; its connection is closed. */
export class TcpStreamError extends FlowhoundError {
  readonly exporter: string;
  /** Counter label: bad_version, netflow_v9, bad_length, too_many_connections, denied. */
  readonly reason: string;

  constructor(exporter: string, reason: string, message: string, options?: { cause?: unknown }) {
    super(`${message} (exporter ${exporter})`, options);
    this.name = 'TcpStreamError';
    this.exporter = exporter;
    this.reason = reason;
  }
}

/** A decoding worker thread failed; the service restarts it. */
export class IngestWorkerError extends FlowhoundError {
  readonly worker: number;

  constructor(worker: number, message: string, options?: { cause?: unknown }) {
    super(`ingest worker ${worker}: ${message}`, options);
    this.name = 'IngestWorkerError';
    this.worker = worker;
  }
}
