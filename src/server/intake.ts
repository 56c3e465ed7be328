import type { IncomingHttpHeaders } from 'node:http';
import { JobExecutorError } from '../errors.js';
import { parseBinaryKeptnEvent, parseKeptnEvent, type KeptnEvent } from '../keptn/event.js';

/**
 * An HTTP request body as a Keptn event: binary mode when `ce-specversion` is a header, structured mode
 * otherwise (Keptn's distributor and API clients send the whole event as JSON, with either content type).
 */
export function eventFromHttp(headers: IncomingHttpHeaders, body: string): KeptnEvent {
  const contentType = (headers['content-type'] ?? '').toLowerCase();
  if (contentType.startsWith('application/cloudevents-batch+json')) {
    throw new JobExecutorError('EVENT_INVALID', 'content-type: batch mode is not supported; send one event per request');
  }
  if (headers['ce-specversion'] !== undefined) return parseBinaryKeptnEvent(headers, body);
  if (body.trim() === '') throw new JobExecutorError('EVENT_INVALID', 'body: empty; expected a CloudEvent');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw new JobExecutorError('EVENT_INVALID', `body: not valid JSON (${(e as Error).message})`);
  }
  return parseKeptnEvent(parsed);
}
