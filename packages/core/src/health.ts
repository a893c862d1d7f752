import type { Check, HealthStatus, ServiceInstance } from './model.js';

const RANK: Record<HealthStatus, number> = { passing: 0, warning: 1, critical: 2 };

/** The worse of two statuses (critical > warning > passing). */
export function worseStatus(a: HealthStatus, b: HealthStatus): HealthStatus {
  return RANK[a] >= RANK[b] ? a : b;
}

/**
 * An instance is as healthy as its worst check; one without checks is passing,
 * as in Consul. A check that has not run yet keeps its initial status (critical
 * unless registered otherwise), so a new instance gets no traffic before its check passes.
 */
export function instanceHealth(instance: { readonly checks: readonly Check[] }): HealthStatus {
  let status: HealthStatus = 'passing';
  for (const c of instance.checks) status = worseStatus(status, c.status);
  return status;
}

/** Whether an instance should be handed out (DNS answers, proxy backends). */
export function isRoutable(instance: ServiceInstance, options: { readonly includeWarning?: boolean } = {}): boolean {
  const status = instanceHealth(instance);
  return status === 'passing' || (status === 'warning' && options.includeWarning !== false);
}

/** The most output the catalog keeps for a check: Consul's `check_output_max_size` default, 4 KB. */
export const CHECK_OUTPUT_MAX = 4096;

/** How many bytes of output a check keeps: its `outputMaxSize` where that is lower than the 4 KB every check is held to (Consul lets a check lower the agent's limit, not raise it). */
export function checkOutputLimit(definition: { readonly outputMaxSize?: number }): number {
  const own = definition.outputMaxSize;
  return own !== undefined && own > 0 && own < CHECK_OUTPUT_MAX ? own : CHECK_OUTPUT_MAX;
}

/** `text` cut to its first `maxBytes` bytes of UTF-8, never inside a character. */
export function firstBytes(text: string, maxBytes: number): string {
  // A string of at most maxBytes / 3 UTF-16 units is at most maxBytes long in UTF-8.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  // Streaming, the decoder holds back a character cut at the end instead of making it U+FFFD.
  return new TextDecoder().decode(Buffer.from(text).subarray(0, maxBytes), { stream: true });
}
