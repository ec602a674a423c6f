export * from './config.ts';
export * from './exporters.ts';
export * from './service.ts';
