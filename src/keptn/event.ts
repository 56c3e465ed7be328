import { randomUUID } from 'node:crypto';
import { JobExecutorError } from '../errors.js';
import { deepFreeze, isPlainObject } from '../util/objects.js';

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

const STRING_ATTRIBUTES = [
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'shkeptncontext',
  'triggeredid',
  'gitcommitid',
  'shkeptnspecversion',
  'contenttype',
  'datacontenttype',
] as const;

function invalid(message: string): JobExecutorError {
  return new JobExecutorError('EVENT_INVALID', message);
}

function isJsonContentType(value: string): boolean {
  const media = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || media.endsWith('+json') || media === 'text/json';
}

/**
 * Validates a structured CloudEvent (already JSON-parsed) as a Keptn event. Every error names the attribute
 * at fault, so the HTTP intake can answer 400 with it.
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

  for (const key of STRING_ATTRIBUTES) {
    const value = raw[key];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw invalid(`${key}: expected a string, got ${typeof value}`);
    }
  }
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
    throw invalid(`datacontenttype: "${contentType}" is not JSON; Keptn event data is always JSON`);
  }
  if (raw.data_base64 !== undefined) throw invalid('data_base64: binary data is not supported; send JSON data');

  let data = raw.data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      throw invalid('data: is a string that is not valid JSON');
    }
  }
  if (!isPlainObject(data)) throw invalid('data: required, a JSON object');
  for (const key of ['project', 'stage', 'service'] as const) {
    const v = data[key];
    if (typeof v !== 'string' || v.trim() === '') throw invalid(`data.${key}: required, a non-empty string`);
  }
  if (data.labels !== undefined && data.labels !== null) {
    if (!isPlainObject(data.labels)) throw invalid('data.labels: expected an object of strings');
    for (const [k, v] of Object.entries(data.labels)) {
      if (typeof v !== 'string') throw invalid(`data.labels.${k}: expected a string, got ${typeof v}`);
    }
  }

  const event: Record<string, unknown> = {
    specversion: raw.specversion,
    id: raw.id,
    source: raw.source,
    type,
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
 * Binary mode: attributes in `ce-*` headers, the body is the data. Header names are lower-cased by Node.
 */
export function parseBinaryKeptnEvent(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: string,
): KeptnEvent {
  const attrs: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('ce-') || value === undefined) continue;
    attrs[name.slice(3)] = Array.isArray(value) ? value.join(',') : value;
  }
  const contentType = headers['content-type'];
  if (typeof contentType === 'string' && attrs.datacontenttype === undefined) attrs.datacontenttype = contentType;
  if (body.trim() === '') throw invalid('data: required, a JSON object (the body was empty)');
  try {
    attrs.data = JSON.parse(body);
  } catch (e) {
    throw invalid(`data: the body is not valid JSON (${(e as Error).message})`);
  }
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
