import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { isJobExecutorError } from '../errors.js';
import type { Executor } from '../executor/executor.js';
import type { RunStore } from '../executor/run-store.js';
import type { Metrics, RejectReason } from '../metrics/metrics.js';
import { eventFromHttp } from './intake.js';
import { LIVE_DEFAULTS, streamRun, streamRuns, type LiveOptions } from './live.js';
import { runDetail, runSummary } from './runs.js';
import { APP_CSS, APP_JS, INDEX_HTML } from './ui/assets.js';

export { runDetail, runSummary } from './runs.js';

export interface AppOptions {
  readonly executor: Executor;
  readonly store: RunStore;
  readonly logger: Logger;
  readonly bodyLimit: string;
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
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function rejectReason(code: string): RejectReason {
  return code === 'EVENT_NOT_KEPTN' ? 'event_not_keptn' : 'event_invalid';
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function problem(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

/**
 * The HTTP face of the service: `POST /` takes one CloudEvent (structured or binary), answers 202 with the
 * run id, 400 naming what is wrong, 401 without the token, 413 over the body limit, 503 when the queue is full.
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
    else problem(res, 503, 'SHUTTING_DOWN', 'the service is shutting down');
  });

  app.post('/', (req, res, next) => {
    if (options.authToken) {
      const header = req.get('authorization') ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!sameSecret(token, options.authToken)) {
        metrics?.intakeRejected('unauthorized');
        problem(res, 401, 'UNAUTHORIZED', 'Authorization: Bearer <token> required (JOB_EXECUTOR_AUTH_TOKEN)');
        return;
      }
    }
    next();
  });
  app.post('/', express.text({ type: () => true, limit: options.bodyLimit }), async (req: Request, res: Response) => {
    const body = typeof req.body === 'string' ? req.body : '';
    let event;
    try {
      event = eventFromHttp(req.headers, body);
    } catch (e) {
      const code = isJobExecutorError(e) ? e.code : 'EVENT_INVALID';
      const message = e instanceof Error ? e.message : String(e);
      logger.info({ code, err: message }, 'event rejected');
      metrics?.intakeRejected(rejectReason(code));
      problem(res, 400, code, message);
      return;
    }
    const result = await executor.submit(event);
    switch (result.status) {
      case 'ignored':
        // Not an error: the event is valid, this service just has nothing to do for it.
        res.status(200).json({ status: 'ignored', reason: result.reason, message: result.message });
        return;
      case 'accepted':
        res.status(202).json({ runId: result.runId, status: 'accepted' });
        return;
      case 'duplicate':
        logger.info({ eventId: event.id, shkeptncontext: event.shkeptncontext, runId: result.runId }, 'duplicate event; already taken');
        res.status(202).json({ ...(result.runId ? { runId: result.runId } : {}), status: 'duplicate' });
        return;
      case 'queue-full':
        logger.warn({ eventId: event.id, shkeptncontext: event.shkeptncontext }, 'queue full; event refused with 503');
        res.set('retry-after', '5');
        problem(res, 503, 'QUEUE_FULL', 'the run queue is full; retry later (JOB_QUEUE_SIZE, JOB_CONCURRENCY)');
        return;
      case 'closed':
        problem(res, 503, 'SHUTTING_DOWN', 'the service is shutting down');
        return;
    }
  });

  app.get('/api/runs', (req, res) => {
    const limit = Math.min(Number(req.query.limit ?? 50) || 50, 1000);
    res.json({ runs: store.list(limit).map(runSummary) });
  });
  app.get('/api/runs/:id', (req, res) => {
    const run = store.get(req.params.id);
    if (!run) problem(res, 404, 'NOT_FOUND', `no run ${req.params.id} (it may have left the history)`);
    else res.json(runDetail(run));
  });
  app.get('/api/runs/:id/events', (req, res) => {
    const run = store.get(req.params.id);
    if (!run) problem(res, 404, 'NOT_FOUND', `no run ${req.params.id} (it may have left the history)`);
    else streamRun(store, run, req, res, live);
  });
  app.get('/api/events', (req, res) => {
    const limit = Math.min(Number(req.query.limit ?? 200) || 200, 1000);
    streamRuns(store, limit, req, res, live);
  });

  app.get('/metrics', async (_req, res) => {
    if (!metrics) {
      problem(res, 404, 'NOT_FOUND', 'metrics are not enabled in this server');
      return;
    }
    res.set('content-type', metrics.contentType).send(await metrics.text());
  });

  const page = (type: string, body: string) => (_req: Request, res: Response) => {
    res.set({ 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'content-security-policy': PAGE_CSP }).send(body);
  };
  app.get('/', page('text/html; charset=utf-8', INDEX_HTML));
  app.get('/ui/app.js', page('text/javascript; charset=utf-8', APP_JS));
  app.get('/ui/app.css', page('text/css; charset=utf-8', APP_CSS));

  app.use((_req: Request, res: Response) => problem(res, 404, 'NOT_FOUND', 'no such endpoint'));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      metrics?.intakeRejected('body_too_large');
      problem(res, 413, 'BODY_TOO_LARGE', `the event is larger than the body limit of ${options.bodyLimit} (JOB_EXECUTOR_BODY_LIMIT)`);
      return;
    }
    if (e.status && e.status >= 400 && e.status < 500) {
      problem(res, e.status, 'BAD_REQUEST', e.message ?? 'bad request');
      return;
    }
    logger.error({ err }, 'request failed');
    problem(res, 500, 'INTERNAL', 'internal error');
  });
  return app;
}
