// Generated code lives in ./gen (DO NOT EDIT there; run `pnpm proto`).
export * from './gen/flowhound/v1/batch.ts';
export * from './gen/flowhound/v1/templates.ts';
export * from './gen/flowhound/v1/query.ts';
