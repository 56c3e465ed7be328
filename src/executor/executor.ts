import { EventEmitter, setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import type { ConfigSource, LoadedConfig } from '../config/source.js';
import { errorMessage, isJobExecutorError } from '../errors.js';
import { isTaskTriggered, type KeptnEvent } from '../keptn/event.js';
import { matchActions, type MatchedAction } from '../matching/match.js';
import type { PolicySettings } from '../policy/checks.js';
import type { Runner } from '../runners/runner.js';
import { sleep } from '../util/backoff.js';
import { answers } from './answers.js';
import { MemoryClaims, type RunClaims, type TakenOver } from './claims.js';
import { DedupWindow } from './dedup.js';
import type { Outbox } from './outbox.js';
import { recoveryNote } from './recovery.js';
import { Run, type RunPlan } from './run.js';
import type { RunRecord, RunStore } from './run-store.js';

export interface ExecutorOptions {
  readonly configSource: ConfigSource;
  readonly runner: Runner;
  readonly outbox: Outbox;
  readonly store: RunStore;
  readonly policy: PolicySettings;
  readonly logger: Logger;
  readonly concurrency: number;
  readonly queueSize: number;
  /**
   * Bytes of events the queued and running runs may hold together (a parsed event takes several times its
   * JSON size): past it, events are refused like a full queue. One run always fits.
   */
  readonly queueMaxBytes?: number;
  readonly dedupWindowMs: number;
  /** Bytes the dedup window may hold. */
  readonly dedupMaxBytes?: number;
  /** Budget for all task logs in one `.finished` message. */
  readonly messageLogBytes: number;
  /** The largest answer the receivers take, as JSON bytes (Keptn: 64 KiB). */
  readonly maxEventBytes: number;
  /** `source` of the events we send. */
  readonly eventSource: string;
  /** Answer errored when the config is missing or invalid, instead of only logging it. */
  readonly alwaysSendFinished: boolean;
  /**
   * Event types the service subscribed to by name (PUBSUB_TOPIC without wildcards). ALWAYS_SEND_FINISHED_EVENT
   * answers a missing config only for these: a wildcard subscription also brings other services' tasks.
   */
  readonly subscribedByName?: (type: string) => boolean;
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
  | {
      readonly status: 'ignored';
      readonly reason: IgnoredReason;
      /** What an HTTP caller may read: the reason and the scope, no paths of this machine. */
      readonly message: string;
      /** The whole reason, for operators (the log, Keptn's error log). */
      readonly detail?: string;
    }
  | { readonly status: 'queue-full' }
  | { readonly status: 'closed' };

export interface ExecutorEvents {
  /** Every submitted event, with what became of it. */
  submitted: [SubmitResult, KeptnEvent];
  /** A run was made (at intake, or taken over after a restart); follow it through its events. */
  run: [Run];
}

function scopeOf(event: KeptnEvent): string {
  return `${event.data.project}/${event.data.stage}/${event.data.service}`;
}

/**
 * Takes events in and keeps runs going: dedup, config and matching at intake (in the caller's request), the
 * claim, a bounded queue in front of at most `concurrency` runs, and shutdown. What happens to one event is
 * its Run's business (run.ts). Shutdown and crash recovery share one path: a run that cannot be carried out
 * here is either left to whoever takes its claim over (a runner whose tasks outlive the service) or abandoned,
 * answered errored with what is known.
 */
export class Executor extends EventEmitter<ExecutorEvents> {
  private readonly queue: Run[] = [];
  private readonly dedup: DedupWindow;
  /** Event ids between arrival and decision, so two copies arriving together run once. */
  private readonly deciding = new Set<string>();
  private readonly done = new Map<string, Promise<RunRecord>>();
  private readonly controller = new AbortController();
  private readonly claims: RunClaims;
  private readonly active = new Set<Run>();
  /** Queued and running runs, and how to say they left. */
  private readonly waiting = new Map<Run, () => void>();
  /** Runs whose `.finished` an outage kept from the receiver. Bounded by the runs in flight when it began. */
  private readonly undelivered = new Set<Run>();
  private closing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: ExecutorOptions) {
    super();
    this.dedup = new DedupWindow(options.dedupWindowMs, options.dedupMaxBytes);
    this.claims = options.claims ?? new MemoryClaims();
    // Every running task listens for the shutdown on this one signal.
    setMaxListeners(0, this.controller.signal);
  }

  get queued(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.active.size;
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
    if (this.closing) return { status: 'closed' };
    const previous = this.dedup.lookup(event.id);
    if (previous) {
      const done = this.done.get(previous);
      return done ? { status: 'duplicate', runId: previous, done } : { status: 'duplicate', runId: previous };
    }
    if (this.deciding.has(event.id)) return { status: 'duplicate' };
    this.deciding.add(event.id);
    try {
      return await this.take(event);
    } finally {
      this.deciding.delete(event.id);
    }
  }

  private async take(event: KeptnEvent): Promise<SubmitResult> {
    const o = this.options;
    let loaded: LoadedConfig;
    try {
      loaded = await this.loadConfig(event);
    } catch (e) {
      return this.configProblem(event, e);
    }
    const matched = matchActions(loaded.config, event);
    if (matched.length === 0) {
      if (o.logger.isLevelEnabled('debug'))
        o.logger.debug({ shkeptncontext: event.shkeptncontext, eventId: event.id }, 'no action matches the event');
      return {
        status: 'ignored',
        reason: 'no-match',
        message: `no action of the job config for ${scopeOf(event)} matches ${event.type}`,
      };
    }
    const bytes = Buffer.byteLength(JSON.stringify(event));
    if (this.queue.length >= o.queueSize && this.active.size >= o.concurrency) return { status: 'queue-full' };
    if (this.heldBytes > 0 && this.heldBytes + bytes > (o.queueMaxBytes ?? Number.POSITIVE_INFINITY))
      return { status: 'queue-full' };
    if ((await this.claims.claim(event)) === 'taken') {
      this.logFor(event).info('another instance (or an earlier run) has claimed this event; not running it again');
      return { status: 'duplicate' };
    }
    const answering = answers(event, matched);
    if (!isTaskTriggered(event.type) && matched.some((m) => !m.action.silent)) {
      this.logFor(event).info('actions matched an event that is not a task .triggered event; they run without answers');
    }
    const run = this.newRun(event, { loaded, matched, answering }, false, bytes);
    run.record.configOrigin = loaded.origin;
    run.record.actions = matched.map((m) => ({ index: m.index, name: m.action.name, silent: m.action.silent }));
    this.logFor(event).info(
      { runId: run.record.id, actions: run.record.actions.map((a) => a.name), config: loaded.origin },
      'event matched',
    );
    run.sendStarted();
    return this.enqueue(run);
  }

  /**
   * No usable config. Not an answer by default (the event may be another integration's); with
   * ALWAYS_SEND_FINISHED_EVENT, an errored answer for the task types subscribed to by name.
   */
  private async configProblem(event: KeptnEvent, e: unknown): Promise<SubmitResult> {
    const o = this.options;
    const missing = isJobExecutorError(e) && e.code === 'CONFIG_NOT_FOUND';
    const message = `could not retrieve config for job-executor: ${errorMessage(e)}`;
    const named = o.subscribedByName?.(event.type) ?? true;
    if (
      o.alwaysSendFinished &&
      isTaskTriggered(event.type) &&
      named &&
      (await this.claims.claim(event)) === 'claimed'
    ) {
      this.logFor(event).warn({ err: message }, 'config problem answered as errored (ALWAYS_SEND_FINISHED_EVENT)');
      const run = this.newRun(event, { matched: [], answering: true });
      run.sendStarted();
      const done = this.track(run, run.abandon(message, missing ? 'no-config' : 'errored'));
      return { status: 'accepted', runId: run.record.id, done };
    }
    if (missing) {
      if (o.logger.isLevelEnabled('debug'))
        this.logFor(event).debug({ err: message }, 'no config for this event; not answered');
    } else
      this.logFor(event).error(
        { err: message },
        'invalid config; not answered (ALWAYS_SEND_FINISHED_EVENT=true answers errored)',
      );
    const why = missing
      ? `no job config for ${scopeOf(event)}`
      : `the job config for ${scopeOf(event)} is invalid (see the service log)`;
    return { status: 'ignored', reason: missing ? 'no-config' : 'config-invalid', message: why, detail: message };
  }

  /** The config for the event's scope (and commit, where the source has history). */
  private loadConfig(event: KeptnEvent): Promise<LoadedConfig> {
    const { project, stage, service } = event.data;
    return this.options.configSource.load(
      { project, stage, service, gitcommitid: event.gitcommitid },
      this.controller.signal,
    );
  }

  private logFor(event: KeptnEvent): Logger {
    return this.options.logger.child({
      shkeptncontext: event.shkeptncontext,
      eventId: event.id,
      eventType: event.type,
    });
  }

  private newRun(
    event: KeptnEvent,
    plan: RunPlan,
    resumed = false,
    eventBytes = Buffer.byteLength(JSON.stringify(event)),
  ): Run {
    const o = this.options;
    const record: RunRecord = {
      id: randomUUID(),
      event,
      receivedAt: Date.now(),
      status: 'queued',
      actions: [],
      tasks: [],
      answers: [],
      logBytes: 0,
      eventBytes,
    };
    if (resumed) record.resumed = true;
    const run = new Run(
      {
        runner: o.runner,
        outbox: o.outbox,
        claims: this.claims,
        policy: o.policy,
        logger: o.logger.child({
          shkeptncontext: event.shkeptncontext,
          eventId: event.id,
          runId: record.id,
          eventType: event.type,
        }),
        limits: {
          source: o.eventSource,
          messageLogBytes: o.messageLogBytes,
          maxEventBytes: o.maxEventBytes,
          ...(o.runUrl ? { runUrl: o.runUrl(record.id) } : {}),
        },
        taskDeadlineSeconds: o.taskDeadlineSeconds ?? 0,
        signal: this.controller.signal,
      },
      record,
      plan,
    );
    this.dedup.remember(event.id, record.id);
    o.store.track(run);
    run.on('ended', () => {
      if (run.undelivered) this.undelivered.add(run);
    });
    this.emit('run', run);
    return run;
  }

  /** Keeps the run's end findable (duplicates wait on it) until it is over. */
  private track(run: Run, work: Promise<void>): Promise<RunRecord> {
    const done = work.then(
      () => run.record,
      async (e: unknown) => {
        await run.internalError(e).catch(() => undefined);
        return run.record;
      },
    );
    this.done.set(run.record.id, done);
    void done.finally(() => this.done.delete(run.record.id));
    return done;
  }

  /** Bytes of the events of queued and running runs. */
  private heldBytes = 0;

  /** Queues a run; its `done` resolves when it leaves its slot (or the queue, at shutdown). */
  private enqueue(run: Run): SubmitResult {
    const bytes = run.record.eventBytes ?? 0;
    this.heldBytes += bytes;
    const released = new Promise<void>((resolve) =>
      this.waiting.set(run, () => {
        this.heldBytes -= bytes;
        resolve();
      }),
    );
    const done = this.track(run, released);
    this.queue.push(run);
    this.pump();
    return { status: 'accepted', runId: run.record.id, done };
  }

  private pump(): void {
    while (this.active.size < this.options.concurrency && this.queue.length > 0) {
      const run = this.queue.shift() as Run;
      this.active.add(run);
      void run
        .carryOut()
        .catch((e: unknown) => run.internalError(e))
        .catch((e: unknown) =>
          this.options.logger.error({ err: e, runId: run.record.id }, 'run failed unexpectedly twice'),
        )
        .finally(() => this.release(run));
    }
  }

  private release(run: Run): void {
    this.active.delete(run);
    this.waiting.get(run)?.();
    this.waiting.delete(run);
    this.pump();
    if (this.active.size === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * Takes over claimed runs nobody carries out any more (this instance before a restart, or a peer that went
   * away). A runner whose tasks outlive the service (`detach`) carries them on: their Jobs are adopted by name
   * and they are answered once. Otherwise the task died with the service: its process groups are stopped and
   * the run is answered errored, once, with what the journal knew; a `.finished` already recorded is sent again.
   */
  async resume(): Promise<number> {
    if (this.closing) return 0;
    this.redeliver();
    const taken = await this.claims.takeOver();
    for (const t of taken) {
      try {
        await this.resumeOne(t);
      } catch (e) {
        this.logFor(t.event).error({ err: errorMessage(e) }, 'could not take over a run');
      }
    }
    return taken.length;
  }

  /** `.finished` answers that an outage kept from their receiver are sent again (a sequence waits for them). */
  private redeliver(): void {
    for (const run of this.undelivered) {
      this.undelivered.delete(run);
      const answer = run.undelivered;
      if (!answer || this.done.has(run.record.id)) continue;
      this.logFor(run.event).info({ answerId: answer.id }, 'sending an undelivered .finished again');
      void this.track(run, run.redeliver(answer));
    }
  }

  private async resumeOne(t: TakenOver): Promise<void> {
    // A task that died with the service cannot be carried on: its run is answered from what the journal knew.
    if (this.options.runner.onShutdown === 'cancel' && (await this.recoverDead(t))) return;
    await this.carryOn(t);
  }

  /**
   * A run whose task died with the service (local runner). Its process groups are stopped; then a `.finished`
   * already recorded is sent again, a run that sent `.started` is answered errored, a run that answers nothing
   * but had started its tasks is closed. False when nothing went out and nothing ran: it starts over.
   */
  private async recoverDead(t: TakenOver): Promise<boolean> {
    const { event } = t;
    const log = this.logFor(event);
    await this.options.runner.stopOrphans?.(t.journal?.processes ?? []);
    const recorded = t.journal?.answers.find((a) => a.answer.type.endsWith('.finished'));
    if (recorded) {
      log.warn({ delivered: recorded.delivered }, 'a run answered before the restart: sending its .finished again');
      const run = this.newRun(event, { matched: [], answering: true, startedDelivered: true }, true);
      void this.track(
        run,
        run.redeliver(recorded.answer, recorded.answer.data.status === 'errored' ? 'errored' : 'succeeded'),
      );
      return true;
    }
    if (t.startedDelivered) {
      const note = recoveryNote(t.journal?.tasks ?? []);
      log.warn(note);
      const run = this.newRun(
        event,
        { matched: [], answering: isTaskTriggered(event.type), startedDelivered: true },
        true,
      );
      void this.track(run, run.abandon(note));
      return true;
    }
    if ((t.journal?.tasks.length ?? 0) > 0) {
      // A run that answers nothing (silent actions, an event that is not a task's .triggered) and had
      // started its tasks: running them again could repeat what they did; it is closed and logged.
      log.warn({ tasks: t.journal?.tasks }, 'a run without answers was cut short by a restart; it is not run again');
      await this.claims.answered(event);
      return true;
    }
    return false;
  }

  /** A run taken over whose task may still be going (a Job), or that never started: carried on from its config. */
  private async carryOn(t: TakenOver): Promise<void> {
    const { event } = t;
    const log = this.logFor(event);
    let loaded: LoadedConfig;
    try {
      loaded = await this.loadConfig(event);
    } catch (e) {
      log.error({ err: errorMessage(e) }, 'a run taken over after a restart has no usable config any more');
      const run = this.newRun(
        event,
        { matched: [], answering: isTaskTriggered(event.type), startedDelivered: t.startedDelivered },
        true,
      );
      run.sendStarted();
      void this.track(
        run,
        run.abandon(`could not retrieve config for job-executor after a restart: ${errorMessage(e)}`),
      );
      return;
    }
    const matched: MatchedAction[] = matchActions(loaded.config, event);
    const answering = answers(event, matched);
    if (isTaskTriggered(event.type) && !answering) {
      // The config changed while the service was away; a `.started` that went out still needs its `.finished`.
      const message =
        'the job config changed before this run could be resumed after a restart: no action matches the event any more';
      log.warn(message);
      const run = this.newRun(event, { matched: [], answering: true, startedDelivered: t.startedDelivered }, true);
      run.sendStarted();
      void this.track(run, run.abandon(message));
      return;
    }
    log.info({ actions: matched.length }, 'resuming a run after a restart');
    const run = this.newRun(event, { loaded, matched, answering, startedDelivered: t.startedDelivered }, true);
    run.record.configOrigin = loaded.origin;
    run.record.actions = matched.map((m) => ({ index: m.index, name: m.action.name, silent: m.action.silent }));
    run.sendStarted();
    this.enqueue(run);
  }

  /**
   * Stops taking events. Runs still queued are left to whoever takes their claims over (`detach` runners) or
   * abandoned, answered errored; running ones get `graceMs` to finish, then their tasks are cancelled or
   * detached (the runner's `onShutdown`); then the answers still on their way get `graceMs` more.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const detach = this.options.runner.onShutdown === 'detach';
    for (const run of this.queue.splice(0)) {
      if (detach) {
        run.detach();
        this.release(run);
        continue;
      }
      this.active.add(run);
      void run
        .abandon('not run: the service stopped before the run started')
        .catch((e: unknown) => run.internalError(e))
        .finally(() => this.release(run));
    }
    if (this.active.size > 0) {
      const idle = new Promise<void>((r) => this.idleWaiters.push(r));
      const finished = await Promise.race([idle.then(() => true), sleep(graceMs).then(() => false)]);
      if (!finished) {
        this.controller.abort();
        // Cancelled tasks answer at once; answers still retrying get the grace period once more.
        await Promise.race([idle, sleep(graceMs)]);
      }
    }
    await this.options.outbox.close(graceMs);
    if (this.active.size > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    await this.options.runner.close?.();
    await this.claims.close();
  }
}
