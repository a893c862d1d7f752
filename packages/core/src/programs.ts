import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The path of the first executable `program` along `path` (a PATH value; default this process's), or undefined. */
export function which(program: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
