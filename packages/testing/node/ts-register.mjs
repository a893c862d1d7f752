// `node --import @signpost/testing/node/ts-register.mjs fixture.mjs`: the fixture's imports of
// this workspace's TypeScript sources go through ts-hooks.mjs.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
