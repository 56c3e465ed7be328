import http from 'node:http';
import https from 'node:https';
import type { OutgoingEvent } from '../responses.js';
import { binaryHeaders } from './cloudevents-binary.js';
import { AnswerTooLargeError, PermanentDeliveryError, type Sink } from './sink.js';
import { JobExecutorError } from '../../errors.js';

const TIMEOUT_MS = 10_000;
/** The distributor's default body limit (API_PROXY_MAX_PAYLOAD_BYTES_KB=64) and Keptn api-service's (64 KiB). */
const KEPTN_DEFAULT_LIMIT_BYTES = 64 * 1024;

// node:http with kept-alive connections: answers go to one or two endpoints all day long, and fetch's web
// streams cost several times more CPU per request than a plain request does.
const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 32 }),
};

/** What the receiver answered, for the sink to judge. */
export interface Refusal {
  readonly status: number;
  /** The first 1000 characters of the answer's body. */
  readonly body: string;
  /** The answer's `Connection` header, lower-cased ('' when absent). */
  readonly connection: string;
  /** Bytes of the request body that was refused. */
  readonly sentBytes: number;
}

/**
 * A non-2xx answer as an error the outbox understands: AnswerTooLargeError for a refusal for size (413, or
 * Keptn api-service's 400 "request body too large": keptn-protocol.md §3.1), PermanentDeliveryError for any
 * other 4xx but 408/429 (the same bytes will be refused again), a DELIVERY_FAILED error (retried) otherwise.
 */
export function refusalError(url: string, r: Refusal): Error {
  const detail = `POST ${url} answered ${r.status}${r.body ? `: ${r.body.slice(0, 300)}` : ''}`;
  if (r.status === 413 || (r.status === 400 && /request body too large/i.test(r.body))) {
    return new AnswerTooLargeError(`${detail} (the answer was ${r.sentBytes} bytes)`, r.sentBytes);
  }
  if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429)
    return new PermanentDeliveryError(detail);
  return new JobExecutorError('DELIVERY_FAILED', detail);
}

/**
 * Keptn's distributor answers a body over API_PROXY_MAX_PAYLOAD_BYTES_KB with a bare 500 (Go's MaxBytesReader
 * fails its read; since the read hit the limit, Go's server also closes the connection: `Connection: close`),
 * and in remote mode it turns the API's 400 "request body too large" into the same bare 500, without the
 * close. Its other 500s (API unreachable, bad event) keep the connection and come with small answers, so:
 * a bare 500 is a refusal for size when the connection closes, or when the answer was over Keptn's default
 * limit anyway (a shortened answer then goes out, which is no loss if the cause was another one).
 */
export function distributorRefusalError(url: string, r: Refusal): Error {
  if (r.status === 500 && r.body === '' && (r.connection === 'close' || r.sentBytes > KEPTN_DEFAULT_LIMIT_BYTES)) {
    return new AnswerTooLargeError(
      `POST ${url} answered 500 to a ${r.sentBytes}-byte answer, as the distributor does for a body over API_PROXY_MAX_PAYLOAD_BYTES_KB (64 by default) or one the Keptn API refused for its size`,
      r.sentBytes,
    );
  }
  return refusalError(url, r);
}

type Judge = (url: string, r: Refusal) => Error;

function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
  judge: Judge = refusalError,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const sentBytes = Buffer.byteLength(body);
    let req: http.ClientRequest;
    try {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      req = (secure ? https : http).request(
        target,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': sentBytes },
          agent: secure ? agents.https : agents.http,
          signal,
          timeout: TIMEOUT_MS,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            if (text.length < 1000) text += c;
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve();
            reject(
              judge(url, {
                status,
                body: text,
                connection: String(res.headers.connection ?? '').toLowerCase(),
                sentBytes,
              }),
            );
          });
          res.on('error', reject);
        },
      );
    } catch (e) {
      // Thrown before anything was sent: a header value Node refuses (a token with a line break, say) or a bad
      // URL. Sending the same request again cannot change that.
      reject(new PermanentDeliveryError(`POST ${url}: ${(e as Error).message}`));
      return;
    }
    req.on('timeout', () =>
      req.destroy(new JobExecutorError('DELIVERY_FAILED', `POST ${url}: no answer within ${TIMEOUT_MS} ms`)),
    );
    req.on('error', (e) => reject(new JobExecutorError('DELIVERY_FAILED', `POST ${url}: ${e.message}`)));
    req.end(body);
  });
}

/** `POST {KEPTN_API_ENDPOINT}/v1/event` with `x-token` (keptn-protocol.md §3.2.2). */
export class KeptnApiSink implements Sink {
  readonly name = 'keptn-api';
  private readonly url: string;
  constructor(
    endpoint: string,
    private readonly token: string | undefined,
  ) {
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
    await post(
      this.url,
      { 'content-type': 'application/cloudevents+json' },
      JSON.stringify(event),
      signal,
      distributorRefusalError,
    );
  }
}

/** Any CloudEvents receiver, in binary mode (`ce-*` headers, percent-encoded as the HTTP binding says; the data as the body). */
export class CloudEventsHttpSink implements Sink {
  readonly name: string;
  constructor(private readonly url: string) {
    this.name = `http:${url}`;
  }
  async send(event: OutgoingEvent, signal: AbortSignal): Promise<void> {
    await post(this.url, binaryHeaders(event), JSON.stringify(event.data), signal);
  }
}
