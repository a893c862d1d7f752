// The ceiling for a Node UDP server: answers from precomputed bytes, patching
// only the id. Responses come in as hex, keyed by query type.
import { createSocket } from 'node:dgram';

const answers = new Map<number, Buffer>(JSON.parse(process.argv[2]!).map(([t, hex]: [number, string]) => [t, Buffer.from(hex, 'hex')]));
const socket = createSocket('udp4');
socket.on('message', (msg, rinfo) => {
  if (msg.length < 12) return;
  let off = 12;
  while (off < msg.length && msg[off] !== 0) off += msg[off]! + 1;
  const answer = answers.get(msg.readUInt16BE(off + 1));
  if (!answer) return;
  const out = Buffer.from(answer);
  out[0] = msg[0]!;
  out[1] = msg[1]!;
  socket.send(out, rinfo.port, rinfo.address);
});
socket.bind(0, '127.0.0.1', () => process.stdout.write(`ready ${socket.address().port}\n`));
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
