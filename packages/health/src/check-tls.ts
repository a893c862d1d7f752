// The TLS material HTTPS checks use: Consul's `enable_agent_tls_for_checks`, which hands
// the agent's `ca_file`, `cert_file` and `key_file` to its HTTP checks. Here they are
// the health plugin's own `tls` option, read when it starts and by every probe process.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { ValidationError, type Issue } from '@signpost/core';

/** Where the files are (the `tls` option, resolved against the config's directory). */
export interface CheckTlsFiles {
  /** PEM certificates HTTPS checks trust instead of the system's roots (Consul's `ca_file`). */
  readonly caFile?: string;
  /** A client certificate, PEM, for services that ask for one (Consul's `cert_file`); needs `keyFile`. */
  readonly certFile?: string;
  /** Its private key, PEM (Consul's `key_file`). */
  readonly keyFile?: string;
}

/** What the probes' HTTPS agents are built with: the files' contents. */
export interface ProbeTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The files as absolute paths, so a probe process started elsewhere reads the same ones. */
export function resolveCheckTls(files: CheckTlsFiles, baseDir: string): CheckTlsFiles {
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, resolve(baseDir, v as string)]));
}

/**
 * Reads and checks the files. Every problem is named with its option and path: a
 * file that cannot be read, a CA file without a certificate or with one that does
 * not parse (Node would take such a file without a word and trust nothing in it),
 * a certificate without its key, a key that is not the certificate's.
 */
export function loadCheckTls(files: CheckTlsFiles, where = 'plugin health'): ProbeTls {
  const issues: Issue[] = [];
  const read = (key: keyof CheckTlsFiles): string | undefined => {
    const path = files[key];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      issues.push({ path: ['tls', key], message: `cannot read ${path}: ${(err as Error).message}` });
      return undefined;
    }
  };
  const ca = read('caFile');
  const cert = read('certFile');
  const key = read('keyFile');
  if (ca !== undefined) {
    const blocks = ca.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) issues.push({ path: ['tls', 'caFile'], message: `no PEM certificate (-----BEGIN CERTIFICATE-----) in ${files.caFile}` });
    blocks.forEach((block, n) => {
      try {
        new X509Certificate(block);
      } catch (err) {
        issues.push({ path: ['tls', 'caFile'], message: `certificate ${n + 1} in ${files.caFile} does not parse: ${(err as Error).message}` });
      }
    });
  }
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    const missing = files.certFile === undefined ? 'certFile' : 'keyFile';
    issues.push({ path: ['tls', missing], message: `is needed with ${missing === 'certFile' ? 'keyFile' : 'certFile'}: a client certificate and its key go together` });
  } else if (cert !== undefined && key !== undefined) {
    try {
      // OpenSSL's own check passes a key of another type (an Ed25519 key with an EC certificate, seen).
      if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
        issues.push({ path: ['tls', 'keyFile'], message: `${files.keyFile} is not the private key of ${files.certFile}` });
      } else createSecureContext({ cert, key });
    } catch (err) {
      issues.push({ path: ['tls', 'certFile'], message: `${files.certFile} with ${files.keyFile}: ${(err as Error).message}` });
    }
  }
  if (issues.length) throw new ValidationError(where, issues);
  return { ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) };
}
