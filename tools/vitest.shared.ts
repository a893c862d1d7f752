import type { ViteUserConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through this export
// condition, so tests never run against a stale dist/.
const conditions = ['@signpost/source', 'module', 'node', 'import', 'default'];

export const shared: ViteUserConfig = {
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@signpost/source'] } },
  test: {
    environment: 'node',
    include: ['src/**/*.spec.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
};
