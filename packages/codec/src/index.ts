export * from './errors.ts';
export * from './ie.ts';
export * from './template.ts';
export * from './decoder.ts';
export * from './generic.ts';
export * from './pcap.ts';
export * from './strings.ts';
