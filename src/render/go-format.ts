import { jsYaml } from './js-yaml-lib.js';
import { isPlainObject } from '../util/objects.js';

/**
 * JES formats event values for env vars with Go (jes-anchor.md §1.5). Configs and their tests depend on the
 * exact text, so these reproduce Go's output: `%v`, `encoding/json` and `yaml.v2`.
 */

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeysDeep(value[k]);
    return out;
  }
  return value;
}

/** Go's `encoding/json`: map keys sorted, and `<`, `>`, `&`, U+2028, U+2029 escaped. */
export function goJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value) ?? null).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** Go's `%v` of a float64 (strconv 'g', shortest): exponent form from 1e+06 up and below 1e-04. */
export function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mantissa, expText] = n.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(n);
}

/** Go's `%v` of a decoded JSON value: `[a b]` for lists, `map[k:v]` for objects, `<nil>` for null. */
export function goV(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return goFloat(value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(goV).join(' ')}]`;
  if (isPlainObject(value)) {
    return `map[${Object.keys(value)
      .sort()
      .map((k) => `${k}:${goV(value[k])}`)
      .join(' ')}]`;
  }
  return String(value);
}

/** yaml.v2 `Marshal`: block style, keys sorted, a trailing newline. */
export function goYaml(value: unknown): string {
  return jsYaml().dump(value, { sortKeys: true, lineWidth: -1, noRefs: true });
}

/** The env text of an event value, by JES's rules: `yaml`, then `json` (or any object), then `%v`. */
export function formatEventValue(value: unknown, as: 'string' | 'json' | 'yaml' | undefined): string {
  if (as === 'yaml') return goYaml(value);
  if (as === 'json' || isPlainObject(value)) return goJson(value);
  return goV(value);
}
