import { Type, validate, type Static } from '@signpost/core';

export const optionsSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Plugin name, and owner of what clients register (default "http").' })),
    listen: Type.Optional(Type.String({ format: 'listen', description: 'Address (default 127.0.0.1:8500).' })),
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024, description: 'Largest request body accepted (default 1 MiB).' })),
    maxConnsPerClient: Type.Optional(
      Type.Integer({ minimum: 0, description: "Open connections one client address may hold (default 200, Consul's limits.http_max_conns_per_client; 0 = no cap)." }),
    ),
    maxConns: Type.Optional(Type.Integer({ minimum: 0, description: 'Open connections in all (default 4096; 0 = no cap).' })),
    fsync: Type.Optional(
      Type.Unsafe<'always' | 'never'>({
        type: 'string',
        enum: ['always', 'never'],
        description:
          'When a registration is answered: "always" (default) once fdatasync says its log record is on disk; "never" once it is written to the OS, which a crash of this process keeps but a power loss or kernel crash may not.',
      }),
    ),
    acl: Type.Optional(
      Type.Object(
        {
          anonymous: Type.Optional(Type.Unsafe<'none' | 'read' | 'write'>({ type: 'string', enum: ['none', 'read', 'write'], description: 'What a request without a token may do (default read).' })),
          tokens: Type.Array(
            Type.Object(
              { token: Type.String({ minLength: 16, description: 'A secret of at least 16 characters.' }), rights: Type.Unsafe<'read' | 'write'>({ type: 'string', enum: ['read', 'write'] }) },
              { additionalProperties: false },
            ),
            { minItems: 1 },
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type HttpSinkOptions = Static<typeof optionsSchema>;

export function parseOptions(input: unknown): HttpSinkOptions {
  return validate(optionsSchema, input ?? {}, 'plugin http');
}
