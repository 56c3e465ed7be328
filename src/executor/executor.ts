import { EventEmitter, setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { v4 as uuidv4 } from 'uuid';
import type { ConfigSource, LoadedConfig } from '../config/source.js';
import { errorMessage, isJobExecutorError } from '../errors.js';
import { isTaskTriggered, type KeptnEvent } from '../keptn/event.js';
import {
  buildFinished,
  buildStarted,
  composeMessage,
  isTestTriggered,
  type FinishedInput,
  type OutgoingEvent,
  type TaskMessagePart,
} from '../keptn/responses.js';
import { matchActions, type MatchedAction } from '../matching/match.js';
import { checkPolicy, type PolicySettings } from '../policy/checks.js';
import { renderActions, type RenderedAction } from '../render/task-spec.js';
import type { Runner } from '../runners/runner.js';
import { deepMerge } from '../util/objects.js';
import { MemoryClaims, type RunClaims } from './claims.js';
import { DedupWindow } from './dedup.js';
import type { Outbox } from './outbox.js';
import type { RunRecord, RunStore, TaskRecord } from './run-store.js';

export interface ExecutorOptions {
  readonly configSource: ConfigSource;
  readonly runner: Runner;
  readonly outbox: Outbox;
  readonly store: RunStore;
  readonly policy: PolicySettings;
  readonly logger: Logger;
  readonly concurrency: number;
  readonly queueSize: number;
  readonly dedupWindowMs: number;
  /** Budget for all task logs in one `.finished` message. */
  readonly messageLogBytes: number;
  /** `source` of the events we send. */
  readonly eventSource: string;
  /** Answer errored when the config is missing or invalid, instead of only logging it. */
  readonly alwaysSendFinished: boolean;
  /** Where a run can be looked at, for messages that were cut. */
  readonly runUrl?: (runId: string) => string;
  /** Upper bound for every task's maxPollDuration (JES's TASK_DEADLINE_SECONDS); 0 for none. */
  readonly taskDeadlineSeconds?: number;
  /** Who answers an event across replicas and restarts; in memory when there is nothing durable. */
  readonly claims?: RunClaims;
}

export type IgnoredReason = 'no-match' | 'no-config' | 'config-invalid';

export type SubmitResult =
  | { readonly status: 'accepted'; readonly runId: string; readonly done: Promise<RunRecord> }
  | { readonly status: 'duplicate'; readonly runId?: string; readonly done?: Promise<RunRecord> }
  | { readonly status: 'ignored'; readonly reason: IgnoredReason; readonly message: string }
  | { readonly status: 'queue-full' }
  | { readonly status: 'closed' };

export interface ExecutorEvents {
  /** Every submitted event, with what became of it. */
  submitted: [SubmitResult, KeptnEvent];
}

interface Queued {
  readonly run: RunRecord;
  readonly loaded: LoadedConfig;
  readonly matched: MatchedAction[];
  readonly answering: boolean;
  /** Answers already on their way (the `.started`); `.finished` waits behind them in the outbox. */
  readonly answers: Array<Promise<void>>;
  readonly resolve: (run: RunRecord) => void;
}

/**
 * One run per event. Intake decides at once, in the caller's request: config, matching, dedup, room in the
 * queue; a matched event is answered `.started` right away (Keptn waits for it) and queued. A bounded queue
 * feeds at most `concurrency` runs at a time; each renders and checks all its tasks, runs them in order and
 * answers `.finished`. Events that match nothing leave no run behind.
 */
export class Executor extends EventEmitter<ExecutorEvents> {
  private readonly queue: Queued[] = [];
  private readonly dedup: DedupWindow;
  /** Event ids between arrival and decision, so two copies arriving together run once. */
  private readonly deciding = new Set<string>();
  private readonly done = new Map<string, Promise<RunRecord>>();
  private readonly controller = new AbortController();
  private active = 0;
  private closing = false;
  private idleWaiters: Array<() => void> = [];
  private readonly claims: RunClaims;

  constructor(private readonly options: ExecutorOptions) {
    super();
    this.dedup = new DedupWindow(options.dedupWindowMs);
    this.claims = options.claims ?? new MemoryClaims();
    // Every running task listens for the shutdown on this one signal.
    setMaxListeners(0, this.controller.signal);
  }

  get queued(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.active;
  }

  get accepting(): boolean {
    return !this.closing;
  }

  async submit(event: KeptnEvent): Promise<SubmitResult> {
    const result = await this.decide(event);
    this.emit('submitted', result, event);
    return result;
  }

  private async decide(event: KeptnEvent): Promise<SubmitResult> {
    const o = this.options;
    if (this.closing) return { status: 'closed' };
    const previous = this.dedup.lookup(event.id);
    if (previous) {
      const done = this.done.get(previous);
      return done ? { status: 'duplicate', runId: previous, done } : { status: 'duplicate', runId: previous };
    }
    if (this.deciding.has(event.id)) return { status: 'duplicate' };
    this.deciding.add(event.id);
    try {
      // Made on first use: most events match nothing, and a pino child serialises its bindings when created.
      let child: Logger | undefined;
      const logger = () => (child ??= o.logger.child({ shkeptncontext: event.shkeptncontext, eventId: event.id, type: event.type }));
      const answerable = isTaskTriggered(event.type);
      let loaded: LoadedConfig;
      try {
        loaded = await o.configSource.load(
          { project: event.data.project, stage: event.data.stage, service: event.data.service, gitcommitid: event.gitcommitid },
          this.controller.signal,
        );
      } catch (e) {
        const missing = isJobExecutorError(e) && e.code === 'CONFIG_NOT_FOUND';
        const message = `could not retrieve config for job-executor: ${errorMessage(e)}`;
        if (o.alwaysSendFinished && answerable) {
          logger().warn({ err: message }, 'config problem answered as errored (ALWAYS_SEND_FINISHED_EVENT)');
          return this.answerConfigProblem(event, missing ? 'no-config' : 'errored', message, logger());
        }
        if (missing) {
          if (o.logger.isLevelEnabled('debug')) logger().debug({ err: message }, 'no config for this event; not answered (ALWAYS_SEND_FINISHED_EVENT=true answers errored)');
        } else logger().error({ err: message }, 'invalid config; not answered (ALWAYS_SEND_FINISHED_EVENT=true answers errored)');
        return { status: 'ignored', reason: missing ? 'no-config' : 'config-invalid', message };
      }
      const matched = matchActions(loaded.config, event);
      if (matched.length === 0) {
        if (o.logger.isLevelEnabled('debug')) logger().debug('No match found for event');
        return { status: 'ignored', reason: 'no-match', message: `no action in ${loaded.origin} matches ${event.type}` };
      }
      if (this.queue.length >= o.queueSize && this.active >= o.concurrency) return { status: 'queue-full' };
      if ((await this.claims.claim(event)) === 'taken') {
        logger().info('another instance (or an earlier run) has claimed this event; not running it again');
        return { status: 'duplicate' };
      }
      return this.enqueue(event, loaded, matched, { log: logger(), sendStarted: true });
    } finally {
      this.deciding.delete(event.id);
    }
  }

  /** Queues a claimed event; sends `.started` first when it is to be answered and has not been yet. */
  private enqueue(
    event: KeptnEvent,
    loaded: LoadedConfig,
    matched: MatchedAction[],
    how: { log: Logger; sendStarted: boolean; resumed?: boolean },
  ): SubmitResult {
    const o = this.options;
    const { log } = how;
    const answerable = isTaskTriggered(event.type);
    const run = this.newRun(event);
    if (how.resumed) run.resumed = true;
    run.configOrigin = loaded.origin;
    run.actions = matched.map((m) => ({ index: m.index, name: m.action.name, silent: m.action.silent }));
    const answering = answerable && matched.some((m) => !m.action.silent);
    if (!answerable && matched.some((m) => !m.action.silent)) {
      log.info('actions matched an event that is not a task .triggered event; they run without answers');
    }
    log.info({ runId: run.id, actions: run.actions.map((a) => a.name), config: loaded.origin, resumed: how.resumed ?? false }, 'event matched');
    // .started goes out now, not when a slot frees up: Keptn gives up on a task that is not started in time.
    const answers =
      answering && how.sendStarted
        ? [this.answer(run, buildStarted(event, o.eventSource), log.child({ runId: run.id })).then(() => this.claims.started(event))]
        : [];
    const done = new Promise<RunRecord>((resolve) => this.queue.push({ run, loaded, matched, answering, answers, resolve }));
    this.done.set(run.id, done);
    this.pump();
    return { status: 'accepted', runId: run.id, done };
  }

  /**
   * Takes over claimed runs that no instance carries out any more (this one before a restart, or a peer that
   * went away) and carries them on: their Jobs are adopted by name, and they are answered once.
   */
  async resume(): Promise<number> {
    if (this.closing) return 0;
    const taken = await this.claims.takeOver();
    for (const { event, startedDelivered } of taken) {
      const log = this.options.logger.child({ shkeptncontext: event.shkeptncontext, eventId: event.id, type: event.type });
      let loaded: LoadedConfig;
      try {
        loaded = await this.options.configSource.load(
          { project: event.data.project, stage: event.data.stage, service: event.data.service, gitcommitid: event.gitcommitid },
          this.controller.signal,
        );
      } catch (e) {
        log.error({ err: errorMessage(e) }, 'a run taken over after a restart has no usable config any more');
        const result = this.answerConfigProblem(event, 'errored', `could not retrieve config for job-executor after a restart: ${errorMessage(e)}`, log, !startedDelivered);
        if (result.status === 'accepted') void result.done.then(() => this.claims.answered(event));
        continue;
      }
      const matched = matchActions(loaded.config, event);
      if (isTaskTriggered(event.type) && !matched.some((m) => !m.action.silent)) {
        // The config changed while the service was away; a `.started` that went out still needs its `.finished`.
        const message = 'the job config changed before this run could be resumed after a restart: no action matches the event any more';
        log.warn(message);
        const result = this.answerConfigProblem(event, 'errored', message, log, !startedDelivered);
        if (result.status === 'accepted') void result.done.then(() => this.claims.answered(event));
        continue;
      }
      log.info({ actions: matched.length }, 'resuming a run after a restart');
      this.enqueue(event, loaded, matched, { log, sendStarted: !startedDelivered, resumed: true });
    }
    return taken.length;
  }

  private newRun(event: KeptnEvent): RunRecord {
    const run: RunRecord = { id: uuidv4(), event, receivedAt: Date.now(), status: 'queued', actions: [], tasks: [], answers: [], logBytes: 0 };
    this.dedup.remember(event.id, run.id);
    this.options.store.add(run);
    return run;
  }

  /** ALWAYS_SEND_FINISHED_EVENT: a config that cannot be used still gets `.started` and an errored `.finished`. */
  private answerConfigProblem(
    event: KeptnEvent,
    status: 'no-config' | 'errored',
    message: string,
    log: Logger,
    sendStarted = true,
  ): SubmitResult {
    const run = this.newRun(event);
    run.status = status;
    run.error = message;
    run.startedAt = run.receivedAt;
    const done = (async () => {
      if (sendStarted) await this.answer(run, buildStarted(event, this.options.eventSource), log);
      await this.answer(run, this.finished(event, { status: 'errored', result: 'fail', message }, run.receivedAt), log);
      run.finishedAt = Date.now();
      this.options.store.update(run);
      return run;
    })();
    return { status: 'accepted', runId: run.id, done };
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.queue.length > 0) {
      const next = this.queue.shift() as Queued;
      this.active++;
      void this.execute(next)
        .catch((e: unknown) => {
          // execute() handles every expected failure; this is the last line against a bug taking the process down.
          next.run.status = 'errored';
          next.run.error = `internal error: ${errorMessage(e)}`;
          this.options.logger.error({ err: e, runId: next.run.id }, 'run failed unexpectedly');
        })
        .finally(() => {
          this.active--;
          next.run.finishedAt ??= Date.now();
          this.options.store.update(next.run);
          next.resolve(next.run);
          // A finished run is in the store (within the history); holding it here too would keep every run of
          // the last minute in memory, beyond the history size.
          this.done.delete(next.run.id);
          this.pump();
          if (this.active === 0 && this.queue.length === 0) {
            for (const w of this.idleWaiters.splice(0)) w();
          }
        });
    }
  }

  private async answer(run: RunRecord, event: OutgoingEvent, log: Logger): Promise<void> {
    const record = { type: event.type, id: event.id, time: event.time, status: 'pending' as const, event };
    run.answers.push(record);
    this.options.store.update(run);
    const result = await this.options.outbox.send(run.id, event);
    const stored = run.answers.find((a) => a.id === event.id);
    if (stored) {
      stored.status = result.delivered ? 'delivered' : 'failed';
      stored.attempts = result.attempts;
      if (result.error) stored.error = result.error;
    }
    log.info({ type: event.type, answerId: event.id, delivered: result.delivered, status: event.data.status, result: event.data.result }, 'answer sent');
    this.options.store.update(run);
  }

  private async execute(job: Queued): Promise<void> {
    const { run, loaded, matched, answering, answers } = job;
    const { event } = run;
    const o = this.options;
    const log = o.logger.child({ shkeptncontext: event.shkeptncontext, eventId: event.id, runId: run.id, type: event.type });
    run.status = 'running';
    run.startedAt = Date.now();
    o.store.update(run);
    const send = (e: OutgoingEvent) => answers.push(this.answer(run, e, log));
    const testStart = run.receivedAt;
    // The first task starts once `.started` is delivered and recorded in the claim: a Job that exists then
    // proves to a restarted instance that `.started` went out, so it is never sent twice.
    await Promise.all(answers);

    // Render and check every task before the first one starts: a refused run starts nothing.
    let plan: RenderedAction[];
    try {
      plan = renderActions(matched, event, o.taskDeadlineSeconds);
      checkPolicy(
        plan.flatMap((p) => p.tasks),
        o.policy,
      );
    } catch (e) {
      run.status = 'errored';
      run.error = errorMessage(e);
      log.warn({ err: run.error, code: isJobExecutorError(e) ? e.code : undefined }, 'run refused before any task started');
      if (answering) send(this.finished(event, { status: 'errored', result: 'fail', message: run.error }, testStart));
      await Promise.all(answers);
      await this.claims.answered(event);
      return;
    }

    for (const { tasks } of plan) {
      for (const s of tasks) {
        run.tasks.push({ actionIndex: s.actionIndex, taskIndex: s.taskIndex, actionName: s.actionName, name: s.name, image: s.image, status: 'pending', logs: [] });
      }
    }
    o.store.update(run);

    const parts: TaskMessagePart[] = [];
    // `failed` decides the answer; a silent action's failure shows only in the run store.
    let failed = false;
    let silentFailed = false;
    let warned = false;
    let output: Record<string, unknown> = {};
    for (const action of plan) {
      let actionStopped = false;
      for (const spec of action.tasks) {
        const record = run.tasks.find((t) => t.actionIndex === spec.actionIndex && t.taskIndex === spec.taskIndex) as TaskRecord;
        if (failed || actionStopped) {
          if (!action.silent) parts.push({ name: spec.name, outcome: 'not run', reason: 'an earlier task failed', logs: '' });
          continue;
        }
        const taskLog = log.child({ task: spec.name, actionIndex: spec.actionIndex, taskIndex: spec.taskIndex });
        record.status = 'running';
        record.startedAt = Date.now();
        o.store.update(run);
        taskLog.info({ image: spec.image }, 'task started');
        const result = await o.runner.run(spec, {
          runId: run.id,
          event,
          files: loaded.files,
          configHash: loaded.hash,
          signal: this.controller.signal,
          onLog: (line) => o.store.appendLog(run, record, line),
        });
        record.status = result.outcome;
        record.finishedAt = Date.now();
        if (result.reason) record.reason = result.reason;
        if (result.exitCode !== undefined) record.exitCode = result.exitCode;
        o.store.update(run);
        taskLog.info({ outcome: result.outcome, reason: result.reason, durationMs: record.finishedAt - record.startedAt }, 'task ended');
        if (result.output) output = deepMerge(output, result.output);
        if (result.outcome === 'detached') {
          // The service is stopping and the task goes on (a Kubernetes Job): whoever takes the claim over
          // after the restart answers. Nothing is sent now, and the claim stays open.
          run.status = 'detached';
          taskLog.info('run detached: it is answered after a restart');
          await Promise.all(answers);
          return;
        }

        if (result.outcome === 'succeeded') {
          if (!action.silent) parts.push({ name: spec.name, outcome: 'succeeded', logs: result.logs });
          continue;
        }
        // A cancelled task (shutdown) always fails the run: its work did not happen.
        const onError = result.outcome === 'cancelled' ? 'fail' : spec.onError;
        const reason = result.reason ?? result.outcome;
        if (onError === 'fail') {
          if (!action.silent) {
            parts.push({ name: spec.name, outcome: 'failed', reason, logs: result.logs });
            failed = true;
          } else {
            silentFailed = true;
          }
          actionStopped = true;
        } else if (!action.silent) {
          parts.push({ name: spec.name, outcome: onError === 'warn' ? 'warned' : 'ignored', reason, logs: result.logs });
          if (onError === 'warn') warned = true;
        }
      }
    }
    const testEnd = Date.now();
    run.status = failed || silentFailed ? 'failed' : 'succeeded';
    run.result = failed ? 'fail' : warned ? 'warning' : 'pass';
    if (answering) {
      const message = composeMessage(parts, o.messageLogBytes, o.runUrl?.(run.id));
      send(
        this.finished(
          event,
          { status: failed ? 'errored' : 'succeeded', result: run.result, message, ...(Object.keys(output).length > 0 ? { output } : {}) },
          testStart,
          testEnd,
        ),
      );
    }
    await Promise.all(answers);
    await this.claims.answered(event);
  }

  private finished(event: KeptnEvent, input: Omit<FinishedInput, 'test'>, start: number, end = Date.now()): OutgoingEvent {
    return buildFinished(event, this.options.eventSource, { ...input, ...(isTestTriggered(event) ? { test: { start, end } } : {}) });
  }

  /** Stops taking events, lets running runs finish for up to `graceMs`, then cancels them and drains answers. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    for (const q of this.queue.splice(0)) {
      q.run.status = 'errored';
      q.run.error = 'not run: the service stopped before the run started';
      q.run.finishedAt = Date.now();
      this.options.store.update(q.run);
      this.options.logger.error({ runId: q.run.id, eventId: q.run.event.id, shkeptncontext: q.run.event.shkeptncontext }, q.run.error);
      q.resolve(q.run);
    }
    if (this.active > 0) {
      const idle = new Promise<void>((r) => this.idleWaiters.push(r));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([idle.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
      clearTimeout(timer);
      if (timedOut) {
        this.controller.abort();
        await idle;
      }
    }
    await this.options.outbox.close(graceMs);
    await this.options.runner.close?.();
    await this.claims.close();
  }
}
