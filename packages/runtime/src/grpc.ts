import * as grpc from '@grpc/grpc-js';
import { context, propagation, type Context } from '@opentelemetry/api';
import type { Component } from './component.ts';
import type { Logger } from './logger.ts';
import { ComponentError } from './errors.ts';

/**
 * One gRPC server per process; components add their services before it
 * starts (standalone serves query and template registry on one port).
 */
export class GrpcHost implements Component {
  readonly name = 'grpc';
  readonly server: grpc.Server;
  private readonly address: string;
  private readonly log: Logger;
  private services = 0;
  boundPort = 0;

  constructor(address: string, log: Logger) {
    this.address = address;
    this.log = log;
    // Large result chunks are split by the services; this is a safety cap.
    this.server = new grpc.Server({ 'grpc.max_send_message_length': 64 * 1024 * 1024, 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  }

  addService(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    this.server.addService(def, impl);
    this.services++;
  }

  async start(): Promise<void> {
    if (this.services === 0) return;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.address, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(new ComponentError('grpc', `cannot listen on ${this.address}: ${err.message}`, { cause: err }));
        else resolve(port);
      });
    });
    this.log.info({ address: this.address, port: this.boundPort }, 'gRPC listening');
  }

  async stop(): Promise<void> {
    if (this.services === 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 5000);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** Trace context from a call's metadata (W3C traceparent). */
export function contextFromMetadata(md: grpc.Metadata): Context {
  const carrier: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) carrier[k] = String(v);
  return propagation.extract(context.active(), carrier);
}

/** Metadata carrying the active trace context, for clients. */
export function metadataWithTrace(): grpc.Metadata {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(carrier)) md.set(k, v);
  return md;
}
