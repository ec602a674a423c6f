export * from './errors.ts';
export * from './logger.ts';
export * from './component.ts';
export * from './config.ts';
export * from './telemetry.ts';
export * from './grpc.ts';
