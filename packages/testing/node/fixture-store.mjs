// The memory store's behaviour in a few lines, for fixtures that run a plugin under a real
// registry in a process of their own (a plugin's fixtures depend on core and testing only).
import { applyResult, CatalogView, planBatch } from '@signpost/core';

export class FixtureStore extends CatalogView {
  name = 'fixture';
  async start() {}
  async stop() {
    this.close();
  }
  async apply(entries) {
    const index = this.index + 1;
    const plan = planBatch(this, entries, index);
    if (plan.changes.length) this.commit(index, plan.changes);
    return applyResult(plan.changes.length ? index : this.index, plan);
  }
}
