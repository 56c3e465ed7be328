import http from 'node:http';
import https from 'node:https';
import type { OutgoingEvent } from '../responses.js';
import { PermanentDeliveryError, type Sink } from './sink.js';

const TIMEOUT_MS = 10_000;

// node:http with kept-alive connections: answers go to one or two endpoints all day long, and fetch's web
// streams cost several times more CPU per request than a plain request does.
const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 32 }), https: new https.Agent({ keepAlive: true, maxSockets: 32 }) };

function post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const req = (secure ? https : http).request(
      target,
      { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, agent: secure ? agents.https : agents.http, signal, timeout: TIMEOUT_MS },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 1000) text += c;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve();
          const detail = `POST ${url} answered ${status}${text ? `: ${text.slice(0, 300)}` : ''}`;
          // A 4xx other than 408/429 will not get better by sending the same bytes again.
          if (status >= 400 && status < 500 && status !== 408 && status !== 429) reject(new PermanentDeliveryError(detail));
          else reject(new Error(detail));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (e) => reject(new Error(`POST ${url}: ${e.message}`)));
    req.end(body);
  });
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
    // Loaded on first use (with its validator it is a sizeable part of the process); most setups never need it.
    const { CloudEvent, HTTP } = await import('cloudevents');
    const message = HTTP.binary(new CloudEvent({ ...event, datacontenttype: 'application/json' }, false));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers)) if (typeof v === 'string') headers[k] = v;
    await post(this.url, headers, String(message.body), signal);
  }
}
