import { JobExecutorError, errorMessage } from '../errors.js';
import { requestText } from './http-request.js';

/** A failed call to the Keptn API (or the resource service): the HTTP status when there was one. */
export class KeptnApiError extends JobExecutorError {
  /** Undefined for network errors and timeouts. */
  readonly status: number | undefined;
  /** Worth retrying: network errors, timeouts, 408, 429 and 5xx. */
  readonly transient: boolean;

  constructor(message: string, status: number | undefined) {
    super('KEPTN_API_ERROR', message);
    this.name = 'KeptnApiError';
    this.status = status;
    this.transient = status === undefined || status === 408 || status === 429 || status >= 500;
  }
}

export function isKeptnApiError(e: unknown): e is KeptnApiError {
  return e instanceof KeptnApiError;
}

export interface KeptnApiClientOptions {
  /** `{API}` (e.g. `http://api-gateway-nginx.keptn/api`), or another base such as `http://resource-service:8080`. */
  readonly baseUrl: string;
  /** Sent as `x-token` when set (keptn-protocol.md §3.2.1). */
  readonly token?: string;
  /** Per request. */
  readonly timeoutMs: number;
  /** Names the settings a user fixes when a call fails, e.g. `KEPTN_API_ENDPOINT`. */
  readonly endpointSetting: string;
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  readonly signal?: AbortSignal;
}

/**
 * A small JSON client for Keptn's REST APIs. `path` is appended to the base as given: callers encode path
 * segments themselves, because the resource service needs its URIs encoded in a route-specific way (§3.3).
 * Every call has a timeout and follows the caller's AbortSignal; a non-2xx answer throws a KeptnApiError that
 * names the URL, the status and what to check.
 */
export class KeptnApiClient {
  private readonly base: string;

  constructor(private readonly options: KeptnApiClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
  }

  get baseUrl(): string {
    return this.base;
  }

  url(path: string, query?: Readonly<Record<string, string | undefined>>): string {
    const params = Object.entries(query ?? {}).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '');
    // URLSearchParams encodes a space as `+`; Keptn's Go handlers decode `+` as a space too, so this is safe here.
    const qs = params.length > 0 ? `?${new URLSearchParams(params).toString()}` : '';
    return `${this.base}${path}${qs}`;
  }

  async request<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const url = this.url(path, options.query);
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let res: { status: number; text: string };
    try {
      res = await requestText(url, method, this.headersAndBody(options.body), signal);
    } catch (e) {
      // The caller's own abort goes up as it is; only our timeout and network failures become a KeptnApiError.
      if (options.signal?.aborted) throw e;
      throw this.unanswered(`${method} ${url}`, e, timeout.aborted);
    }
    const { text } = res;
    if (res.status < 200 || res.status >= 300) throw this.refused(`${method} ${url}`, res.status, text);
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new KeptnApiError(
        `${method} ${url} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`,
        res.status,
      );
    }
  }

  private headersAndBody(payload: unknown): { headers: Record<string, string>; body?: string } {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) headers['x-token'] = this.options.token;
    if (payload === undefined) return { headers };
    headers['content-type'] = 'application/json';
    return { headers, body: JSON.stringify(payload) };
  }

  /** No answer: our timeout, or a network failure (the reason, e.g. ECONNREFUSED, may be in the cause). */
  private unanswered(call: string, e: unknown, timedOut: boolean): KeptnApiError {
    if (timedOut)
      return new KeptnApiError(
        `${call}: no answer within ${this.options.timeoutMs} ms (API_PROXY_HTTP_TIMEOUT)`,
        undefined,
      );
    const cause = (e as { cause?: unknown }).cause;
    return new KeptnApiError(
      `${call}: ${errorMessage(e)}${cause ? ` (${errorMessage(cause)})` : ''}; is ${this.options.endpointSetting} right and the API reachable?`,
      undefined,
    );
  }

  /** A non-2xx answer, with a hint at the setting to check for the statuses that usually mean a wrong one. */
  private refused(call: string, status: number, text: string): KeptnApiError {
    let hint = '';
    if (status === 401 || status === 403) hint = '; check KEPTN_API_TOKEN (--keptn-api-token)';
    else if (status === 404 && text.includes('<html'))
      hint = `; is ${this.options.endpointSetting} the API base (it ends in /api)?`;
    return new KeptnApiError(`${call} answered ${status}${text ? `: ${text.slice(0, 300)}` : ''}${hint}`, status);
  }
}
