export { redisStore, RedisStore, parseOptions, optionsSchema, store, type RedisStoreOptions } from './redis-store.js';
