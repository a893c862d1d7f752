import { describe, expect, it } from 'vitest';
import { describeStoreContract, spec, upsert } from '@signpost/testing';
import { memoryStore, parseOptions } from './index.js';

describeStoreContract('memory', () => memoryStore());

describe('memory store options', () => {
  it('takes no options and says so', () => {
    expect(parseOptions({})).toEqual({});
    expect(() => parseOptions({ url: 'redis://x' })).toThrow(/url: unknown key/);
  });

  it('serves reads synchronously right after apply resolves', async () => {
    const store = memoryStore();
    await store.start();
    await store.apply([upsert(spec('web'))]);
    expect(store.instances('web')).toHaveLength(1);
    await store.stop();
  });
});
