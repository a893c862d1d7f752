// The ceiling: a bare fastify route answering the same bytes and headers.
import Fastify from 'fastify';

const [body, index] = process.argv.slice(2) as [string, string];
const app = Fastify({ logger: false });
app.get('/v1/catalog/service/web', async (_req, reply) => {
  reply.header('X-Consul-Index', index).header('X-Consul-KnownLeader', 'true').header('X-Consul-LastContact', '0').header('X-Consul-Effective-Consistency', 'leader').type('application/json');
  return body;
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`ready ${typeof address === 'object' && address ? address.port : 0}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
