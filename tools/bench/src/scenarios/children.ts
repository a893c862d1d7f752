import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A child that prints `ready <port>` when it serves. */
export interface Endpoint {
  readonly port: number;
  readonly child: ChildProcess;
}

/** The built script of a scenario child (children always run from dist/). */
export function script(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url)).replace(/\/src\/scenarios\//, '/dist/scenarios/');
}

export function startChild(children: ChildProcess[], argv: string[], timeoutMs = 30_000): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} did not get ready`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      const m = /ready (\d+)/.exec(d.toString());
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), child });
      }
    });
    child.on('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}`)));
  });
}

/** Stops children and waits for them (SIGKILL after 3 s). */
export async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const force = setTimeout(() => c.kill('SIGKILL'), 3000);
          c.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}
