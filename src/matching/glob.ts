const cache = new Map<string, RegExp>();

/**
 * An anchored glob on an event type: `*` matches any run of characters (dots included), `?` one character,
 * `{a,b}` either alternative; everything else is literal. So `sh.keptn.event.*.triggered` means what JES
 * users meant by it, without JES's unanchored-regex surprises (`sh.keptn.event.test` matching `.test.finished`).
 */
export function globToRegExp(glob: string): RegExp {
  const hit = cache.get(glob);
  if (hit) return hit;
  let re = '';
  let depth = 0;
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '{') {
      depth++;
      re += '(?:';
    } else if (ch === '}' && depth > 0) {
      depth--;
      re += ')';
    } else if (ch === ',' && depth > 0) re += '|';
    else re += ch.replace(/[.+^$|()[\]\\/{}]/g, '\\$&');
  }
  if (depth > 0) throw new Error(`unclosed "{" in "${glob}"`);
  const compiled = new RegExp(`^${re}$`);
  if (cache.size > 1000) cache.clear();
  cache.set(glob, compiled);
  return compiled;
}

export function globMatches(glob: string, value: string): boolean {
  try {
    return globToRegExp(glob).test(value);
  } catch {
    return false;
  }
}
