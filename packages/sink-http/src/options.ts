import { Type, validate, type Static } from '@signpost/core';

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Plugin name, and owner of what clients register (default "http").' })),
    listen: Type.Optional(Type.String({ format: 'listen', description: 'Address (default 127.0.0.1:8500).' })),
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024, description: 'Largest request body accepted (default 1 MiB).' })),
  },
  { additionalProperties: false },
);
export type HttpSinkOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): HttpSinkOptions {
  return validate(optionsSchema, input ?? {}, 'plugin http');
}
