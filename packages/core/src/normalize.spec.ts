import { describe, expect, it } from 'vitest';
import { normalizeInstance } from './normalize.js';

const defaults = { node: 'agent-1', nodeAddress: '10.0.0.9', datacenter: 'dc1' };

describe('normalizeInstance', () => {
  it("fills Consul's defaults", () => {
    expect(normalizeInstance({ service: 'web' }, 'static', defaults)).toEqual({
      id: 'web',
      service: 'web',
      node: 'agent-1',
      nodeAddress: '10.0.0.9',
      nodeMeta: {},
      datacenter: 'dc1',
      address: '',
      port: 0,
      tags: [],
      meta: {},
      weights: { passing: 1, warning: 1 },
      taggedAddresses: {},
      enableTagOverride: false,
      kind: '',
      checks: [],
      source: 'static',
    });
  });

  it('names checks service:<id> and service:<id>:<n> as Consul does, starting critical', () => {
    const one = normalizeInstance({ service: 'web', id: 'w1', checks: [{ type: 'ttl', definition: { ttl: '10s' } }] }, 's', defaults);
    expect(one.checks[0]).toMatchObject({ id: 'service:w1', name: "Service 'web' check", status: 'critical' });
    const two = normalizeInstance(
      { service: 'web', id: 'w1', checks: [{ type: 'ttl', definition: { ttl: '10s' } }, { type: 'tcp', definition: { tcp: 'x:1' } }] },
      's',
      defaults,
    );
    expect(two.checks.map((c) => c.id)).toEqual(['service:w1:1', 'service:w1:2']);
  });

  it('takes the node address from the instance on another node when none is given', () => {
    expect(normalizeInstance({ service: 'web', node: 'n2', address: '10.0.0.2' }, 's', defaults).nodeAddress).toBe('10.0.0.2');
  });

  it.each([
    [{}, /service: is required/],
    [{ service: 'web', port: 70000 }, /port: must be <= 65535/],
    [{ service: 'web', address: 'not an address' }, /address: must be an IP address or a host name/],
    [{ service: 'web', prot: 80 }, /prot: unknown key/],
    [{ service: 'web', checks: [{ type: 'ttl', definition: {}, id: 'a' }, { type: 'ttl', definition: {}, id: 'a' }] }, /checks\[1\]\.id: duplicate check id "a"/],
  ])('rejects %j', (input, message) => {
    expect(() => normalizeInstance(input, 's', defaults, 'file x')).toThrow(message);
  });
});
