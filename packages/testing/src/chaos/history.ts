/**
 * A set checker in the spirit of Jepsen's: writers record every add and remove
 * they attempted and how it ended; the checker compares the final set with that
 * history.
 *
 * Only an acknowledged operation (`ok`) binds. One that was refused or timed out
 * (`failed`, `unknown`) may have taken effect or not, so after it either state is
 * allowed. Operations on one key are serial (one writer owns a key), so "later"
 * is the order they were recorded in.
 */

export type Outcome = 'ok' | 'failed' | 'unknown';

export interface Operation {
  readonly kind: 'add' | 'remove';
  readonly key: string;
  readonly outcome: Outcome;
}

export interface SetVerdict {
  /** Operations recorded, and of them acknowledged. */
  readonly operations: number;
  readonly acknowledgedAdds: number;
  readonly acknowledgedRemoves: number;
  /** Refused or timed out: these may go either way. */
  readonly indeterminate: number;
  /** Acknowledged adds, with no removal attempted after, that are missing: must be empty. */
  readonly lost: readonly string[];
  /** Acknowledged removals, with no add attempted after, that are present again: must be empty. */
  readonly undone: readonly string[];
  /** Present, though no add of them was ever attempted: must be empty. */
  readonly unexpected: readonly string[];
  /** Present or absent by an indeterminate operation (allowed). */
  readonly eitherWay: number;
}

/** The verdict on `final`, the set the system holds at the end, against `history`. */
export function checkSet(history: readonly Operation[], final: ReadonlySet<string>): SetVerdict {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    let ops = byKey.get(op.key);
    if (!ops) byKey.set(op.key, (ops = []));
    ops.push(op);
  }
  const lost: string[] = [];
  const undone: string[] = [];
  const unexpected: string[] = [];
  let eitherWay = 0;
  for (const [key, ops] of byKey) {
    let last = -1;
    for (let n = ops.length - 1; n >= 0; n--) {
      if (ops[n]!.outcome === 'ok') {
        last = n;
        break;
      }
    }
    const later = ops.slice(last + 1);
    const present = final.has(key);
    const settled = last >= 0 ? ops[last]!.kind === 'add' : false;
    if (present === settled) continue;
    // The other state is allowed only if a later, indeterminate operation could have made it.
    if (later.some((op) => op.kind === (present ? 'add' : 'remove'))) {
      eitherWay++;
      continue;
    }
    if (present && !ops.some((op) => op.kind === 'add')) unexpected.push(key);
    else if (present) undone.push(key);
    else lost.push(key);
  }
  for (const key of final) if (!byKey.has(key)) unexpected.push(key);
  return {
    operations: history.length,
    acknowledgedAdds: history.filter((o) => o.outcome === 'ok' && o.kind === 'add').length,
    acknowledgedRemoves: history.filter((o) => o.outcome === 'ok' && o.kind === 'remove').length,
    indeterminate: history.filter((o) => o.outcome !== 'ok').length,
    lost: lost.sort(),
    undone: undone.sort(),
    unexpected: unexpected.sort(),
    eitherWay,
  };
}
