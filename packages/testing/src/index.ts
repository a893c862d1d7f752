export * from './store-contract.js';
export * from './source-contract.js';
export * from './sink-contract.js';
export * from './harness.js';
export * from './helpers.js';
export * from './programs.js';
export * from './redis.js';
export * from './chaos/index.js';
