import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { JobExecutorError, httpStatus, isJobExecutorError, type ErrorCode } from '../errors.js';
import type { Executor, SubmitResult } from '../executor/executor.js';
import type { RunRecord, RunStore } from '../executor/run-store.js';
import type { KeptnEvent } from '../keptn/event.js';
import type { Metrics, RejectReason } from '../metrics/metrics.js';
import { parseByteSize, readBody, type BodyLimits } from './body.js';
import { eventFromHttp, mediaTypeProblem } from './intake.js';
import { LIVE_DEFAULTS, streamRun, streamRuns, type LiveOptions } from './live.js';
import { runDetail, runSummary } from './runs.js';
import { APP_CSS, APP_JS, INDEX_HTML } from './ui/assets.js';

export { runDetail, runSummary } from './runs.js';

export interface AppOptions {
  readonly executor: Executor;
  readonly store: RunStore;
  readonly logger: Logger;
  readonly bodyLimit: string;
  /** A client must send its whole body within this (default BODY_TIMEOUT_MS); slower ones get 408. */
  readonly bodyTimeoutMs?: number;
  readonly authToken?: string;
  /** Counts intake rejections and serves `/metrics`; without it `/metrics` answers 404. */
  readonly metrics?: Metrics;
  /** Server-Sent Events heartbeat and per-client buffer (tests shorten the heartbeat). */
  readonly live?: Partial<LiveOptions>;
}

/**
 * The page may only load its own script and style and talk to its own origin: a log line that slipped
 * through as markup still could not run.
 */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Long enough for any real sender (Keptn's distributor gives up after 5 s), short enough to shed slow clients. */
export const BODY_TIMEOUT_MS = 10_000;

/** The metric reason of each refusal of a POST / (its HTTP status is the code's, in errors.ts). */
const REFUSALS: Partial<Record<ErrorCode, RejectReason>> = {
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  BODY_TOO_LARGE: 'body_too_large',
  BODY_TIMEOUT: 'body_timeout',
  EVENT_NOT_KEPTN: 'event_not_keptn',
  EVENT_INVALID: 'event_invalid',
};

/**
 * Constant time whatever the lengths: both sides are hashed to 32 bytes first, so neither the token's
 * content nor its length shows in the timing.
 */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1). */
function bearerToken(header: string): string | undefined {
  return /^bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(header)?.[1];
}

/** A whole answer, its length given (no chunked encoding for a body that is all there). */
function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(value));
}

/** An error answer: the status comes from the code, in the one catalogue (errors.ts). */
function problem(res: ServerResponse, code: ErrorCode, message: string): void {
  json(res, httpStatus(code), { error: { code, message } });
}

/**
 * Refuses a request whose body was not (fully) read: the connection is closed after the answer, so the rest of
 * the body is never read, and a client that keeps sending is cut off soon after.
 */
function refuseUnread(req: IncomingMessage, res: ServerResponse, code: ErrorCode, message: string): void {
  res.setHeader('connection', 'close');
  res.on('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
  problem(res, code, message);
}

/** A file path (POSIX, `~/`, `./`, Windows) or a file URL: where the service keeps its config is nobody's business. */
const PATH_LIKE = /(?:^|[\s"'`(<[=,;])(?:(?:~|\.{1,2})?\/[^\s/]|[A-Za-z]:[\\/]|\\\\)|file:/i;

/** A 200 `ignored` answer: the executor's message unless it shows an internal path, and the scope. */
export function ignoredAnswer(
  result: Extract<SubmitResult, { status: 'ignored' }>,
  event: KeptnEvent,
): Record<string, unknown> {
  const { project, stage, service } = event.data;
  const where = `project ${JSON.stringify(project)}, stage ${JSON.stringify(stage)}, service ${JSON.stringify(service)}`;
  const own: Record<typeof result.reason, string> = {
    'no-match': `no action in the job config for ${where} matches ${event.type}`,
    'no-config': `no job config for ${where}`,
    'config-invalid': `the job config for ${where} is invalid; the service log says why`,
  };
  const message = PATH_LIKE.test(result.message) ? own[result.reason] : result.message;
  return { status: 'ignored', reason: result.reason, message, scope: { project, stage, service } };
}

/** What a route is given: the path's captured parts (decoded) and the query. */
interface RouteRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: readonly string[];
  readonly query: URLSearchParams;
}

interface Route {
  readonly method: 'GET' | 'POST';
  /** Matched case-insensitively against the path without a trailing slash, as express did. */
  readonly path: RegExp;
  readonly handle: (r: RouteRequest) => void | Promise<void>;
}

/** The request handler, and `listen` as express's app had it (the tests and `startServer` call it). */
export interface App extends http.RequestListener {
  listen(port: number, host?: string, callback?: (err?: Error) => void): Server;
}

/** `?limit=` within 1..1000, else the default. */
function limitOf(query: URLSearchParams, fallback: number): number {
  return Math.min(Number(query.get('limit') ?? fallback) || fallback, 1000);
}

/**
 * The HTTP face of the service: `POST /` takes one CloudEvent (structured or binary), answers 202 with the
 * run id, 400 naming what is wrong, 401 without the token, 408 to a client too slow to send its body, 413 over
 * the body limit, 415 for a body that is not JSON (naming `content-type` or `content-encoding`), 503 when the
 * queue is full. On node:http itself: express and its dependencies weighed 1.7 MB of resident memory for a
 * dozen fixed routes.
 */
export function createApp(options: AppOptions): App {
  const { executor, store, logger, metrics } = options;
  const live: LiveOptions = { ...LIVE_DEFAULTS, ...options.live };
  const limits: BodyLimits = {
    limitBytes: parseByteSize(options.bodyLimit),
    limitText: options.bodyLimit,
    timeoutMs: options.bodyTimeoutMs ?? BODY_TIMEOUT_MS,
  };
  const refuse = (req: IncomingMessage, res: ServerResponse, e: JobExecutorError, read: boolean) => {
    // Anything else thrown while reading an event is the event's fault: a 400 like EVENT_INVALID.
    const code: ErrorCode = REFUSALS[e.code] ? e.code : 'EVENT_INVALID';
    logger.info({ code, err: e.message }, 'event rejected');
    metrics?.intakeRejected(REFUSALS[code] ?? 'event_invalid');
    if (read) problem(res, code, e.message);
    else refuseUnread(req, res, code, e.message);
  };

  /** `POST /`: the token, the media type, the body, the event, then the executor's decision. */
  const intake = async ({ req, res }: RouteRequest): Promise<void> => {
    if (options.authToken) {
      const token = bearerToken(req.headers.authorization ?? '');
      if (token === undefined || !sameSecret(token, options.authToken)) {
        metrics?.intakeRejected('unauthorized');
        problem(res, 'UNAUTHORIZED', 'Authorization: Bearer <token> required (JOB_EXECUTOR_AUTH_TOKEN)');
        return;
      }
    }
    // Before a byte of the body is read: a page in a browser can only send these without a preflight.
    const media = mediaTypeProblem(req.headers);
    if (media) {
      refuse(req, res, new JobExecutorError('UNSUPPORTED_MEDIA_TYPE', media), false);
      return;
    }
    let body: string;
    try {
      body = await readBody(req, limits);
    } catch (e) {
      refuse(req, res, e as JobExecutorError, false);
      return;
    }
    let event;
    try {
      event = eventFromHttp(req.headers, body);
    } catch (e) {
      if (!isJobExecutorError(e)) {
        // A bug, not the caller's fault: logged with its stack, never echoed.
        logger.error({ err: e }, 'reading an event failed');
        problem(res, 'INTERNAL', 'internal error');
        return;
      }
      refuse(req, res, e, true);
      return;
    }
    answerSubmit(res, event, await executor.submit(event));
  };

  const answerSubmit = (res: ServerResponse, event: KeptnEvent, result: SubmitResult): void => {
    switch (result.status) {
      case 'ignored':
        // Not an error: the event is valid, this service just has nothing to do for it.
        json(res, 200, ignoredAnswer(result, event));
        return;
      case 'accepted':
        json(res, 202, { runId: result.runId, status: 'accepted' });
        return;
      case 'duplicate':
        logger.info(
          { eventId: event.id, shkeptncontext: event.shkeptncontext, runId: result.runId },
          'duplicate event; already taken',
        );
        json(res, 202, { ...(result.runId ? { runId: result.runId } : {}), status: 'duplicate' });
        return;
      case 'queue-full':
        logger.warn({ eventId: event.id, shkeptncontext: event.shkeptncontext }, 'queue full; event refused with 503');
        res.setHeader('retry-after', '5');
        problem(res, 'QUEUE_FULL', 'the run queue is full; retry later (JOB_QUEUE_SIZE, JOB_CONCURRENCY)');
        return;
      case 'closed':
        problem(res, 'SHUTTING_DOWN', 'the service is shutting down');
        return;
    }
  };

  const withRun = (id: string, res: ServerResponse, then: (run: RunRecord) => void): void => {
    const run = store.get(id);
    if (!run) problem(res, 'NOT_FOUND', `no run ${id} (it may have left the history)`);
    else then(run);
  };

  const page =
    (type: string, body: string) =>
    ({ res }: RouteRequest) =>
      send(
        res,
        200,
        {
          'content-type': type,
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
          'content-security-policy': PAGE_CSP,
        },
        body,
      );

  const routes: Route[] = [
    { method: 'GET', path: /^\/(?:healthz|health)$/i, handle: ({ res }) => json(res, 200, { status: 'OK' }) },
    {
      method: 'GET',
      path: /^\/readyz$/i,
      handle: ({ res }) =>
        executor.accepting
          ? json(res, 200, { status: 'ready', queued: executor.queued, inFlight: executor.inFlight })
          : problem(res, 'SHUTTING_DOWN', 'the service is shutting down'),
    },
    { method: 'POST', path: /^\/$/, handle: intake },
    {
      method: 'GET',
      path: /^\/api\/runs$/i,
      handle: ({ res, query }) => json(res, 200, { runs: store.list(limitOf(query, 50)).map(runSummary) }),
    },
    {
      method: 'GET',
      path: /^\/api\/runs\/([^/]+)$/i,
      handle: ({ res, params }) => withRun(params[0] as string, res, (run) => json(res, 200, runDetail(run))),
    },
    {
      method: 'GET',
      path: /^\/api\/runs\/([^/]+)\/events$/i,
      handle: ({ req, res, params }) =>
        withRun(params[0] as string, res, (run) => streamRun(store, run, req, res, live)),
    },
    {
      method: 'GET',
      path: /^\/api\/events$/i,
      handle: ({ req, res, query }) => streamRuns(store, limitOf(query, 200), req, res, live),
    },
    {
      method: 'GET',
      path: /^\/metrics$/i,
      handle: async ({ res }) => {
        if (!metrics) problem(res, 'NOT_FOUND', 'metrics are not enabled in this server');
        else send(res, 200, { 'content-type': metrics.contentType }, await metrics.text());
      },
    },
    { method: 'GET', path: /^\/$/, handle: page('text/html; charset=utf-8', INDEX_HTML) },
    { method: 'GET', path: /^\/ui\/app\.js$/i, handle: page('text/javascript; charset=utf-8', APP_JS) },
    { method: 'GET', path: /^\/ui\/app\.css$/i, handle: page('text/css; charset=utf-8', APP_CSS) },
  ];

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    route(routes, req, res).catch((err: unknown) => {
      logger.error({ err }, 'request failed');
      if (res.headersSent) res.destroy();
      else problem(res, 'INTERNAL', 'internal error');
    });
  };
  return Object.assign(handler, {
    listen(port: number, host?: string, callback?: (err?: Error) => void): Server {
      const server = http.createServer(handler);
      if (callback) server.once('error', callback);
      server.listen(port, host, () => {
        if (callback) server.off('error', callback);
        callback?.();
      });
      return server;
    },
  });
}

/** The route for a request (GET routes answer HEAD too, without the body), or 404; a bad %-escape is a 400. */
async function route(routes: readonly Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  let path = q === -1 ? raw : raw.slice(0, q);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  for (const r of routes) {
    if (r.method !== method) continue;
    const m = r.path.exec(path);
    if (!m) continue;
    let params: string[];
    try {
      params = m.slice(1).map((p) => decodeURIComponent(p));
    } catch {
      problem(res, 'BAD_REQUEST', `the path ${JSON.stringify(path)} has a malformed %-escape`);
      return;
    }
    await r.handle({ req, res, params, query: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)) });
    return;
  }
  problem(res, 'NOT_FOUND', 'no such endpoint');
}
