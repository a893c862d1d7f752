import { defineConfig } from 'vitest/config';
import { shared } from '../../tools/vitest.shared.js';

export default defineConfig({ ...shared, test: { ...shared.test, testTimeout: 60_000 } });
