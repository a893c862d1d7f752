export { staticSource, parseOptions, optionsSchema, plugin, type StaticSourceOptions } from './static-source.js';
export { parseServicesFile, ServicesFileSchema, type ServicesFile } from './parse.js';
