export { nomadSource, NomadError, optionsSchema, parseOptions, plugin, type NomadSource, type NomadSourceOptions } from './nomad-source.js';
export { eventsOf, FrameSplitter, toInstance, wants, type NomadFrame, type NomadService, type ServiceFilter } from './mapping.js';
