export * from './store.ts';
export * from './errors.ts';
export * from './tsv.ts';
