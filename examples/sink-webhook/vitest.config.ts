import { defineConfig } from 'vitest/config';
import { shared } from '../../tools/vitest.shared.js';

export default defineConfig(shared);
