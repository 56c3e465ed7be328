import { randomUUID } from 'node:crypto';
import { JobExecutorError } from '../errors.js';
import { deepFreeze, isPlainObject } from '../util/objects.js';
import {
  ATTRIBUTE_RULES,
  MAX_EVENT_DEPTH,
  MAX_SCOPE_NAME_CHARS,
  STRING_ATTRIBUTES,
  attributeProblem,
} from './event-limits.js';
import { formatPath, textNestingProblem, valueShapeProblem } from './json-shape.js';

/** The `data` every Keptn task event carries (keptn-protocol.md §2.3); the rest is task specific. */
export interface KeptnEventData {
  readonly project: string;
  readonly stage: string;
  readonly service: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly [key: string]: unknown;
}

/** An incoming Keptn CloudEvent, validated and deeply frozen. */
export interface KeptnEvent {
  readonly specversion: string;
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time?: string;
  readonly shkeptncontext: string;
  readonly triggeredid?: string;
  readonly gitcommitid?: string;
  readonly shkeptnspecversion?: string;
  /** Keptn's legacy key; CloudEvents 1.0 calls it `datacontenttype`. Either is accepted. */
  readonly contenttype?: string;
  readonly data: KeptnEventData;
}

export interface ParseOptions {
  /**
   * Fill a missing id, time and shkeptncontext as the Keptn API does on `POST /v1/event` (keptn-protocol.md
   * §3.2.2). Used by `job-executor run`, so a hand-written event file works; the HTTP intake does not do this,
   * because an event that reached us without them did not come from Keptn.
   */
  readonly fillDefaults?: boolean;
}

function invalid(message: string): JobExecutorError {
  return new JobExecutorError('EVENT_INVALID', message);
}

function isJsonContentType(value: string): boolean {
  const media = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || media.endsWith('+json') || media === 'text/json';
}

/**
 * JSON text as a value, the nesting checked first so a deep text never reaches JSON.parse or anything
 * recursive after it. `root`/`rootLevel` say where the text sits in the event (`''`/1 for a whole event,
 * `data`/2 for data); `notJson` starts the message when it does not parse (JSON.parse's reason follows).
 */
export function parseJsonText(text: string, notJson: string, root = '', rootLevel = 1): unknown {
  const deep = textNestingProblem(text, MAX_EVENT_DEPTH, root, rootLevel);
  if (deep) throw invalid(deep);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw invalid(`${notJson} (${(e as Error).message})`);
  }
}

/** A whole structured event as JSON text (a NATS payload, a claim): parsed under the same limits as HTTP. */
export function parseKeptnEventText(text: string, options: ParseOptions = {}): KeptnEvent {
  return parseKeptnEvent(parseJsonText(text, 'event: not valid JSON'), options);
}

/** Types, lengths and characters of the string attributes (event-limits.ts), before any of them is used. */
function checkStringAttributes(raw: Readonly<Record<string, unknown>>): void {
  for (const key of STRING_ATTRIBUTES) {
    const value = raw[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string')
      throw invalid(`${key}: expected a string, got ${Array.isArray(value) ? 'an array' : typeof value}`);
    const problem = attributeProblem(key, value, ATTRIBUTE_RULES[key]);
    if (problem) throw invalid(problem);
  }
}

function checkEnvelope(raw: Readonly<Record<string, unknown>>): string | undefined {
  for (const key of ['specversion', 'id', 'source', 'type'] as const) {
    if (typeof raw[key] !== 'string' || raw[key] === '') throw invalid(`${key}: required`);
  }
  if (raw.specversion !== '1.0') throw invalid(`specversion: "${String(raw.specversion)}" is not supported, use "1.0"`);
  const type = raw.type as string;
  if (!/^sh\.keptn\.event\.[^.]+(\.[^.]+)+$/.test(type)) {
    throw new JobExecutorError(
      'EVENT_NOT_KEPTN',
      `type: "${type}" is not a Keptn event type (expected sh.keptn.event.<task>.<kind>)`,
    );
  }
  if (typeof raw.shkeptncontext !== 'string' || raw.shkeptncontext === '') {
    throw new JobExecutorError('EVENT_NOT_KEPTN', 'shkeptncontext: required on Keptn events');
  }
  const contentType = (raw.datacontenttype ?? raw.contenttype) as string | undefined;
  if (contentType && !isJsonContentType(contentType)) {
    const key = raw.datacontenttype ? 'datacontenttype' : 'contenttype';
    throw invalid(`${key}: "${contentType}" is not JSON; Keptn event data is always JSON`);
  }
  if (raw.data_base64 !== undefined) throw invalid('data_base64: binary data is not supported; send JSON data');
  return contentType || undefined;
}

function checkData(value: unknown): KeptnEventData {
  const data =
    typeof value === 'string' ? parseJsonText(value, 'data: is a string that is not valid JSON', 'data', 2) : value;
  if (!isPlainObject(data)) throw invalid('data: required, a JSON object');
  const shape = valueShapeProblem(data, MAX_EVENT_DEPTH, 'data', 2);
  if (shape) throw invalid(shape);
  for (const key of ['project', 'stage', 'service'] as const) {
    const v = data[key];
    if (typeof v !== 'string' || v.trim() === '') throw invalid(`data.${key}: required, a non-empty string`);
    if (v.length > MAX_SCOPE_NAME_CHARS)
      throw invalid(`data.${key}: ${v.length} characters, more than the limit of ${MAX_SCOPE_NAME_CHARS}`);
  }
  if (data.labels !== undefined && data.labels !== null) {
    if (!isPlainObject(data.labels)) throw invalid('data.labels: expected an object of strings');
    for (const [k, v] of Object.entries(data.labels)) {
      if (typeof v !== 'string') throw invalid(`${formatPath('data.labels', [k])}: expected a string, got ${typeof v}`);
    }
  }
  return data as KeptnEventData;
}

/**
 * Validates a structured CloudEvent (already JSON-parsed) as a Keptn event. Every error names the attribute
 * at fault, so the HTTP intake can answer 400 with it. The limits (event-limits.ts) hold for every transport.
 */
export function parseKeptnEvent(input: unknown, options: ParseOptions = {}): KeptnEvent {
  if (!isPlainObject(input)) throw invalid('event: expected a JSON object (a CloudEvent)');
  const raw: Record<string, unknown> = { ...input };

  if (options.fillDefaults) {
    raw.specversion ??= '1.0';
    raw.id ??= randomUUID();
    raw.time ??= new Date().toISOString();
    raw.shkeptncontext ??= randomUUID();
    raw.source ??= 'job-executor-cli';
  }

  checkStringAttributes(raw);
  const contentType = checkEnvelope(raw);
  const data = checkData(raw.data);

  const event: Record<string, unknown> = {
    specversion: raw.specversion,
    id: raw.id,
    source: raw.source,
    type: raw.type,
    shkeptncontext: raw.shkeptncontext,
    data,
  };
  for (const key of ['time', 'triggeredid', 'gitcommitid', 'shkeptnspecversion'] as const) {
    if (typeof raw[key] === 'string' && raw[key] !== '') event[key] = raw[key];
  }
  if (contentType) event.contenttype = contentType;
  return deepFreeze(event) as unknown as KeptnEvent;
}

/**
 * Binary mode: attributes in `ce-*` headers, the body is the data. Header names are lower-cased by Node, and
 * Node reads header bytes as latin1, so a non-ASCII byte arrives as a character the attribute rules refuse.
 */
export function parseBinaryKeptnEvent(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: string,
): KeptnEvent {
  // No prototype: a `ce-__proto__` header is just an unknown attribute.
  const attrs: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('ce-') || value === undefined) continue;
    attrs[name.slice(3)] = Array.isArray(value) ? value.join(',') : value;
  }
  const contentType = headers['content-type'];
  if (typeof contentType === 'string' && attrs.datacontenttype === undefined) attrs.datacontenttype = contentType;
  if (body.trim() === '') throw invalid('data: required, a JSON object (the body was empty)');
  attrs.data = parseJsonText(body, 'data: the body is not valid JSON', 'data', 2);
  return parseKeptnEvent(attrs);
}

/** `sh.keptn.event.<task>.<kind>`: a task event has exactly five dot-separated parts (keptn-protocol.md §2.2). */
export function taskEventParts(type: string): { task: string; kind: string } | undefined {
  const parts = type.split('.');
  if (parts.length !== 5 || parts[0] !== 'sh' || parts[1] !== 'keptn' || parts[2] !== 'event') return undefined;
  return { task: parts[3] as string, kind: parts[4] as string };
}

/** Only a task `.triggered` event is answered with `.started`/`.finished`. */
export function isTaskTriggered(type: string): boolean {
  return taskEventParts(type)?.kind === 'triggered';
}
