import type * as JsonPathPlus from 'jsonpath-plus';
import { lazyRequire } from '../util/lazy-require.js';
import type { Action, JobConfig } from '../config/schema.js';
import type { KeptnEvent } from '../keptn/event.js';
import { globMatches } from './glob.js';

/** An action selected by an event, with its position in the config (it names Jobs, as in JES). */
export interface MatchedAction {
  readonly action: Action;
  readonly index: number;
}

/**
 * The event as JSONPath sees it (jes-anchor.md §2.3): envelope attributes at the root, the data under `data`,
 * so `$.data.action.action`, `$.id`, `$.shkeptncontext`, `$.gitcommitid`, and (unlike JES) `$.type` work.
 */
export function eventDocument(event: KeptnEvent): Record<string, unknown> {
  return { ...event, gitcommitid: event.gitcommitid ?? '' };
}

/** jsonpath-plus on first use: only a `jsonpath` filter or an env `valueFrom: event` needs it (0.3 MB, and node:vm). */
const jsonPath = lazyRequire<typeof JsonPathPlus>('jsonpath-plus');

/** All values a JSONPath selects, in document order; none when it selects nothing. */
export function queryJsonPath(path: string, doc: unknown): unknown[] {
  // eval: false keeps script filter expressions off: configs are data, not code.
  const result: unknown = jsonPath().JSONPath({ path, json: doc as object, wrap: true, eval: false });
  return Array.isArray(result) ? result : [];
}

function stringForm(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** True when the type glob matches and, if given, the JSONPath selects a value whose string form is `match`. */
export function eventEntryMatches(
  entry: Action['events'][number],
  event: KeptnEvent,
  doc: Record<string, unknown> = eventDocument(event),
): boolean {
  if (!globMatches(entry.name, event.type)) return false;
  if (!entry.jsonpath) return true;
  return queryJsonPath(entry.jsonpath.property, doc).some((v) => stringForm(v) === entry.jsonpath?.match);
}

/** Every action any of whose events matches, in config order (JES ran only the first: issue #167). */
export function matchActions(config: JobConfig, event: KeptnEvent): MatchedAction[] {
  const doc = eventDocument(event);
  const out: MatchedAction[] = [];
  config.actions.forEach((action, index) => {
    if (action.events.some((e) => eventEntryMatches(e, event, doc))) out.push({ action, index });
  });
  return out;
}
