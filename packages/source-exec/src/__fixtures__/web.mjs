// A tiny web app for the tests: listens on $PORT, says who it is, and can be told to misbehave.
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
if (process.env.IGNORE_SIGTERM) process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
const server = createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, port, index: process.env.NOMAD_ALLOC_INDEX, label: process.env.NOMAD_PORT_http, greeting: process.env.GREETING ?? '' }));
});
server.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
