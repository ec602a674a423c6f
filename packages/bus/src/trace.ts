import { context, propagation, type Context } from '@opentelemetry/api';

// Trace context crosses the bus in message headers (W3C traceparent), so a
// batch's spans in ingest, stitcher and writer share one trace.

export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

export function contextFromHeaders(headers: Readonly<Record<string, string>>): Context {
  return propagation.extract(context.active(), headers);
}
