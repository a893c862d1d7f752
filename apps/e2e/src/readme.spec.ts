import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig, type PluginCatalog } from '@signpost/core';
import { agentCatalog } from '@signpost/agent';
import { edgeCatalog } from '@signpost/edge';
import { registryCatalog } from '@signpost/registry';
import { parseServicesFile } from '@signpost/source-static';
import { parseJobsFile } from '@signpost/source-exec';
import { plugin as webhookPlugin } from '@acme/signpost-sink-webhook';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Every plugin package's config entry, whichever app composes it. */
const everyPlugin: PluginCatalog = {
  stores: { ...agentCatalog.stores, ...registryCatalog.stores, ...edgeCatalog.stores },
  plugins: { ...agentCatalog.plugins, ...registryCatalog.plugins, ...edgeCatalog.plugins, '@acme/signpost-sink-webhook': webhookPlugin },
};
const SECTIONS = ['Description', 'Options', 'Examples', 'Metrics'];

function readmes(): Array<{ name: string; file: string; plugin: boolean }> {
  const out: Array<{ name: string; file: string; plugin: boolean }> = [{ name: 'README.md', file: join(root, 'README.md'), plugin: false }];
  for (const group of ['packages', 'apps', 'tools', 'examples']) {
    for (const dir of readdirSync(join(root, group), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
      const file = join(root, group, dir, 'README.md');
      const pkg = JSON.parse(readFileSync(join(root, group, dir, 'package.json'), 'utf8')) as { nx?: { tags?: string[] } };
      const plugin = (pkg.nx?.tags ?? []).some((t) => ['type:store', 'type:source', 'type:sink'].includes(t));
      out.push({ name: `${group}/${dir}/README.md`, file, plugin });
    }
  }
  return out;
}

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The plugin sections a README lacks. */
function missingSections(markdown: string): string[] {
  const headings = [...markdown.matchAll(/^## (.+)$/gm)].map((m) => m[1]!.trim());
  return SECTIONS.filter((s) => !headings.includes(s));
}

/** Throws, naming the problem, unless the example is a valid app config, services file or jobs file. */
function validateExample(text: string): void {
  const env = { SIGNPOST_NODE: 'n1' };
  if (/^(services|service|nodes):/m.test(text)) parseServicesFile(text, 'example.yaml');
  else if (/^jobs:/m.test(text)) parseJobsFile(text, 'jobs.yaml', root);
  else if (/^(store|plugins):/m.test(text)) parseConfig(text, join(root, 'example.yaml'), everyPlugin, { env });
  else throw new Error(`an example that is neither an app config nor a services or jobs file:\n${text}`);
}

describe('the README checks themselves', () => {
  const dns = readFileSync(join(root, 'packages', 'sink-dns', 'README.md'), 'utf8');
  it('catch a README that lost a section', () => {
    expect(missingSections(dns)).toEqual([]);
    expect(missingSections(dns.replace(/^## Metrics$/m, '## Numbers'))).toEqual(['Metrics']);
  });
  it('catch an example that no longer validates', () => {
    const [example] = yamlBlocks(dns);
    expect(() => validateExample(example!)).not.toThrow();
    expect(() => validateExample(example!.replace('listen:', 'lisen:'))).toThrow(/lisen: unknown key/);
    expect(() => validateExample('plugins:\n  - plugin: dns\n    listen: nowhere\n')).toThrow(/listen/);
  });
});

describe('READMEs', () => {
  const all = readmes();

  it.each(all.map((r) => [r.name, r] as const))('%s exists', (_n, r) => {
    expect(existsSync(r.file)).toBe(true);
  });

  it.each(all.filter((r) => r.plugin).map((r) => [r.name, r] as const))('%s has the plugin sections', (_n, r) => {
    expect(missingSections(readFileSync(r.file, 'utf8')), `${r.name} lacks these sections`).toEqual([]);
  });

  const blocks = all.flatMap((r) => (existsSync(r.file) ? yamlBlocks(readFileSync(r.file, 'utf8')).map((text, n) => [`${r.name} example ${n + 1}`, text] as const) : []));

  it('finds examples to check', () => {
    expect(blocks.length).toBeGreaterThan(4);
  });

  it.each(blocks)('%s validates', (_name, text) => {
    expect(() => validateExample(text)).not.toThrow();
  });
});
