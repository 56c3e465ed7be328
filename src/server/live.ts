import type { IncomingMessage, ServerResponse } from 'node:http';
import { runIsFinal, type RunRecord, type RunStore, type TaskRecord } from '../executor/run-store.js';
import type { LogLine } from '../runners/runner.js';
import { runDetail, runSummary } from './runs.js';

export interface LiveOptions {
  /** A comment line this often keeps proxies from closing an idle stream and lets the client notice a dead one. */
  readonly heartbeatMs: number;
  /**
   * Bytes a client may leave unread beyond its first snapshot. A client that falls further behind is
   * disconnected instead of buffered for: its EventSource reconnects and starts again from a fresh snapshot.
   */
  readonly maxBufferedBytes: number;
}

export const LIVE_DEFAULTS: LiveOptions = { heartbeatMs: 15_000, maxBufferedBytes: 1024 * 1024 };

/** Over once it has a final status (`detached` too: nothing more happens to it in this process) and an end time. */
export function runIsOver(run: RunRecord): boolean {
  return runIsFinal(run) && run.finishedAt !== undefined;
}

/** A run for the live view: the detail without the joined logs; logs go as lines, each with its stream. */
function runState(run: RunRecord, withLogs: boolean): Record<string, unknown> {
  const detail = runDetail(run);
  const tasks = run.tasks.map((t, i) => {
    const shown = (detail.tasks as Array<Record<string, unknown>>)[i] ?? {};
    const { logs: _joined, ...rest } = shown;
    return withLogs
      ? { ...rest, logs: t.logs.map((l) => ({ stream: l.stream, text: l.text, time: l.time })) }
      : { ...rest, logLines: t.logs.length };
  });
  return { ...detail, tasks };
}

/**
 * One Server-Sent Events connection: headers, a heartbeat, a byte budget, and the cleanup when the client goes.
 * `subscribe` registers the store listeners and returns their removal.
 */
function openStream(
  req: IncomingMessage,
  res: ServerResponse,
  options: LiveOptions,
  subscribe: (send: (event: string, data: unknown) => void, end: () => void) => () => void,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx (and ingress-nginx) buffer responses by default, which would hold the stream back.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  req.socket.setNoDelay(true);
  let closed = false;
  let allowance = options.maxBufferedBytes;
  let seq = 0;
  const write = (text: string) => {
    if (closed) return;
    if (res.writableLength > allowance) {
      // Too far behind: stop here rather than hold an unbounded backlog for one slow client.
      end();
      return;
    }
    res.write(text);
  };
  const send = (event: string, data: unknown) =>
    write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const heartbeat = setInterval(() => write(': ping\n\n'), options.heartbeatMs);
  heartbeat.unref();
  let unsubscribe = () => {};
  function end(): void {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unsubscribe();
    res.end();
  }
  res.on('close', end);
  // Reconnect after 2 s instead of the browser's default 3 s; a reconnect gets a fresh snapshot anyway.
  res.write('retry: 2000\n\n');
  unsubscribe = subscribe(send, end);
  // The first snapshot may be large (a run's whole log); only what comes after it counts against the budget.
  allowance = res.writableLength + options.maxBufferedBytes;
}

/**
 * `GET /api/runs/:id/events`: `snapshot` (the run with its logs so far), then `run` on every change (without
 * logs), `log` for each line the store keeps, and `end` once the run is over, after which the server closes.
 */
export function streamRun(
  store: RunStore,
  run: RunRecord,
  req: IncomingMessage,
  res: ServerResponse,
  options: LiveOptions = LIVE_DEFAULTS,
): void {
  openStream(req, res, options, (send, end) => {
    const sent = new Map<TaskRecord, number>();
    let scheduled = false;
    const flushRun = () => {
      scheduled = false;
      send('run', runState(run, false));
      if (runIsOver(run)) {
        send('end', { id: run.id, status: run.status });
        end();
      }
    };
    const onUpdate = (r: RunRecord) => {
      if (r !== run || scheduled) return;
      // Several updates in one tick (task ends, answer queued) go out as one event.
      scheduled = true;
      setImmediate(flushRun);
    };
    const onLog = (r: RunRecord, task: TaskRecord, _line: LogLine) => {
      if (r !== run) return;
      // Send what the store kept, not what it was given: past the per-run cap the viewer sees the same notice.
      const index = run.tasks.indexOf(task);
      const from = sent.get(task) ?? 0;
      for (const l of task.logs.slice(from)) send('log', { task: index, stream: l.stream, text: l.text, time: l.time });
      sent.set(task, task.logs.length);
    };
    send('snapshot', runState(run, true));
    for (const t of run.tasks) sent.set(t, t.logs.length);
    if (runIsOver(run)) {
      send('end', { id: run.id, status: run.status });
      setImmediate(end);
      return () => {};
    }
    store.on('update', onUpdate);
    store.on('log', onLog);
    return () => {
      store.off('update', onUpdate);
      store.off('log', onLog);
    };
  });
}

/** `GET /api/events`: `runs` (the newest `limit` runs), then `run` (a summary) whenever one changes. */
export function streamRuns(
  store: RunStore,
  limit: number,
  req: IncomingMessage,
  res: ServerResponse,
  options: LiveOptions = LIVE_DEFAULTS,
): void {
  openStream(req, res, options, (send) => {
    const pending = new Set<RunRecord>();
    const flush = () => {
      for (const r of pending) send('run', runSummary(r));
      pending.clear();
    };
    const onUpdate = (r: RunRecord) => {
      if (pending.size === 0) setImmediate(flush);
      pending.add(r);
    };
    send('runs', { runs: store.list(limit).map(runSummary), limit });
    store.on('update', onUpdate);
    return () => store.off('update', onUpdate);
  });
}
