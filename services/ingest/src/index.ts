export * from './config.ts';
export * from './service.ts';
export * from './templates.ts';
export * from './metrics.ts';
