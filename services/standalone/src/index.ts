export * from './config.ts';
export * from './run.ts';
