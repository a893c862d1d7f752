import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, tempDir } from '@signpost/testing';
import { appMain, startApp } from './processes.js';

/** The agent, as shipped, loads an out-of-tree plugin named by package in its config. */
describe('a plugin package loaded from config by the agent', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let hook: Server;
  let hookUrl: string;
  const posts: Array<{ changes: Array<{ type: string; service: string; id: string }> }> = [];

  beforeAll(async () => {
    dir = await tempDir();
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        posts.push(JSON.parse(body) as (typeof posts)[number]);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/catalog`;
  });
  afterAll(async () => {
    await new Promise((r) => hook.close(r));
    await dir.dispose();
  });

  it('POSTs a registration made through the HTTP API to the webhook, then exits cleanly', async () => {
    const http = await freePort();
    const file = join(dir.path, 'agent.yaml');
    await writeFile(
      file,
      [
        'node: box',
        'dataDir: ./state',
        'plugins:',
        `  - { plugin: http, listen: "127.0.0.1:${http}" }`,
        '  - plugin: "@acme/signpost-sink-webhook"',
        `    url: ${hookUrl}`,
        '    batchWindow: 20ms',
        '',
      ].join('\n'),
    );
    const agent = startApp(appMain('agent'), ['--config', file], {});
    await agent.waitFor('agent running');
    const res = await fetch(`http://127.0.0.1:${http}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'web', ID: 'web-1', Port: 80 }) });
    expect(res.status).toBe(200);
    const deadline = Date.now() + 5000;
    while (!posts.some((p) => p.changes.some((c) => c.id === 'web-1')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(posts.flatMap((p) => p.changes).find((c) => c.id === 'web-1')).toMatchObject({ type: 'upsert', service: 'web' });
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
  });

  it.each([
    ['  - plugin: "@acme/signpost-sink-webhook"\n    url: ftp://nope\n', ':3:5: plugins[0].url: must match ^https?://'],
    ['  - plugin: "@acme/no-such-plugin"\n', ':2:5: plugins[0].plugin: no plugin package "@acme/no-such-plugin"'],
  ])('refuses to start, exit 2, when the config says %j', async (entry, message) => {
    const file = join(dir.path, `bad-${posts.length}-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, `plugins:\n${entry}`);
    const agent = startApp(appMain('agent'), ['--config', file], {});
    expect(await agent.exited).toBe(2);
    expect(agent.out.join('\n')).toContain(`${file}${message}`);
  });
});
