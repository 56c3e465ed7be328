import { createHash } from 'node:crypto';
import yaml from 'js-yaml';
import type { z } from 'zod';
import { JobExecutorError } from '../errors.js';
import { deepFreeze } from '../util/objects.js';
import { JobConfigSchema, type JobConfig } from './schema.js';

/** One problem in a config, located by its path in the document, e.g. `actions[0].tasks[1].image`. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

export type ParseResult =
  | { readonly ok: true; readonly config: JobConfig; readonly hash: string }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/** `['actions', 0, 'tasks', 1, 'image']` → `actions[0].tasks[1].image`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
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

function zodProblems(error: z.ZodError): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const path = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys) {
        const best = known
          .map((k) => ({ k, d: levenshtein(k.toLowerCase(), key.toLowerCase()) }))
          .sort((x, y) => x.d - y.d)[0];
        const hint = best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${best.k}"?)` : '';
        problems.push({ path: formatPath([...issue.path, key]), message: `unknown key${hint}` });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'required';
    problems.push({ path: path === '' ? '(root)' : path, message });
  }
  return problems;
}

/** Parses and validates the text of a `job/config.yaml`. Never throws for bad input. */
export function parseJobConfig(text: string): ParseResult {
  let doc: unknown;
  try {
    doc = yaml.load(text, { schema: yaml.CORE_SCHEMA });
  } catch (e) {
    const err = e as yaml.YAMLException;
    const where = err.mark ? `line ${err.mark.line + 1}, column ${err.mark.column + 1}` : '(root)';
    return { ok: false, problems: [{ path: where, message: `invalid YAML: ${err.reason ?? err.message}` }] };
  }
  if (doc === undefined || doc === null) return { ok: false, problems: [{ path: '(root)', message: 'the file is empty' }] };
  const parsed = JobConfigSchema.safeParse(doc);
  if (!parsed.success) return { ok: false, problems: zodProblems(parsed.error) };
  // JES labels Jobs with a hash of the raw bytes (SHA3-224); we keep the same idea with the same algorithm.
  const hash = createHash('sha3-224').update(text).digest('hex');
  return { ok: true, config: deepFreeze(parsed.data), hash };
}

/** Parse or throw one coded error listing every problem, for callers that cannot go on without a config. */
export function parseJobConfigOrThrow(text: string, origin: string): { config: JobConfig; hash: string } {
  const result = parseJobConfig(text);
  if (result.ok) return { config: result.config, hash: result.hash };
  throw new JobExecutorError(
    'CONFIG_INVALID',
    `${origin}: invalid job config: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
  );
}
