// Module hooks that let plain Node run this workspace's TypeScript sources, as the tests do
// (vitest resolves workspace packages to src/ with the @signpost/source condition): a fixture
// that a test runs as a process of its own, to kill -9 it, runs src/, never a stale dist/.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export async function resolve(specifier, context, next) {
  const ctx = { ...context, conditions: [...context.conditions, '@signpost/source'] };
  try {
    return await next(specifier, ctx);
  } catch (err) {
    // `import './x.js'` in a .ts file means ./x.ts.
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && specifier.startsWith('.') && specifier.endsWith('.js')) return next(`${specifier.slice(0, -3)}.ts`, ctx);
    throw err;
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const fileName = fileURLToPath(url);
  const { outputText } = ts.transpileModule(await readFile(fileName, 'utf8'), {
    fileName,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}
