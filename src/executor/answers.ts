import { isTaskTriggered, type KeptnEvent } from '../keptn/event.js';
import {
  buildFinished,
  composeMessage,
  isTestTriggered,
  type OutgoingEvent,
  type TaskMessagePart,
} from '../keptn/responses.js';
import { utf8Head } from '../util/tail-buffer.js';

/**
 * Whether and what a run answers: pure, so every rule is unit-tested apart from the pipeline.
 * - Only a task `.triggered` event is answered, and only when an action that is not `silent` matched it.
 * - The whole `.finished` event (not just its message) fits the receiver's size limit: Keptn refuses events
 *   over 64 KiB. Logs are cut first; job output that cannot fit makes the answer errored and says why.
 * - A receiver that still refuses an answer for its size gets a shortened one (`shrinkFinished`), never none.
 */

export function answers(
  event: KeptnEvent,
  matched: ReadonlyArray<{ readonly action: { readonly silent: boolean } }>,
): boolean {
  return isTaskTriggered(event.type) && matched.some((m) => !m.action.silent);
}

export interface FinishedSpec {
  readonly status: 'succeeded' | 'errored';
  readonly result: 'pass' | 'warning' | 'fail';
  /** The task parts of the message; or, for a run that could not be carried out, the reason alone. */
  readonly parts?: readonly TaskMessagePart[];
  readonly message?: string;
  readonly output?: Readonly<Record<string, unknown>>;
  /** When the run started and ended (ms): `test.start`/`test.end` for a test task. */
  readonly window: { readonly start: number; readonly end: number };
}

export interface AnswerLimits {
  /** `source` of the events sent. */
  readonly source: string;
  /** Bytes of task logs in one message (before the size limit cuts further). */
  readonly messageLogBytes: number;
  /** Bytes of the whole event as JSON: Keptn's limit is 64 KiB. */
  readonly maxEventBytes: number;
  /** Where the full run can be read, for the notes of cut messages. */
  readonly runUrl?: string;
}

export function eventBytes(event: OutgoingEvent): number {
  return Buffer.byteLength(JSON.stringify(event));
}

/** Room left for anything else when an event is near the limit: headers of the binding, rounding. */
const MARGIN = 512;

function build(
  event: KeptnEvent,
  spec: FinishedSpec,
  limits: AnswerLimits,
  logBytes: number,
  id?: string,
  withOutput = true,
): OutgoingEvent {
  const message = spec.parts ? composeMessage(spec.parts, logBytes, limits.runUrl) : (spec.message ?? '');
  return buildFinished(event, limits.source, {
    status: spec.status,
    result: spec.result,
    message,
    ...(withOutput && spec.output && Object.keys(spec.output).length > 0 ? { output: spec.output } : {}),
    ...(isTestTriggered(event) ? { test: spec.window } : {}),
    ...(id ? { id } : {}),
  });
}

/** The `.finished` for a run, cut to fit `maxEventBytes`. */
export function finishedFor(event: KeptnEvent, spec: FinishedSpec, limits: AnswerLimits): OutgoingEvent {
  let budget = limits.messageLogBytes;
  let out = build(event, spec, limits, budget);
  let size = eventBytes(out);
  // Each round cuts the log budget by what is over, so this ends in a few rounds whatever the shape.
  for (let round = 0; size > limits.maxEventBytes && budget > 0 && round < 8; round++) {
    budget = Math.max(0, budget - (size - limits.maxEventBytes) - MARGIN);
    out = build(event, spec, limits, budget, out.id);
    size = eventBytes(out);
  }
  if (size <= limits.maxEventBytes) return out;
  return withoutOutput(event, spec, limits, out.id, size);
}

/** Output too large for the event: the answer cannot carry it, so it says so instead of pretending success. */
function withoutOutput(
  event: KeptnEvent,
  spec: FinishedSpec,
  limits: AnswerLimits,
  id: string,
  size: number,
): OutgoingEvent {
  const note =
    `the answer (${size} bytes) does not fit the receiver's limit of ${limits.maxEventBytes} bytes` +
    (spec.output && Object.keys(spec.output).length > 0
      ? ' because of the job output ($KEPTN_OUTPUT); the output was left out'
      : '') +
    (limits.runUrl ? `; the full run is at ${limits.runUrl}` : '');
  const message = utf8Head(
    `${note}\n\n${spec.parts ? composeMessage(spec.parts, 0, limits.runUrl) : (spec.message ?? '')}`,
    Math.max(256, limits.maxEventBytes - 4096),
  ).text;
  const hadOutput = spec.output !== undefined && Object.keys(spec.output).length > 0;
  return build(
    event,
    { ...spec, parts: undefined, message, ...(hadOutput ? { status: 'errored', result: 'fail' } : {}) },
    limits,
    0,
    id,
    false,
  );
}

const KEPT_KEYS = new Set(['project', 'stage', 'service', 'labels', 'status', 'result', 'message', 'test']);

/**
 * A shorter form of a `.finished` that a receiver refused for its size: same id, status and result, the
 * message cut to a quarter with a note where the full run is; once the message is short, the job output goes
 * (and the answer says it is errored for that). Undefined when there is nothing left to cut.
 */
export function shrinkFinished(answer: OutgoingEvent, runUrl?: string): OutgoingEvent | undefined {
  const message = typeof answer.data.message === 'string' ? answer.data.message : '';
  const bytes = Buffer.byteLength(message);
  const where = runUrl ? `: the full run is at ${runUrl}` : '';
  if (bytes > 1024) {
    const note = `[the receiver refused this answer as too large; the message was cut${where}]\n`;
    const keep = utf8Head(message, Math.floor(bytes / 4)).text;
    return Object.freeze({ ...answer, data: Object.freeze({ ...answer.data, message: `${note}${keep}` }) });
  }
  const extra = Object.keys(answer.data).filter((k) => !KEPT_KEYS.has(k));
  if (extra.length === 0) return undefined;
  const data = Object.fromEntries(Object.entries(answer.data).filter(([k]) => KEPT_KEYS.has(k)));
  const note = `the receiver refused this answer as too large; the job output (${extra.join(', ')}) was left out${where}`;
  return Object.freeze({
    ...answer,
    data: Object.freeze({ ...data, status: 'errored', result: 'fail', message: `${note}\n\n${message}` }),
  });
}
