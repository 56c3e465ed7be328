import { randomUUID } from 'node:crypto';
import { deepFreeze, deepMerge } from '../util/objects.js';
import { utf8Tail } from '../util/tail-buffer.js';
import type { KeptnEvent } from './event.js';

/** An event we send, in Keptn's wire shape (keptn-protocol.md §2.1). Frozen once built. */
export interface OutgoingEvent {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time: string;
  readonly contenttype: 'application/json';
  readonly shkeptncontext: string;
  readonly shkeptnspecversion: string;
  readonly triggeredid: string;
  readonly gitcommitid?: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export type Status = 'succeeded' | 'errored';
export type Result = 'pass' | 'warning' | 'fail';

export const KEPTN_SPEC_VERSION = '0.2.4';
/** Keys of `.finished` data that job output cannot overwrite: Keptn routes and judges by them. */
const RESERVED = ['project', 'stage', 'service', 'labels', 'status', 'result', 'message'];

/** `sh.keptn.event.deployment.triggered` → `sh.keptn.event.deployment.started`. */
export function answerType(type: string, kind: 'started' | 'finished'): string {
  return `${type.slice(0, type.lastIndexOf('.'))}.${kind}`;
}

/** RFC 3339, UTC, seconds: what lighthouse reads from `test.start`/`test.end`. */
export function rfc3339Seconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function envelope(
  event: KeptnEvent,
  kind: 'started' | 'finished',
  source: string,
  data: Record<string, unknown>,
  now: number,
  id: string = randomUUID(),
): OutgoingEvent {
  const out: OutgoingEvent = {
    specversion: '1.0',
    id,
    source,
    type: answerType(event.type, kind),
    time: new Date(now).toISOString(),
    contenttype: 'application/json',
    shkeptncontext: event.shkeptncontext,
    shkeptnspecversion: KEPTN_SPEC_VERSION,
    triggeredid: event.id,
    ...(event.gitcommitid ? { gitcommitid: event.gitcommitid } : {}),
    data,
  };
  return deepFreeze(out);
}

function scope(event: KeptnEvent): Record<string, unknown> {
  const { project, stage, service, labels } = event.data;
  return { project, stage, service, ...(labels ? { labels } : {}) };
}

export function buildStarted(event: KeptnEvent, source: string, now = Date.now()): OutgoingEvent {
  return envelope(event, 'started', source, { ...scope(event), status: 'succeeded' }, now);
}

export interface FinishedInput {
  readonly status: Status;
  readonly result: Result;
  readonly message: string;
  /** Merged job output (`$KEPTN_OUTPUT`). */
  readonly output?: Readonly<Record<string, unknown>>;
  /** For `sh.keptn.event.test.triggered`: when the run started and ended (ms). */
  readonly test?: { readonly start: number; readonly end: number };
  /** The answer's id, when it replaces an earlier form of the same answer (a shortened one keeps the id). */
  readonly id?: string;
}

export function buildFinished(
  event: KeptnEvent,
  source: string,
  input: FinishedInput,
  now = Date.now(),
): OutgoingEvent {
  let data: Record<string, unknown> = {};
  if (input.output) {
    data = Object.fromEntries(Object.entries(input.output).filter(([k]) => !RESERVED.includes(k)));
  }
  if (input.test) {
    data = deepMerge(data, { test: { start: rfc3339Seconds(input.test.start), end: rfc3339Seconds(input.test.end) } });
  }
  data = { ...data, ...scope(event), status: input.status, result: input.result, message: input.message };
  return envelope(event, 'finished', source, data, now, input.id);
}

/** The test task's answer carries `test.start`/`test.end` (jes-anchor.md §2.5). */
export function isTestTriggered(event: KeptnEvent): boolean {
  return event.type === 'sh.keptn.event.test.triggered';
}

export interface TaskMessagePart {
  readonly name: string;
  readonly outcome: 'succeeded' | 'failed' | 'warned' | 'ignored' | 'not run';
  readonly reason?: string;
  readonly logs: string;
  /** Bytes of output before `logs` that the runner did not keep. */
  readonly dropped?: number;
}

/**
 * The `.finished` message. Success keeps JES's exact text, `Task '<name>' finished successfully!\n\nLogs:\n…\n\n`;
 * a failure says why and carries the logs too (JES 0.3 dropped them). The logs of all tasks share one budget
 * of `maxLogBytes`, each cut from its start (the end of a log is where failures are), on a UTF-8 boundary.
 */
export function composeMessage(parts: readonly TaskMessagePart[], maxLogBytes: number, runUrl?: string): string {
  const withLogs = parts.filter((p) => p.logs !== '');
  const share = withLogs.length > 0 ? Math.floor(maxLogBytes / withLogs.length) : maxLogBytes;
  let out = '';
  for (const p of parts) {
    let logs = p.logs;
    const tail = utf8Tail(logs, share);
    // Bytes the runner did not keep count too: the note says how much of the task's output is not shown.
    const cut = tail.cut + (p.dropped ?? 0);
    if (cut > 0)
      logs = `[... ${cut} bytes cut; more of the log in the run store${runUrl ? ` (${runUrl})` : ''} ...]\n${tail.text}`;
    switch (p.outcome) {
      case 'succeeded':
        out += `Task '${p.name}' finished successfully!\n\nLogs:\n${logs}\n\n`;
        break;
      case 'failed':
        out += `Task '${p.name}' failed: ${p.reason ?? 'unknown reason'}\n\nLogs:\n${logs}\n\n`;
        break;
      case 'warned':
        out += `Task '${p.name}' failed (onError: warn): ${p.reason ?? 'unknown reason'}\n\nLogs:\n${logs}\n\n`;
        break;
      case 'ignored':
        out += `Task '${p.name}' failed (onError: ignore): ${p.reason ?? 'unknown reason'}\n\nLogs:\n${logs}\n\n`;
        break;
      case 'not run':
        out += `Task '${p.name}' was not run: ${p.reason ?? 'an earlier task failed'}\n\n`;
        break;
    }
  }
  return out;
}
