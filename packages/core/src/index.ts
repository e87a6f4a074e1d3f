export * from './types.js';
export * from './errors.js';
export type * from './storage.js';
export type * from './transport.js';
export type * from './state-machine.js';
