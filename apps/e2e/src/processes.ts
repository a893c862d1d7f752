import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { eventually } from '@signpost/testing';

/** A built app's entry point (`apps/<name>/dist/main.js`). */
export function appMain(app: 'agent' | 'registry' | 'edge'): string {
  return fileURLToPath(new URL(`../../${app}/dist/main.js`, import.meta.url));
}

export interface AppProcess {
  readonly child: ChildProcess;
  /** Every line it printed on stdout and stderr. */
  readonly out: string[];
  readonly exited: Promise<number | null>;
  /** Resolves once a printed line contains `text`. */
  waitFor(text: string, ms?: number): Promise<void>;
}

/** Runs a built app as its own process, with `env` added to this one's. */
export function startApp(main: string, args: readonly string[], env: Readonly<Record<string, string>>): AppProcess {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const out: string[] = [];
  const collect = (d: Buffer): void => void out.push(...d.toString().split('\n').filter(Boolean));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    out,
    exited,
    waitFor: (text, ms = 20_000) =>
      eventually(() => {
        if (child.exitCode !== null) throw new Error(`the process exited (${child.exitCode}) before printing "${text}":\n${out.join('\n')}`);
        return out.some((l) => l.includes(text));
      }, ms, `"${text}"`),
  };
}

/** One DNS question over UDP to 127.0.0.1:`port`; the decoded answer. */
async function ask(port: number, name: string, type: 'A' | 'SRV', timeoutMs: number): Promise<ReturnType<typeof dnsPacket.decode> & { rcode?: string }> {
  const socket = createSocket('udp4');
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DNS answer for ${name} from 127.0.0.1:${port} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }), port, '127.0.0.1');
    });
    // dns-packet decodes the rcode, which its types leave out.
    return dnsPacket.decode(reply);
  } finally {
    socket.close();
  }
}

/** One A question: the answer's rcode and addresses. */
export async function queryA(port: number, name: string, timeoutMs = 1000): Promise<{ rcode: string; addresses: string[] }> {
  const packet = await ask(port, name, 'A', timeoutMs);
  return { rcode: packet.rcode ?? 'NOERROR', addresses: (packet.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : [])) };
}

/** One SRV question: the target port of each record, sorted. */
export async function querySrvPorts(port: number, name: string, timeoutMs = 1000): Promise<number[]> {
  const packet = await ask(port, name, 'SRV', timeoutMs);
  return (packet.answers ?? []).flatMap((a) => (a.type === 'SRV' ? [a.data.port] : [])).sort((x, y) => x - y);
}
