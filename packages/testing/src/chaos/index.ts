export * from './history.js';
export * from './cluster.js';
export * from './workload.js';
