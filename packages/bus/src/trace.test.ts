import { trace } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTelemetry } from '@flowhound/runtime';
import { MemoryBus } from './memory.ts';
import { subjects } from './subjects.ts';
import { contextFromHeaders, traceHeaders } from './trace.ts';

describe('trace context across the bus', () => {
  beforeAll(async () => {
    await createTelemetry({ serviceName: 'test' });
  });

  it('a consumer continues the producer’s trace from the message headers', async () => {
    const bus = new MemoryBus();
    const tracer = trace.getTracer('test');
    let consumerTrace = '';
    let parentSpan = '';
    await bus.consume({
      stream: 'flows',
      durable: 'c',
      filter: subjects.flowsRawAll,
      handler: async (m) => {
        const span = tracer.startSpan('consume', {}, contextFromHeaders(m.headers));
        consumerTrace = span.spanContext().traceId;
        parentSpan = m.headers.traceparent.split('-')[2];
        span.end();
      },
    });
    const producer = tracer.startSpan('publish');
    const headers = traceHeaders(trace.setSpan(contextFromHeaders({}), producer));
    await bus.publish(subjects.flowsRaw(0), new Uint8Array([1]), { headers });
    producer.end();
    await new Promise((r) => setTimeout(r, 10));
    expect(producer.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(producer.spanContext().traceId).not.toBe('00000000000000000000000000000000');
    expect(consumerTrace).toBe(producer.spanContext().traceId);
    expect(parentSpan).toBe(producer.spanContext().spanId);
  });
});
