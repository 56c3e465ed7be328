import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import type {
  CoreV1Event,
  KubernetesListObject,
  V1ConfigMap,
  V1Job,
  V1ObjectMeta,
  V1Pod,
} from '@kubernetes/client-node';
import { JobExecutorError } from '../../errors.js';
import { type ConnectionPool, KubeAuth, loadKubeConfigData } from './kube-config.js';

/** How long one API call (not a watch or a log stream) may take before it is given up. */
export const API_TIMEOUT_MS = 30_000;
/** The largest answer body read into memory (lists are paged well below it). */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
/** Of an error answer, this much is kept (the API server's Status is small). */
const MAX_ERROR_BYTES = 64 * 1024;

/** A call the API server refused (or that could not be made): `code` is the HTTP status, 0 without one. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** The status code of a failed API call, if it was one (client-node's ApiException has the same shape). */
export function apiStatus(e: unknown): number | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'number' && 'body' in e)
    return e.code || undefined;
  return undefined;
}

/** The Status message of an error body (a parsed object, or its JSON text), if it has one. */
function statusMessage(body: unknown): string | undefined {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body !== '' ? body : undefined;
    }
  }
  return parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string'
    ? parsed.message
    : undefined;
}

/** The API server's own words for a failed call (its Status message), else the error text. */
export function apiMessage(e: unknown): string {
  if (apiStatus(e) !== undefined) {
    const message = statusMessage((e as { body: unknown }).body);
    if (message !== undefined) return message;
  }
  return e instanceof Error ? e.message : String(e);
}

type Query = Record<string, string | number | boolean | undefined>;

export interface CallOptions {
  readonly query?: Query;
  readonly body?: unknown;
  /** Default `application/json`; patches say which kind they are. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** Default `application/json`; METADATA_ONLY asks for the objects' metadata alone. */
  readonly accept?: string;
  /** Default `call`; `lease` for the claims' heartbeat (kube-config.ts says why). */
  readonly pool?: 'call' | 'lease';
}

export const MERGE_PATCH = 'application/merge-patch+json';
/** A list of the objects' metadata only (PartialObjectMetadataList): no ConfigMap data, no pod spec. */
export const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const parts = Object.entries(query)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

const enc = encodeURIComponent;

/** Reads a body, refusing one over `max` bytes (then the request is destroyed). */
function readBody(res: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        res.destroy(
          new JobExecutorError('KUBERNETES_API_ERROR', `the API server's answer is larger than ${max} bytes`),
        );
        return;
      }
      chunks.push(c);
    });
    res.once('end', () =>
      res.complete
        ? resolve(Buffer.concat(chunks))
        : reject(new JobExecutorError('KUBERNETES_API_ERROR', 'the answer was cut short')),
    );
    res.once('error', reject);
    res.once('aborted', () => reject(new JobExecutorError('KUBERNETES_API_ERROR', 'the answer was cut short')));
  });
}

function errorFromBody(status: number, method: string, path: string, body: Buffer): KubeApiError {
  const text = body.toString('utf8');
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not a Status: the text itself (a proxy's page, say) is what there is.
  }
  const message =
    parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string'
      ? parsed.message
      : text.slice(0, 300) || `HTTP ${status}`;
  return new KubeApiError(status, parsed, `${method} ${path.split('?')[0] ?? path}: HTTP ${status}: ${message}`);
}

/**
 * The few Kubernetes API calls the runner makes (Jobs, pods, their logs, ConfigMaps, events), as plain JSON
 * over keep-alive connections. Every call takes a signal and has a timeout (client-node 1.x calls had none);
 * watches and log streams give back the response to read as it comes.
 */
export class KubeApi {
  constructor(readonly auth: KubeAuth) {}

  /** One request; resolves with the response once its headers are in (status 2xx), else rejects with KubeApiError. */
  private send(
    method: string,
    path: string,
    o: { body?: Buffer; contentType?: string; accept?: string; signal: AbortSignal; pool: ConnectionPool },
  ): Promise<IncomingMessage> {
    return this.auth.request(o.pool).then(
      (auth) =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const url = new URL(this.auth.server + path);
          const headers: Record<string, string | number> = {
            ...auth.headers,
            Accept: o.accept ?? 'application/json',
            'User-Agent': 'job-executor',
          };
          if (o.body) {
            headers['Content-Type'] = o.contentType ?? 'application/json';
            headers['Content-Length'] = o.body.length;
          }
          const lib = url.protocol === 'http:' ? http : https;
          const req = lib.request(url, { method, headers, agent: auth.agent, signal: o.signal }, (res) => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(res);
            readBody(res, MAX_ERROR_BYTES).then(
              (body) => reject(errorFromBody(status, method, path, body)),
              () => reject(new KubeApiError(status, '', `${method} ${url.pathname}: HTTP ${status}`)),
            );
          });
          req.once('error', (e) =>
            reject(
              o.signal.aborted
                ? new JobExecutorError(
                    'KUBERNETES_API_ERROR',
                    `${method} ${url.pathname}: ${String(o.signal.reason instanceof Error ? o.signal.reason.message : 'aborted')}`,
                  )
                : e,
            ),
          );
          req.end(o.body);
        }),
    );
  }

  /** A JSON call within `timeoutMs` (or until `signal` aborts). */
  async call<T>(method: string, path: string, o: CallOptions = {}): Promise<T> {
    const timeout = AbortSignal.timeout(o.timeoutMs ?? API_TIMEOUT_MS);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const res = await this.send(method, path + queryString(o.query), {
      ...(body ? { body } : {}),
      ...(o.contentType ? { contentType: o.contentType } : {}),
      ...(o.accept ? { accept: o.accept } : {}),
      signal,
      pool: o.pool ?? 'call',
    });
    const text = (await readBody(res, MAX_RESPONSE_BYTES)).toString('utf8');
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /**
   * A streaming GET (a watch, a log): the response once its headers are in, within `openTimeoutMs`. The caller
   * reads it and ends it by aborting `signal`. `pool`: `stream` for one that runs until it is stopped (a watch, a
   * followed log), `call` for one that ends by itself soon (a finished container's log).
   */
  async stream(
    path: string,
    query: Query,
    signal: AbortSignal,
    openTimeoutMs = API_TIMEOUT_MS,
    pool: ConnectionPool = 'stream',
  ): Promise<IncomingMessage> {
    const opened = new AbortController();
    const timer = setTimeout(
      () => opened.abort(new JobExecutorError('KUBERNETES_API_ERROR', `no answer within ${openTimeoutMs / 1000}s`)),
      openTimeoutMs,
    );
    try {
      return await this.send('GET', path + queryString(query), {
        signal: AbortSignal.any([signal, opened.signal]),
        accept: '*/*',
        pool,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- the calls the runner makes -------------------------------------------------------------------

  createJob(namespace: string, job: V1Job, signal?: AbortSignal): Promise<V1Job> {
    return this.call('POST', `/apis/batch/v1/namespaces/${enc(namespace)}/jobs`, {
      body: job,
      ...(signal ? { signal } : {}),
    });
  }

  readJob(namespace: string, name: string, signal?: AbortSignal): Promise<V1Job> {
    return this.call('GET', `/apis/batch/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}`, signal ? { signal } : {});
  }

  patchJob(namespace: string, name: string, patch: unknown, signal?: AbortSignal): Promise<V1Job> {
    return this.call('PATCH', `/apis/batch/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}`, {
      body: patch,
      contentType: MERGE_PATCH,
      ...(signal ? { signal } : {}),
    });
  }

  deleteJob(namespace: string, name: string, signal?: AbortSignal): Promise<unknown> {
    return this.call('DELETE', `/apis/batch/v1/namespaces/${enc(namespace)}/jobs/${enc(name)}`, {
      query: { propagationPolicy: 'Background' },
      ...(signal ? { signal } : {}),
    });
  }

  listJobs(namespace: string, query: Query, signal?: AbortSignal): Promise<KubernetesListObject<V1Job>> {
    return this.call('GET', `/apis/batch/v1/namespaces/${enc(namespace)}/jobs`, {
      query,
      ...(signal ? { signal } : {}),
    });
  }

  listPods(namespace: string, query: Query, signal?: AbortSignal): Promise<KubernetesListObject<V1Pod>> {
    return this.call('GET', `/api/v1/namespaces/${enc(namespace)}/pods`, { query, ...(signal ? { signal } : {}) });
  }

  listEvents(namespace: string, query: Query, signal?: AbortSignal): Promise<KubernetesListObject<CoreV1Event>> {
    return this.call('GET', `/api/v1/namespaces/${enc(namespace)}/events`, { query, ...(signal ? { signal } : {}) });
  }

  createConfigMap(
    namespace: string,
    cm: V1ConfigMap,
    signal?: AbortSignal,
    pool: CallOptions['pool'] = 'call',
  ): Promise<V1ConfigMap> {
    return this.call('POST', `/api/v1/namespaces/${enc(namespace)}/configmaps`, {
      body: cm,
      pool,
      ...(signal ? { signal } : {}),
    });
  }

  patchConfigMap(
    namespace: string,
    name: string,
    patch: unknown,
    signal?: AbortSignal,
    pool: CallOptions['pool'] = 'call',
  ): Promise<V1ConfigMap> {
    return this.call('PATCH', `/api/v1/namespaces/${enc(namespace)}/configmaps/${enc(name)}`, {
      body: patch,
      contentType: MERGE_PATCH,
      pool,
      ...(signal ? { signal } : {}),
    });
  }

  deleteConfigMap(namespace: string, name: string, signal?: AbortSignal): Promise<unknown> {
    return this.call(
      'DELETE',
      `/api/v1/namespaces/${enc(namespace)}/configmaps/${enc(name)}`,
      signal ? { signal } : {},
    );
  }

  listConfigMaps(namespace: string, query: Query, signal?: AbortSignal): Promise<KubernetesListObject<V1ConfigMap>> {
    return this.call('GET', `/api/v1/namespaces/${enc(namespace)}/configmaps`, {
      query,
      ...(signal ? { signal } : {}),
    });
  }

  /** The metadata of a namespace's objects of one kind (`configmaps`, `jobs`), one page. */
  listMetadata(
    namespace: string,
    kind: 'configmaps' | 'jobs',
    query: Query,
    signal?: AbortSignal,
  ): Promise<KubernetesListObject<{ metadata?: V1ObjectMeta }>> {
    const base =
      kind === 'jobs'
        ? `/apis/batch/v1/namespaces/${enc(namespace)}/jobs`
        : `/api/v1/namespaces/${enc(namespace)}/configmaps`;
    return this.call('GET', base, { query, accept: METADATA_ONLY, ...(signal ? { signal } : {}) });
  }

  /** A container's log as a stream (`follow`: until the container stops, or the signal aborts). */
  podLog(
    namespace: string,
    pod: string,
    container: string,
    follow: boolean,
    signal: AbortSignal,
    openTimeoutMs?: number,
  ): Promise<IncomingMessage> {
    return this.stream(
      `/api/v1/namespaces/${enc(namespace)}/pods/${enc(pod)}/log`,
      { container, ...(follow ? { follow: true } : {}) },
      signal,
      openTimeoutMs,
      follow ? 'stream' : 'call',
    );
  }

  close(): void {
    this.auth.close();
  }
}

/** In-cluster config inside a pod, otherwise `KUBECONFIG` (or ~/.kube/config), as kubectl does. */
export function kubeApi(kubeconfig?: string): KubeApi {
  try {
    return new KubeApi(new KubeAuth(loadKubeConfigData(kubeconfig)));
  } catch (e) {
    throw new JobExecutorError(
      'SETTINGS_INVALID',
      `--runner kubernetes: cannot load a kubeconfig (${(e as Error).message})`,
    );
  }
}
