export * from './config.ts';
export * from './errors.ts';
export * from './service.ts';
export * from './templates.ts';
export * from './metrics.ts';
export * from './exporters.ts';
export * from './options.ts';
export * from './allowlist.ts';
export * from './receiver.ts';
export * from './socket-drops.ts';
export * from './tcp.ts';
// worker.ts is a thread entry point, never exported.
