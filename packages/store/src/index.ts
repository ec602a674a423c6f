export * from './store.ts';
export * from './errors.ts';
export * from './native.ts';
export * from './migrations.ts';
