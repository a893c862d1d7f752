// `node --import <this file> …`: plain Node runs this workspace's TypeScript sources (see ts-hooks.mjs).
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
