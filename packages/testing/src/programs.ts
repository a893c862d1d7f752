import { which } from '@signpost/core';

/** The path of `program` on PATH, or undefined (from `@signpost/core`, which plugins use too). */
export { which };

/**
 * Whether a test that needs `program` can run. Without it, one line names the
 * Debian package and the test is skipped; under CI (CI=true) a missing program
 * is an error, since .ci/run installs them first.
 */
export function hasProgram(program: string, debianPackage: string): boolean {
  if (which(program)) return true;
  if (process.env['CI'] === 'true') throw new Error(`${program} is not on PATH under CI: .ci/install-tools should install the Debian package ${debianPackage}`);
  process.stderr.write(`skipping tests that need ${program}: apt-get install ${debianPackage}\n`);
  return false;
}
