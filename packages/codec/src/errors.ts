// Errors of the codec package. The decoders never throw on bad input: they
// count it, and hand these objects to an optional error hook so the caller
// can log them (rate-limited) with everything needed to find the exporter.

export interface DecodeContext {
  /** Exporter key as the caller named it (usually "ip:port" or "ip"). */
  readonly exporter: string;
  /** Export protocol version: 5, 9 or 10 (IPFIX); 0 when unknown. */
  readonly version: number;
  /** Observation domain id (IPFIX) or source id (NetFlow v9); -1 when not known yet. */
  readonly domain: number;
  /** Template (or set) id the problem is about; -1 when not about one. */
  readonly templateId: number;
}

function where(c: DecodeContext): string {
  const parts = [`exporter ${c.exporter}`];
  if (c.version) parts.push(c.version === 10 ? 'IPFIX' : `NetFlow v${c.version}`);
  if (c.domain >= 0) parts.push(`domain ${c.domain}`);
  if (c.templateId >= 0) parts.push(`template ${c.templateId}`);
  return parts.join(', ');
}

/** Something in an export packet could not be decoded; the rest of the packet was still decoded. */
export class DecodeError extends Error {
  readonly exporter: string;
  readonly version: number;
  readonly domain: number;
  readonly templateId: number;

  constructor(message: string, context: DecodeContext, options?: { cause?: unknown }) {
    super(`${message} (${where(context)})`, options);
    this.name = 'DecodeError';
    this.exporter = context.exporter;
    this.version = context.version;
    this.domain = context.domain;
    this.templateId = context.templateId;
  }
}

/** A template or options template record is malformed; the template was not stored. */
export class TemplateError extends DecodeError {
  constructor(message: string, context: DecodeContext, options?: { cause?: unknown }) {
    super(message, context, options);
    this.name = 'TemplateError';
  }
}

/** A decoder option maps an element to a column it cannot fill; thrown by the FlowDecoder constructor. */
export class ElementMappingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ElementMappingError';
  }
}

/** A capture file (pcap, pcapng) cannot be read at all. */
export class CaptureFormatError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CaptureFormatError';
  }
}
