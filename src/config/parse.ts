import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { JobExecutorError } from '../errors.js';
import { deepFreeze } from '../util/objects.js';
import { JobConfigSchema, type JobConfig } from './schema.js';
import { formatYamlPath, loadYaml, loadYamlAsync, type LoadedYaml } from './yaml-load.js';
import { closest } from '../util/strings.js';

/**
 * One problem in a config, located by its path in the document, e.g. `actions[0].tasks[1].image` (or
 * `line 3, column 5` when the YAML itself is broken), and by line and column (1-based) where known.
 */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

export type ParseResult =
  | { readonly ok: true; readonly config: JobConfig; readonly hash: string }
  /**
   * At most MAX_PROBLEMS problems; `more` counts those left out. `document`: the YAML as data when it could be
   * read, for checks beyond the schema (lint's policy).
   */
  | {
      readonly ok: false;
      readonly problems: readonly ConfigProblem[];
      readonly more?: number;
      readonly document?: unknown;
    };

/** Problems reported for one config; a config with thousands of bad keys costs no more than this. */
export const MAX_PROBLEMS = 100;

/** `['actions', 0, 'tasks', 1, 'image']` → `actions[0].tasks[1].image`. */
export function formatPath(path: readonly PropertyKey[]): string {
  const out = formatYamlPath(path);
  return out === '(root)' ? '' : out;
}

/** The keys the schema allows at a path, so an unknown key can be answered with "did you mean …". */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  // Walk the schema along the path; only object/array/optional/default wrappers occur in it.
  let schema: unknown = JobConfigSchema;
  const unwrap = (s: unknown): unknown => {
    let cur = s as { def?: { type?: string; innerType?: unknown; element?: unknown; in?: unknown; out?: unknown } };
    for (let i = 0; i < 10 && cur?.def; i++) {
      const t = cur.def.type;
      if (t === 'optional' || t === 'default' || t === 'nullable') cur = cur.def.innerType as typeof cur;
      else if (t === 'pipe') cur = cur.def.out as typeof cur;
      else break;
    }
    return cur;
  };
  for (const part of path) {
    const s = unwrap(schema) as { def?: { type?: string; element?: unknown }; shape?: Record<string, unknown> };
    if (typeof part === 'number') schema = s.def?.type === 'array' ? s.def.element : undefined;
    else schema = s.shape?.[String(part)];
    if (!schema) return [];
  }
  const s = unwrap(schema) as { shape?: Record<string, unknown> };
  return s.shape ? Object.keys(s.shape) : [];
}

/** A suggestion for an unknown key: the known key it is closest to, when it is close. */
function didYouMean(key: string, known: readonly string[]): string {
  const best = closest(key, known);
  return best ? ` (did you mean "${best}"?)` : '';
}

function zodProblems(error: z.ZodError, yaml: LoadedYaml): { problems: ConfigProblem[]; more: number } {
  const problems: ConfigProblem[] = [];
  let more = 0;
  const path = (p: ReadonlyArray<PropertyKey>) => p.filter((x): x is string | number => typeof x !== 'symbol');
  for (const issue of error.issues) {
    const room = MAX_PROBLEMS - problems.length;
    const count = issue.code === 'unrecognized_keys' ? issue.keys.length : 1;
    if (count > room) {
      more += count - Math.max(room, 0);
      if (room <= 0) continue;
    }
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys.slice(0, room)) {
        const at = [...path(issue.path), key];
        problems.push({
          path: formatYamlPath(at),
          message: `unknown key${didYouMean(key, known)}`,
          ...yaml.position(at, { key: true }),
        });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'required';
    problems.push({ path: formatYamlPath(issue.path), message, ...yaml.position(path(issue.path)) });
  }
  // `imag: alpine` makes `image` missing too; the suggestion already says what to do, so the second is noise.
  const suggested = new Set(
    problems.flatMap((p) => {
      const m = /^unknown key \(did you mean "(.+)"\?\)$/.exec(p.message);
      return m ? [`${p.path.replace(/[^.[\]]+$/, '')}${m[1]}`] : [];
    }),
  );
  const kept = problems
    .filter((p) => !(p.message === 'required' && suggested.has(p.path)))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { problems: kept, more };
}

/**
 * Parses and validates the text of a `job/config.yaml`: the YAML within its limits, then the one schema
 * (which also checks templates, globs, JSONPaths, names and counts). Never throws for bad input.
 */
export function parseJobConfig(text: string): ParseResult {
  return validate(text, loadYaml(text));
}

/** parseJobConfig for the service: the same result, without holding the event loop for the whole parse. */
export async function parseJobConfigAsync(
  text: string,
  signal?: AbortSignal,
  chunkBytes?: number,
): Promise<ParseResult> {
  return validate(text, await loadYamlAsync(text, signal, chunkBytes));
}

function validate(text: string, loaded: Awaited<ReturnType<typeof loadYamlAsync>>): ParseResult {
  if (!loaded.ok) return { ok: false, problems: loaded.problems };
  const doc = loaded.yaml.value;
  if (doc === undefined || doc === null)
    return { ok: false, problems: [{ path: '(root)', message: 'the file is empty' }] };
  let parsed: ReturnType<typeof JobConfigSchema.safeParse>;
  try {
    parsed = JobConfigSchema.safeParse(doc);
  } catch (e) {
    // Defensive: the schema's own checks do not throw, but the service must never die on a config.
    return { ok: false, problems: [{ path: '(root)', message: `cannot be checked: ${(e as Error).message}` }] };
  }
  if (!parsed.success) {
    const { problems, more } = zodProblems(parsed.error, loaded.yaml);
    return { ok: false, problems, ...(more > 0 ? { more } : {}), document: doc };
  }
  // JES labels Jobs with a hash of the raw bytes (SHA3-224); we keep the same idea with the same algorithm.
  const hash = createHash('sha3-224').update(text).digest('hex');
  return { ok: true, config: deepFreeze(parsed.data), hash };
}

/** At most this many problems go into one error message (lint prints them all). */
const MESSAGE_PROBLEMS = 20;

/**
 * Parse or throw one coded error listing the problems, for callers that cannot go on without a config.
 * `origin` names the config in the message: a path relative to the config root or a resource address, never
 * an absolute path of the service's machine (the message reaches HTTP callers and Keptn events).
 */
export function parseJobConfigOrThrow(text: string, origin: string): { config: JobConfig; hash: string } {
  return orThrow(parseJobConfig(text), origin);
}

/** parseJobConfigOrThrow for the service (see parseJobConfigAsync). */
export async function loadJobConfig(
  text: string,
  origin: string,
  signal?: AbortSignal,
): Promise<{ config: JobConfig; hash: string }> {
  return orThrow(await parseJobConfigAsync(text, signal), origin);
}

function orThrow(result: ParseResult, origin: string): { config: JobConfig; hash: string } {
  if (result.ok) return { config: result.config, hash: result.hash };
  const shown = result.problems.slice(0, MESSAGE_PROBLEMS).map((p) => `${p.path}: ${p.message}`);
  const left = Math.max(result.problems.length - MESSAGE_PROBLEMS, 0) + (result.more ?? 0);
  const more = left > 0 ? `; and ${left} more` : '';
  throw new JobExecutorError('CONFIG_INVALID', `${origin}: invalid job config: ${shown.join('; ')}${more}`);
}
