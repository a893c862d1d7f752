// The demo application `npm start` runs twice through the exec source: a tiny web
// app standing in for the article's `cerebro`. It listens on the dynamic port the
// scheduler hands it ($PORT, also $NOMAD_PORT_http) and says which instance it is.
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const index = process.env.NOMAD_ALLOC_INDEX ?? '?';
const server = createServer((req, res) => {
  if (req.url === '/health') return res.end('ok\n');
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(`cerebro instance ${index} on 127.0.0.1:${port} (pid ${process.pid}) answered ${req.method} ${req.url}\n`);
});
server.listen(port, '127.0.0.1', () => console.log(`cerebro instance ${index} listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
