export * from './columns.ts';
export * from './batch.ts';
export * from './ip.ts';
export * from './ddl.ts';
export * from './tables.ts';
