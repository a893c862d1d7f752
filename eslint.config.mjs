import nx from '@nx/eslint-plugin';

// Which kind of project may import which. Plugins (stores, sources, sinks) build
// on core only, never on each other; apps and tools compose anything.
const depConstraints = [
  { sourceTag: 'type:core', onlyDependOnLibsWithTags: ['type:core'] },
  { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:core'] },
  { sourceTag: 'type:store', onlyDependOnLibsWithTags: ['type:core', 'type:testing'] },
  { sourceTag: 'type:source', onlyDependOnLibsWithTags: ['type:core', 'type:testing'] },
  { sourceTag: 'type:sink', onlyDependOnLibsWithTags: ['type:core', 'type:testing'] },
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['*'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['*'] },
];

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', '**/__fixtures__/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: false, allowCircularSelfDependency: false, depConstraints },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      // With noUncheckedIndexedAccess, `map.get(k)!` after a has() is the honest idiom.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // Test runner configs share the workspace's settings file.
    files: ['**/vitest.config.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    // The contract suites and helpers are for tests: plugin code never ships them.
    files: ['packages/**/src/**/*.ts', 'apps/**/src/**/*.ts'],
    ignores: ['**/*.spec.ts', 'packages/testing/**', 'apps/e2e/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: '@signpost/testing', message: '@signpost/testing is for tests (*.spec.ts) only.' }] }],
    },
  },
];
