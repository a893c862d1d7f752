/*
 * A JavaScript string may hold a lone surrogate ("\ud800" in a JSON body decodes to
 * one); UTF-8 cannot. Stored as it came, it made /v1/catalog/services invalid for
 * strict parsers (jq refused the whole document). Go's encoding/json, and so Consul,
 * decodes such an escape to U+FFFD; so does this, for every string that enters the
 * catalog.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

/** `text` with each lone surrogate replaced by U+FFFD, as Go's decoder does. */
export function wellFormedString(text: string): string {
  return ANY_SURROGATE.test(text) ? text.replace(LONE_SURROGATE, '\uFFFD') : text;
}

/**
 * `value` with every string in it, object keys included, well formed. Returns
 * `value` itself when nothing needed replacing, so the common case allocates
 * nothing.
 */
export function wellFormed<T>(value: T): T {
  return fix(value) as T;
}

function fix(value: unknown): unknown {
  if (typeof value === 'string') return wellFormedString(value);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let n = 0; n < value.length; n++) {
      const v = fix(value[n]);
      if (v !== value[n]) (out ??= value.slice())[n] = v;
    }
    return out ?? value;
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    let changed = false;
    const entries = Object.entries(value).map(([k, v]) => {
      const key = wellFormedString(k);
      const fixed = fix(v);
      if (key !== k || fixed !== v) changed = true;
      return [key, fixed] as const;
    });
    return changed ? Object.fromEntries(entries) : value;
  }
  return value;
}
