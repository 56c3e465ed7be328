import type { IncomingHttpHeaders } from 'node:http';
import { JobExecutorError } from '../errors.js';
import { parseBinaryKeptnEvent, parseJsonText, parseKeptnEvent, type KeptnEvent } from '../keptn/event.js';
import { shownHeader } from './body.js';

/**
 * `application/json`, `application/cloudevents+json` and any other `application/…+json`. Deliberately none of
 * the media types a web page may send without a CORS preflight (`text/plain`, form encodings): with them, any
 * page open in a browser could start runs. Keptn's distributor and shipyard-controller send
 * `application/cloudevents+json`, the go-utils SDK and the API `application/json` (keptn-protocol.md §3).
 */
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9][a-z0-9!#$&^_.+-]*\+)?json$/;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value: unknown = headers[name];
  if (Array.isArray(value)) return value.join(', ');
  return typeof value === 'string' ? value : undefined;
}

function charsetProblem(params: readonly string[]): string | undefined {
  for (const param of params) {
    const [name, ...rest] = param.split('=');
    if (name?.trim().toLowerCase() !== 'charset') continue;
    const charset = rest
      .join('=')
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8')
      return `content-type: charset "${shownHeader(charset)}" is not accepted; JSON is UTF-8`;
  }
  return undefined;
}

/**
 * Why the request's `content-type` cannot carry an event (the HTTP intake answers 415), or undefined. In
 * binary mode (`ce-*` headers) the content type is the data's, and Keptn data is JSON too.
 */
export function mediaTypeProblem(headers: IncomingHttpHeaders): string | undefined {
  const value = header(headers, 'content-type')?.trim() ?? '';
  const hint = 'send application/cloudevents+json (structured mode) or application/json';
  if (value === '') return `content-type: required; ${hint}`;
  const [essence = '', ...params] = value.split(';');
  if (!JSON_MEDIA_TYPE.test(essence.trim().toLowerCase()))
    return `content-type: "${shownHeader(value)}" is not accepted; ${hint}`;
  return charsetProblem(params);
}

/**
 * An HTTP request body as a Keptn event: binary mode when `ce-specversion` is a header, structured mode
 * otherwise (Keptn's distributor and API clients send the whole event as JSON, with either content type).
 * Throws JobExecutorError: UNSUPPORTED_MEDIA_TYPE (415) or EVENT_INVALID/EVENT_NOT_KEPTN (400), each naming
 * the header or attribute at fault.
 */
export function eventFromHttp(headers: IncomingHttpHeaders, body: string): KeptnEvent {
  const media = mediaTypeProblem(headers);
  if (media) throw new JobExecutorError('UNSUPPORTED_MEDIA_TYPE', media);
  const contentType = (header(headers, 'content-type') ?? '').toLowerCase();
  if (contentType.startsWith('application/cloudevents-batch+json')) {
    throw new JobExecutorError(
      'EVENT_INVALID',
      'content-type: batch mode is not supported; send one event per request',
    );
  }
  if (headers['ce-specversion'] !== undefined) return parseBinaryKeptnEvent(headers, body);
  if (body.trim() === '') throw new JobExecutorError('EVENT_INVALID', 'body: empty; expected a CloudEvent');
  return parseKeptnEvent(parseJsonText(body, 'body: not valid JSON'));
}
