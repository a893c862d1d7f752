// The generator is CommonJS because Nx loads generators with require().
const path = require('node:path');
const { generateFiles, installPackagesTask, joinPathFragments, names, offsetFromRoot } = require('@nx/devkit');

const KINDS = ['source', 'store', 'sink'];

/**
 * Writes a plugin package: package.json with its Nx tag, tsconfigs, a vitest
 * config, a factory with its option schema, a spec running its kind's contract
 * suite, and a README with the sections every plugin README has.
 *
 * @param {import('@nx/devkit').Tree} tree
 * @param {{ name: string; kind: 'source' | 'store' | 'sink'; directory?: string; packageName?: string; skipInstall?: boolean }} options
 */
async function pluginGenerator(tree, options) {
  if (!/^[a-z][a-z0-9-]*$/.test(options.name ?? '')) {
    throw new Error(`--name: "${options.name}" must be lowercase letters, digits and dashes, starting with a letter`);
  }
  if (!KINDS.includes(options.kind)) throw new Error(`--kind: "${options.kind}" must be one of ${KINDS.join(', ')}`);
  const directory = options.directory ?? joinPathFragments('packages', `${options.kind}-${options.name}`);
  if (tree.exists(joinPathFragments(directory, 'package.json'))) throw new Error(`${directory} already holds a package`);
  const n = names(options.name);
  const substitutions = {
    tmpl: '',
    name: options.name,
    kind: options.kind,
    packageName: options.packageName ?? `@signpost/${options.kind}-${options.name}`,
    className: n.className,
    propertyName: n.propertyName,
    fileName: n.fileName,
    offset: offsetFromRoot(directory),
  };
  generateFiles(tree, path.join(__dirname, 'files', 'common'), directory, substitutions);
  generateFiles(tree, path.join(__dirname, 'files', options.kind), directory, substitutions);
  return () => {
    if (!options.skipInstall) installPackagesTask(tree, true);
  };
}

module.exports = pluginGenerator;
module.exports.default = pluginGenerator;
