import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { isJobExecutorError } from '../errors.js';
import type { Executor } from '../executor/executor.js';
import type { RunRecord, RunStore } from '../executor/run-store.js';
import { eventFromHttp } from './intake.js';

export interface AppOptions {
  readonly executor: Executor;
  readonly store: RunStore;
  readonly logger: Logger;
  readonly bodyLimit: string;
  readonly authToken?: string;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function problem(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

/** A run as the API shows it; the event's data is included, answers without their full bodies. */
export function runSummary(run: RunRecord): Record<string, unknown> {
  return {
    id: run.id,
    status: run.status,
    result: run.result,
    eventId: run.event.id,
    type: run.event.type,
    shkeptncontext: run.event.shkeptncontext,
    project: run.event.data.project,
    stage: run.event.data.stage,
    service: run.event.data.service,
    receivedAt: new Date(run.receivedAt).toISOString(),
    startedAt: run.startedAt ? new Date(run.startedAt).toISOString() : undefined,
    finishedAt: run.finishedAt ? new Date(run.finishedAt).toISOString() : undefined,
    durationMs: run.startedAt && run.finishedAt ? run.finishedAt - run.startedAt : undefined,
    error: run.error,
  };
}

export function runDetail(run: RunRecord): Record<string, unknown> {
  return {
    ...runSummary(run),
    event: run.event,
    config: run.configOrigin,
    actions: run.actions,
    tasks: run.tasks.map((t) => ({
      ...t,
      startedAt: t.startedAt ? new Date(t.startedAt).toISOString() : undefined,
      finishedAt: t.finishedAt ? new Date(t.finishedAt).toISOString() : undefined,
      durationMs: t.startedAt && t.finishedAt ? t.finishedAt - t.startedAt : undefined,
      logs: t.logs.map((l) => l.text).join('\n'),
    })),
    answers: run.answers,
  };
}

/**
 * The HTTP face of the service: `POST /` takes one CloudEvent (structured or binary), answers 202 with the
 * run id, 400 naming what is wrong, 401 without the token, 413 over the body limit, 503 when the queue is full.
 */
export function createApp(options: AppOptions): express.Express {
  const { executor, store, logger } = options;
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

  app.use((_req: Request, res: Response) => problem(res, 404, 'NOT_FOUND', 'no such endpoint'));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
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
