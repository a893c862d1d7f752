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
