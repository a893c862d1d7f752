import { defineConfig } from 'vitest/config';
import { shared } from '../vitest.shared.js';

// The Nx devkit is CommonJS and require()s ejs, whose "import" build has no named
// exports: resolution here must not prefer "import"/"module" as the shared config does.
const conditions = ['@signpost/source', 'node', 'require', 'default'];

export default defineConfig({ ...shared, resolve: { conditions }, ssr: { resolve: { conditions, externalConditions: ['@signpost/source'] } } });
