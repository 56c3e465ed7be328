import { JobExecutorError } from '../errors.js';
const cache = new Map<string, RegExp>();

/** The most characters of a glob, and the most plain patterns its `{a,b}` alternatives may spell out. */
export const GLOB_MAX_LENGTH = 1024;
const GLOB_MAX_ALTERNATIVES = 64;

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
  if (depth > 0) throw new JobExecutorError('CONFIG_INVALID', `unclosed "{" in "${glob}"`);
  const compiled = new RegExp(`^${re}$`);
  if (cache.size > 1000) cache.clear();
  cache.set(glob, compiled);
  return compiled;
}

/**
 * The plain patterns (only `*` and `?` left) a glob's `{a,b}` alternatives spell out, or a reason it is not
 * a glob. Matching these one by one keeps matching linear: a regex of many `.*` backtracks badly on a long
 * event type, and the event type is the sender's choice.
 */
function alternatives(glob: string): string[] | string {
  if (glob.length > GLOB_MAX_LENGTH) return `longer than ${GLOB_MAX_LENGTH} characters`;
  // Each level: the alternatives so far of the enclosing group, and the partial pattern of this branch.
  const stack: Array<{ done: string[]; current: string[] }> = [{ done: [], current: [''] }];
  for (const ch of glob) {
    const top = stack[stack.length - 1] as { done: string[]; current: string[] };
    if (ch === '{') stack.push({ done: [], current: [''] });
    else if (ch === ',' && stack.length > 1) {
      top.done.push(...top.current);
      top.current = [''];
    } else if (ch === '}' && stack.length > 1) {
      stack.pop();
      const group = [...top.done, ...top.current];
      const parent = stack[stack.length - 1] as { done: string[]; current: string[] };
      parent.current = parent.current.flatMap((p) => group.map((g) => p + g));
    } else top.current = top.current.map((p) => p + ch);
    const size = stack.reduce((n, level) => n + level.done.length + level.current.length, 0);
    if (size > GLOB_MAX_ALTERNATIVES)
      return `its {a,b} alternatives spell out more than ${GLOB_MAX_ALTERNATIVES} patterns`;
  }
  if (stack.length > 1) return `unclosed "{" in "${glob}"`;
  return (stack[0] as { current: string[] }).current;
}

/** Why a text is not a usable event glob, or undefined. */
export function globProblem(glob: string): string | undefined {
  const result = alternatives(glob);
  return typeof result === 'string' ? result : undefined;
}

/** Does `segment` (with `?` for any one character) match `text` at `at`? */
function segmentAt(segment: string, text: string, at: number): boolean {
  if (at + segment.length > text.length) return false;
  for (let i = 0; i < segment.length; i++) if (segment[i] !== '?' && segment[i] !== text[at + i]) return false;
  return true;
}

/**
 * `*` and `?` only. The parts between stars must appear in order: the first at the start, the last at the end,
 * each middle one at its leftmost place (which is always a right choice), so no backtracking is needed.
 */
function wildcardMatches(pattern: string, text: string): boolean {
  const parts = pattern.split('*');
  const first = parts[0] as string;
  if (parts.length === 1) return first.length === text.length && segmentAt(first, text, 0);
  const last = parts[parts.length - 1] as string;
  if (
    first.length + last.length > text.length ||
    !segmentAt(first, text, 0) ||
    !segmentAt(last, text, text.length - last.length)
  )
    return false;
  let at = first.length;
  const end = text.length - last.length;
  for (const part of parts.slice(1, -1)) {
    let found = -1;
    for (let i = at; i + part.length <= end; i++) {
      if (segmentAt(part, text, i)) {
        found = i;
        break;
      }
    }
    if (found < 0) return false;
    at = found + part.length;
  }
  return true;
}

const patterns = new Map<string, string[]>();

/** True when the glob matches the whole value; an invalid glob matches nothing (the schema refuses it at load). */
export function globMatches(glob: string, value: string): boolean {
  let list = patterns.get(glob);
  if (!list) {
    const result = alternatives(glob);
    list = typeof result === 'string' ? [] : result;
    if (patterns.size > 1000) patterns.clear();
    patterns.set(glob, list);
  }
  return list.some((p) => wildcardMatches(p, value));
}
