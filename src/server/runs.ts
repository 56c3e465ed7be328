import type { RunRecord } from '../executor/run-store.js';
import { isPlainObject } from '../util/objects.js';

/**
 * Levels of a run's event and answers the API and the page show. Events are refused deeper than 64 levels at
 * intake, but answers carry task output, which is hostile too: whatever is deeper is shown as DEEP_MARKER, so
 * JSON.stringify (recursive in V8: it overflows at a few thousand levels) and the page always get a value.
 */
export const SHOWN_DEPTH = 64;
export const DEEP_MARKER = `[nested deeper than ${SHOWN_DEPTH} levels: not shown]`;

interface CopyFrame {
  readonly from: Readonly<Record<string, unknown>> | readonly unknown[];
  readonly to: Record<string, unknown> | unknown[];
  readonly level: number;
}

function emptyLike(value: object): Record<string, unknown> | unknown[] {
  return Array.isArray(value) ? [] : {};
}

/**
 * A JSON-like value copied with an explicit stack (no recursion), containers below `maxDepth` levels replaced
 * by DEEP_MARKER. Members are defined, never assigned, so a `__proto__` key stays a plain member.
 */
export function depthCapped(value: unknown, maxDepth = SHOWN_DEPTH): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (maxDepth < 1) return DEEP_MARKER;
  const root = emptyLike(value);
  const stack: CopyFrame[] = [{ from: value as CopyFrame['from'], to: root, level: 1 }];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    for (const [key, child] of Object.entries(frame.from)) {
      let copy: unknown = child;
      if (child !== null && typeof child === 'object') {
        if (!Array.isArray(child) && !isPlainObject(child)) copy = String(child);
        else if (frame.level >= maxDepth) copy = DEEP_MARKER;
        else {
          copy = emptyLike(child);
          stack.push({ from: child as CopyFrame['from'], to: copy as CopyFrame['to'], level: frame.level + 1 });
        }
      }
      Object.defineProperty(frame.to, key, { value: copy, enumerable: true, writable: true, configurable: true });
    }
  }
  return root;
}

/** An ISO time, or undefined for a missing or impossible one (toISOString throws on those). */
function iso(ms: number | undefined): string | undefined {
  return typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms) <= 8.64e15
    ? new Date(ms).toISOString()
    : undefined;
}

function duration(start: number | undefined, end: number | undefined): number | undefined {
  return iso(start) && iso(end) ? (end as number) - (start as number) : undefined;
}

/** A run as the API shows it; the event's data is included, answers without their full bodies. */
export function runSummary(run: RunRecord): Record<string, unknown> {
  const data = run.event.data;
  return {
    id: run.id,
    status: run.status,
    result: run.result,
    eventId: run.event.id,
    type: run.event.type,
    shkeptncontext: run.event.shkeptncontext,
    project: data?.project,
    stage: data?.stage,
    service: data?.service,
    receivedAt: iso(run.receivedAt),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    durationMs: duration(run.startedAt, run.finishedAt),
    error: run.error,
    // Picked up again after a restart (Kubernetes runner): the run began in an earlier process.
    resumed: run.resumed === true ? true : undefined,
  };
}

export function runDetail(run: RunRecord): Record<string, unknown> {
  return {
    ...runSummary(run),
    event: depthCapped(run.event),
    config: run.configOrigin,
    actions: run.actions ?? [],
    tasks: (run.tasks ?? []).map((t) => ({
      ...t,
      startedAt: iso(t.startedAt),
      finishedAt: iso(t.finishedAt),
      durationMs: duration(t.startedAt, t.finishedAt),
      logs: (t.logs ?? []).map((l) => l.text).join('\n'),
    })),
    answers: (run.answers ?? []).map((a) => ({ ...a, event: depthCapped(a.event) })),
  };
}
