import { context, metrics, propagation, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';

export interface TelemetryOptions {
  readonly serviceName: string;
  /** Prometheus scrape endpoint; omit or port 0 to serve none. */
  readonly prometheus?: { readonly host: string; readonly port: number };
}

export interface Telemetry {
  readonly meter: Meter;
  readonly tracer: Tracer;
  /** Prometheus endpoint URL when one is served. */
  readonly metricsUrl: string | undefined;
  /** Current values of every metric, for `flowhound status` and tests. */
  collect(): Promise<Record<string, number>>;
  shutdown(): Promise<void>;
}

let globalsInstalled = false;

/**
 * One per process. Metrics are exported for Prometheus; spans get real
 * trace ids so trace context crosses NATS headers and gRPC metadata.
 */
export async function createTelemetry(opts: TelemetryOptions): Promise<Telemetry> {
  const resource = resourceFromAttributes({ 'service.name': opts.serviceName });
  const readers = [];
  let exporter: PrometheusExporter | undefined;
  let metricsUrl: string | undefined;
  if (opts.prometheus && opts.prometheus.port > 0) {
    const { host, port } = opts.prometheus;
    exporter = await new Promise<PrometheusExporter>((resolve, reject) => {
      const e = new PrometheusExporter({ host, port, preventServerStart: false }, (err) => (err ? reject(err) : resolve(e)));
    });
    readers.push(exporter);
    metricsUrl = `http://${host}:${port}/metrics`;
  }
  const meterProvider = new MeterProvider({ resource, readers });
  const tracerProvider = new BasicTracerProvider({ resource });
  if (!globalsInstalled) {
    // Globals are set once per process; standalone runs every component
    // under the same providers.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(tracerProvider);
    metrics.setGlobalMeterProvider(meterProvider);
    globalsInstalled = true;
  }
  const meter = meterProvider.getMeter('flowhound');
  const tracer = tracerProvider.getTracer('flowhound');
  return {
    meter,
    tracer,
    metricsUrl,
    async collect() {
      const out: Record<string, number> = {};
      if (!exporter) return out;
      const r = await exporter.collect();
      for (const sm of r.resourceMetrics.scopeMetrics) {
        for (const m of sm.metrics) {
          for (const dp of m.dataPoints as { value: unknown; attributes: Record<string, unknown> }[]) {
            if (typeof dp.value !== 'number') continue;
            const attrs = Object.entries(dp.attributes).map(([k, v]) => `${k}=${String(v)}`).join(',');
            out[attrs ? `${m.descriptor.name}{${attrs}}` : m.descriptor.name] = dp.value;
          }
        }
      }
      return out;
    },
    async shutdown() {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}
