export * from './config.ts';
export * from './service.ts';
export * from './filter.ts';
export * from './errors.ts';
