import { createServer } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { eventually, runPlugins, spec, upsert } from '@signpost/testing';

// A bug while building one service's routers (simulated: serviceRoutes throws for one
// service) drops that service's routers with the reason, never the proxy's other routes.
vi.mock('./routes.js', async (original) => {
  const routes = await original<typeof import('./routes.js')>();
  return {
    ...routes,
    serviceRoutes: (service: string, ...rest: [never, never]) => {
      if (service === 'boom') throw new TypeError('a bug');
      return routes.serviceRoutes(service, ...rest);
    },
  };
});

const { proxySink } = await import('./index.js');

describe('an error while building routers', () => {
  it("drops that service's routers with the reason and keeps serving the others", async () => {
    const backend = createServer((_req, res) => res.end('a'));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const port = (backend.address() as { port: number }).port;
    const proxy = proxySink({ entrypoints: { web: '127.0.0.1:0' } });
    const run = await runPlugins([proxy], { node: 'n1' });
    try {
      const tags = (path: string): string[] => ['traefik.enable=true', `traefik.http.routers.r.rule=PathPrefix(\`${path}\`)`];
      await run.store.apply([
        upsert(spec('boom', { id: 'b1', nodeAddress: '127.0.0.1', port, tags: tags('/boom') })),
        upsert(spec('fine', { id: 'f1', nodeAddress: '127.0.0.1', port, tags: tags('/fine') })),
      ]);
      await eventually(() => proxy.routers().length === 1 && proxy.problems().length === 1, 5000, 'one router and one problem');
      expect(proxy.problems()).toEqual([{ service: 'boom', instances: ['b1'], reason: "the service's routers were not built: a bug" }]);
      const res = await fetch(`http://127.0.0.1:${proxy.addresses()['web']!.port}/fine`);
      expect([res.status, await res.text()]).toEqual([200, 'a']);
    } finally {
      await run.stop();
      await new Promise<void>((r) => backend.close(() => r()));
    }
  });
});
