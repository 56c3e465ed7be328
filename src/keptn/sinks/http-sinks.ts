import { CloudEvent, HTTP } from 'cloudevents';
import type { OutgoingEvent } from '../responses.js';
import { PermanentDeliveryError, type Sink } from './sink.js';

const TIMEOUT_MS = 10_000;

async function post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)]),
  });
  const text = await response.text().catch(() => '');
  if (response.ok) return;
  const detail = `POST ${url} answered ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}`;
  // A 4xx other than 408/429 will not get better by sending the same bytes again.
  if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
    throw new PermanentDeliveryError(detail);
  }
  throw new Error(detail);
}

/** `POST {KEPTN_API_ENDPOINT}/v1/event` with `x-token` (keptn-protocol.md §3.2.2). */
export class KeptnApiSink implements Sink {
  readonly name = 'keptn-api';
  private readonly url: string;
  constructor(endpoint: string, private readonly token: string | undefined) {
    this.url = `${endpoint.replace(/\/+$/, '')}/v1/event`;
  }
  async send(event: OutgoingEvent, signal: AbortSignal): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token) headers['x-token'] = this.token;
    await post(this.url, headers, JSON.stringify(event), signal);
  }
}

/** Keptn's distributor sidecar: a structured CloudEvent to `/event` (keptn-protocol.md §3.1). */
export class DistributorSink implements Sink {
  readonly name: string;
  constructor(private readonly url: string) {
    this.name = `distributor:${url}`;
  }
  async send(event: OutgoingEvent, signal: AbortSignal): Promise<void> {
    await post(this.url, { 'content-type': 'application/cloudevents+json' }, JSON.stringify(event), signal);
  }
}

/** Any CloudEvents receiver, in binary mode (`ce-*` headers, the data as the body). */
export class CloudEventsHttpSink implements Sink {
  readonly name: string;
  constructor(private readonly url: string) {
    this.name = `http:${url}`;
  }
  async send(event: OutgoingEvent, signal: AbortSignal): Promise<void> {
    const message = HTTP.binary(new CloudEvent({ ...event, datacontenttype: 'application/json' }, false));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers)) if (typeof v === 'string') headers[k] = v;
    await post(this.url, headers, String(message.body), signal);
  }
}
