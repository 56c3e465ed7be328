import type { KeptnEvent } from '../keptn/event.js';
import { escapeForExpansion } from './expand.js';

/**
 * What a template sees: the whole event as `event`, and shortcuts for what configs use most. Built once per
 * run; the event is frozen, so templates cannot change it.
 */
export interface TemplateContext {
  readonly event: KeptnEvent;
  readonly data: KeptnEvent['data'];
  readonly project: string;
  readonly stage: string;
  readonly service: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly id: string;
  readonly type: string;
  readonly shkeptncontext: string;
  readonly gitcommitid: string;
  readonly triggeredid: string;
}

export function templateContext(event: KeptnEvent): TemplateContext {
  return Object.freeze({
    event,
    data: event.data,
    project: event.data.project,
    stage: event.data.stage,
    service: event.data.service,
    labels: event.data.labels ?? {},
    id: event.id,
    type: event.type,
    shkeptncontext: event.shkeptncontext,
    gitcommitid: event.gitcommitid ?? '',
    triggeredid: event.triggeredid ?? '',
  });
}

/** Sets a key as an own property, also `__proto__` (which plain assignment would treat as the prototype). */
function put(target: Record<string, unknown> | unknown[], key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A copy of a JSON value with every string, keys included, escaped for `$(VAR)` expansion. Iterative, since
 * an event may nest deeply.
 */
export function escapeJson(value: unknown): unknown {
  const wrap = (v: unknown): unknown => {
    if (typeof v === 'string') return escapeForExpansion(v);
    if (Array.isArray(v)) return [];
    if (v !== null && typeof v === 'object') return {};
    return v;
  };
  const root = wrap(value);
  const stack: Array<[unknown, unknown]> = [[value, root]];
  while (stack.length > 0) {
    const [from, to] = stack.pop() as [unknown, Record<string, unknown> | unknown[]];
    if (from === null || typeof from !== 'object') continue;
    const entries: Array<[string | number, unknown]> = Array.isArray(from)
      ? from.map((v, i) => [i, v])
      : Object.entries(from);
    for (const [k, v] of entries) {
      const copy = wrap(v);
      put(to, typeof k === 'string' ? escapeForExpansion(k) : k, copy);
      if (copy !== null && typeof copy === 'object') stack.push([v, copy]);
    }
  }
  return root;
}

/**
 * The context for fields Kubernetes expands `$(VAR)` in (cmd, args, env values): the same values with every
 * string from the event escaped, so expansion gives the event's text back and never reads `$(NAME)` in it.
 * A `$(VAR)` the config writes, also as a helper's literal argument, is not from the event and still expands.
 */
export function expansionContext(event: KeptnEvent): TemplateContext {
  return templateContext(escapeJson(event) as KeptnEvent);
}
