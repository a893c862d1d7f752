// `node --import ./register-ts.mjs script.mjs`: the script's imports of this workspace's
// TypeScript sources go through ts-hooks.mjs.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
