export * from './store.ts';
export * from './errors.ts';
export * from './native.ts';
export * from './migrations.ts';
export { DEFAULT_REPLICATION_PATH, RETENTION_TABLES } from '@flowhound/schema';
export * from './source.ts';
