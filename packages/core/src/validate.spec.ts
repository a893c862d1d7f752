import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { formatPath, isAddress, isListenAddress, validate, ValidationError } from './validate.js';
import { DurationSchema, HealthStatusSchema, MetaSchema } from './model.js';

describe('validate', () => {
  const schema = Type.Object(
    { listen: Type.String({ format: 'listen' }), wait: Type.Optional(DurationSchema), status: Type.Optional(HealthStatusSchema), meta: Type.Optional(MetaSchema) },
    { additionalProperties: false },
  );

  it.each([
    [{}, 'cfg: listen: is required'],
    [{ listen: 'nope' }, 'cfg: listen: must be host:port (port 0 picks a free port), e.g. 127.0.0.1:8500'],
    [{ listen: '127.0.0.1:1', lisen: 1 }, 'cfg: lisen: unknown key'],
    [{ listen: '127.0.0.1:1', wait: '5' }, 'cfg: wait: must be a Go duration such as 10s, 1m30s or 500ms'],
    [{ listen: '127.0.0.1:1', status: 'ok' }, 'cfg: status: must be one of "passing", "warning", "critical"'],
    [{ listen: '127.0.0.1:1', meta: { 'bad key': 'x' } }, 'cfg: meta["bad key"]: is not an allowed key name'],
    [{ listen: '127.0.0.1:1', meta: { k: 1 } }, 'cfg: meta.k: must be string'],
  ])('%j → %s', (input, message) => {
    expect(() => validate(schema, input, 'cfg')).toThrow(new ValidationError('cfg', []).constructor);
    try {
      validate(schema, input, 'cfg');
    } catch (err) {
      expect((err as Error).message).toBe(message);
    }
  });

  it('returns the value when valid', () => {
    expect(validate(schema, { listen: '[::1]:8600' }, 'cfg')).toEqual({ listen: '[::1]:8600' });
  });

  it.each([
    [['plugins', 1, 'listen'], 'plugins[1].listen'],
    [['meta', 'a b'], 'meta["a b"]'],
    [[0, 'x'], '[0].x'],
  ] as const)('formats path %j as %s', (path, text) => {
    expect(formatPath(path)).toBe(text);
  });

  it.each([
    ['10.0.0.1', true],
    ['::1', true],
    ['web.example.com', true],
    ['host_1', true],
    ['1.2.3', false],
    ['bad host', false],
    ['-x.example', false],
  ])('isAddress(%s) = %s', (text, ok) => {
    expect(isAddress(text)).toBe(ok);
  });

  it.each([
    ['127.0.0.1:8500', true],
    ['[::1]:0', true],
    ['localhost:53', true],
    ['127.0.0.1', false],
    ['127.0.0.1:70000', false],
    ['::1:53', false],
  ])('isListenAddress(%s) = %s', (text, ok) => {
    expect(isListenAddress(text)).toBe(ok);
  });
});
