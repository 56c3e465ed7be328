import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { JobExecutorError, httpStatus, isJobExecutorError, type ErrorCode } from '../errors.js';
import type { Executor, SubmitResult } from '../executor/executor.js';
import type { RunStore } from '../executor/run-store.js';
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

/** An error answer: the status comes from the code, in the one catalogue (errors.ts). */
function problem(res: Response, code: ErrorCode, message: string): void {
  res.status(httpStatus(code)).json({ error: { code, message } });
}

/**
 * Refuses a request whose body was not (fully) read: the connection is closed after the answer, so the rest of
 * the body is never read, and a client that keeps sending is cut off soon after.
 */
function refuseUnread(req: Request, res: Response, code: ErrorCode, message: string): void {
  res.set('connection', 'close');
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

/**
 * The HTTP face of the service: `POST /` takes one CloudEvent (structured or binary), answers 202 with the
 * run id, 400 naming what is wrong, 401 without the token, 408 to a client too slow to send its body, 413 over
 * the body limit, 415 for a body that is not JSON (naming `content-type` or `content-encoding`), 503 when the
 * queue is full.
 */
export function createApp(options: AppOptions): express.Express {
  const { executor, store, logger, metrics } = options;
  const live: LiveOptions = { ...LIVE_DEFAULTS, ...options.live };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get(['/healthz', '/health'], (_req, res) => {
    res.json({ status: 'OK' });
  });
  app.get('/readyz', (_req, res) => {
    if (executor.accepting) res.json({ status: 'ready', queued: executor.queued, inFlight: executor.inFlight });
    else problem(res, 'SHUTTING_DOWN', 'the service is shutting down');
  });

  app.post('/', (req, res, next) => {
    if (options.authToken) {
      const token = bearerToken(req.get('authorization') ?? '');
      if (token === undefined || !sameSecret(token, options.authToken)) {
        metrics?.intakeRejected('unauthorized');
        problem(res, 'UNAUTHORIZED', 'Authorization: Bearer <token> required (JOB_EXECUTOR_AUTH_TOKEN)');
        return;
      }
    }
    next();
  });
  const limits: BodyLimits = {
    limitBytes: parseByteSize(options.bodyLimit),
    limitText: options.bodyLimit,
    timeoutMs: options.bodyTimeoutMs ?? BODY_TIMEOUT_MS,
  };
  const refuse = (req: Request, res: Response, e: JobExecutorError, read: boolean) => {
    // Anything else thrown while reading an event is the event's fault: a 400 like EVENT_INVALID.
    const code: ErrorCode = REFUSALS[e.code] ? e.code : 'EVENT_INVALID';
    logger.info({ code, err: e.message }, 'event rejected');
    metrics?.intakeRejected(REFUSALS[code] ?? 'event_invalid');
    if (read) problem(res, code, e.message);
    else refuseUnread(req, res, code, e.message);
  };
  app.post('/', async (req: Request, res: Response) => {
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
    const result = await executor.submit(event);
    switch (result.status) {
      case 'ignored':
        // Not an error: the event is valid, this service just has nothing to do for it.
        res.status(200).json(ignoredAnswer(result, event));
        return;
      case 'accepted':
        res.status(202).json({ runId: result.runId, status: 'accepted' });
        return;
      case 'duplicate':
        logger.info(
          { eventId: event.id, shkeptncontext: event.shkeptncontext, runId: result.runId },
          'duplicate event; already taken',
        );
        res.status(202).json({ ...(result.runId ? { runId: result.runId } : {}), status: 'duplicate' });
        return;
      case 'queue-full':
        logger.warn({ eventId: event.id, shkeptncontext: event.shkeptncontext }, 'queue full; event refused with 503');
        res.set('retry-after', '5');
        problem(res, 'QUEUE_FULL', 'the run queue is full; retry later (JOB_QUEUE_SIZE, JOB_CONCURRENCY)');
        return;
      case 'closed':
        problem(res, 'SHUTTING_DOWN', 'the service is shutting down');
        return;
    }
  });

  app.get('/api/runs', (req, res) => {
    const limit = Math.min(Number(req.query.limit ?? 50) || 50, 1000);
    res.json({ runs: store.list(limit).map(runSummary) });
  });
  app.get('/api/runs/:id', (req, res) => {
    const run = store.get(req.params.id);
    if (!run) problem(res, 'NOT_FOUND', `no run ${req.params.id} (it may have left the history)`);
    else res.json(runDetail(run));
  });
  app.get('/api/runs/:id/events', (req, res) => {
    const run = store.get(req.params.id);
    if (!run) problem(res, 'NOT_FOUND', `no run ${req.params.id} (it may have left the history)`);
    else streamRun(store, run, req, res, live);
  });
  app.get('/api/events', (req, res) => {
    const limit = Math.min(Number(req.query.limit ?? 200) || 200, 1000);
    streamRuns(store, limit, req, res, live);
  });

  app.get('/metrics', async (_req, res) => {
    if (!metrics) {
      problem(res, 'NOT_FOUND', 'metrics are not enabled in this server');
      return;
    }
    res.set('content-type', metrics.contentType).send(await metrics.text());
  });

  const page = (type: string, body: string) => (_req: Request, res: Response) => {
    res
      .set({
        'content-type': type,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'content-security-policy': PAGE_CSP,
      })
      .send(body);
  };
  app.get('/', page('text/html; charset=utf-8', INDEX_HTML));
  app.get('/ui/app.js', page('text/javascript; charset=utf-8', APP_JS));
  app.get('/ui/app.css', page('text/css; charset=utf-8', APP_CSS));

  app.use((_req: Request, res: Response) => problem(res, 'NOT_FOUND', 'no such endpoint'));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; message?: string };
    if (e.status && e.status >= 400 && e.status < 500) {
      problem(res, 'BAD_REQUEST', e.message ?? 'bad request');
      return;
    }
    logger.error({ err }, 'request failed');
    problem(res, 'INTERNAL', 'internal error');
  });
  return app;
}
