export { memoryStore, MemoryStore, parseOptions, optionsSchema, store, type MemoryStoreOptions } from './memory-store.js';
