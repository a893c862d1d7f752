// The backend every proxy forwards to: a plain Node HTTP server.
import { createServer } from 'node:http';

const body = Buffer.from('hello from the backend\n');
const server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length }).end(body));
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
