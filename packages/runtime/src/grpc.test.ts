import { context, trace } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { contextFromMetadata, metadataWithTrace } from './grpc.ts';
import { createTelemetry } from './telemetry.ts';

describe('trace context across gRPC', () => {
  beforeAll(async () => {
    await createTelemetry({ serviceName: 'test' });
  });

  it('metadata from the client carries the active span to the server side', () => {
    const tracer = trace.getTracer('test');
    const client = tracer.startSpan('cli.search');
    const md = context.with(trace.setSpan(context.active(), client), () => metadataWithTrace());
    expect(String(md.get('traceparent')[0])).toContain(client.spanContext().traceId);
    const server = tracer.startSpan('query.search', {}, contextFromMetadata(md));
    expect(server.spanContext().traceId).toBe(client.spanContext().traceId);
    server.end();
    client.end();
  });
});
