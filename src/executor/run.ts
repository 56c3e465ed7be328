import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { LoadedConfig, TaskFile } from '../config/source.js';
import { FileBudget, readTaskFiles } from '../config/task-files.js';
import { errorMessage, isJobExecutorError } from '../errors.js';
import type { KeptnEvent } from '../keptn/event.js';
import { buildStarted, type OutgoingEvent } from '../keptn/responses.js';
import type { MatchedAction } from '../matching/match.js';
import { checkPolicy, type PolicySettings } from '../policy/checks.js';
import { renderActions, type RenderedAction } from '../render/task-spec.js';
import type { LogLine, Runner, TaskResult } from '../runners/runner.js';
import { finishedFor, shrinkFinished, type AnswerLimits, type FinishedSpec } from './answers.js';
import type { RunClaims } from './claims.js';
import type { Outbox } from './outbox.js';
import type { AnswerRecord, RunRecord, RunStatus, TaskRecord } from './run-store.js';
import { summarise, taskEffect, taskKey } from './summarise.js';

/** What a run tells the store, metrics, live views and the CLI's progress as it goes. */
export interface RunEvents {
  /** The record changed (status, times, tasks). */
  changed: [];
  taskStarted: [TaskRecord];
  log: [TaskRecord, LogLine];
  taskEnded: [TaskRecord];
  /** An answer was delivered or given up. */
  answered: [AnswerRecord];
  /** The run is over in this process (a final status); nothing more happens to it here. */
  ended: [RunRecord];
}

export interface RunDeps {
  readonly runner: Runner;
  readonly outbox: Outbox;
  readonly claims: RunClaims;
  readonly policy: PolicySettings;
  /** With the run's shkeptncontext, event id and run id bound. */
  readonly logger: Logger;
  readonly limits: AnswerLimits;
  /** Upper bound for every task's maxPollDuration (JES's TASK_DEADLINE_SECONDS); 0 for none. */
  readonly taskDeadlineSeconds: number;
  /** Aborted when the service stops; the runner's `onShutdown` says what that does to a running task. */
  readonly signal: AbortSignal;
}

export interface RunPlan {
  readonly loaded?: LoadedConfig;
  readonly matched: readonly MatchedAction[];
  /** The run answers `.started`/`.finished` (a task `.triggered` event matched by an action that is not silent). */
  readonly answering: boolean;
  /** `.started` went out before (a run resumed after a restart): it is never sent twice. */
  readonly startedDelivered?: boolean;
}

type Prepared =
  { ok: true; plan: RenderedAction[]; files: Map<string, TaskFile[]> } | { ok: false; reason: string; code?: string };

/**
 * One event's run, from `.started` to the release of its claim. `carryOut` reads as the whole way:
 * `.started` delivered → render and policy → files → tasks in order → summarise → `.finished` → release the
 * claim. The run owns its record and says what happens through its events.
 */
export class Run extends EventEmitter<RunEvents> {
  private startedDelivery: Promise<boolean> = Promise.resolve(true);
  /** A `.finished` whose delivery failed for a reason that may pass (an outage): sent again later. */
  undelivered: OutgoingEvent | undefined;

  constructor(
    private readonly deps: RunDeps,
    readonly record: RunRecord,
    private readonly plan: RunPlan,
  ) {
    super();
  }

  get event(): KeptnEvent {
    return this.record.event;
  }

  /** Sends `.started` now (Keptn gives up on a task that is not started in time); the tasks wait for it. */
  sendStarted(): void {
    if (!this.plan.answering || this.plan.startedDelivered) return;
    this.startedDelivery = this.answer(buildStarted(this.event, this.deps.limits.source)).then(async (delivered) => {
      if (delivered) await this.deps.claims.started(this.event);
      return delivered;
    });
  }

  /** The whole way of a run that got a slot. */
  async carryOut(): Promise<void> {
    if (!(await this.startedDelivery)) return this.endUnstarted();
    const prepared = await this.prepare();
    if (!prepared.ok) {
      this.deps.logger.warn({ err: prepared.reason, code: prepared.code }, 'run refused before any task started');
      return this.finish(
        { status: 'errored', result: 'fail', message: prepared.reason, window: this.window() },
        'errored',
        prepared.reason,
      );
    }
    this.setStatus('running');
    const results = await this.runTasks(prepared.plan, prepared.files);
    const summary = summarise(prepared.plan, results);
    if (summary.status === 'detached') return this.detach();
    const spec: FinishedSpec = {
      status: summary.answerStatus,
      result: summary.result,
      parts: summary.parts,
      output: summary.output,
      window: this.window(),
    };
    return this.finish(spec, summary.status);
  }

  /**
   * Ends a run without running it (the service stops while it waits, it is found open after a crash, or its
   * config cannot be used): `.finished` errored with `reason`, after `.started` if that is still to go out.
   */
  async abandon(reason: string, status: 'errored' | 'no-config' = 'errored'): Promise<void> {
    if (!(await this.startedDelivery)) return this.endUnstarted();
    await this.finish({ status: 'errored', result: 'fail', message: reason, window: this.window() }, status, reason);
  }

  /** Leaves the run to whoever takes its claim over (the service stops; its task goes on). */
  detach(): void {
    this.deps.logger.info('run detached: the instance that takes it over answers it');
    this.end('detached');
  }

  /**
   * Sends a `.finished` again: one recorded before a restart and not confirmed delivered, or one whose
   * delivery failed during an outage. It keeps its id, so a receiver that got it once can tell.
   */
  async redeliver(answer: OutgoingEvent, status: RunStatus = this.record.status): Promise<void> {
    this.undelivered = undefined;
    const delivered = await this.answer(answer);
    if (delivered) await this.deps.claims.answered(this.event).catch(() => undefined);
    this.end(status);
  }

  /** A bug in the pipeline must still leave the run final and the event answered. */
  async internalError(e: unknown): Promise<void> {
    this.deps.logger.error({ err: e }, 'run failed unexpectedly');
    if (this.record.answers.some((a) => a.type.endsWith('.finished')))
      return this.end('errored', `internal error: ${errorMessage(e)}`);
    await this.abandon(`internal error of job-executor: ${errorMessage(e)}`);
  }

  private window(): { start: number; end: number } {
    return { start: this.record.receivedAt, end: Date.now() };
  }

  /** Render every task and check the policy, then read every task's files: a refused run starts nothing. */
  private async prepare(): Promise<Prepared> {
    let plan: RenderedAction[];
    try {
      plan = renderActions(this.plan.matched, this.event, this.deps.taskDeadlineSeconds);
      checkPolicy(
        plan.flatMap((p) => p.tasks),
        this.deps.policy,
      );
    } catch (e) {
      return { ok: false, reason: errorMessage(e), ...(isJobExecutorError(e) ? { code: e.code } : {}) };
    }
    this.addTaskRecords(plan);
    if (!this.plan.loaded) return { ok: true, plan, files: new Map() };
    // One budget for the whole run over the per-task ones: a run cannot be handed more than its share of files.
    const budget = FileBudget.forRun();
    const files = new Map<string, TaskFile[]>();
    for (const spec of plan.flatMap((a) => a.tasks)) {
      try {
        files.set(taskKey(spec), await readTaskFiles(this.plan.loaded.files, spec.files, this.deps.signal, budget));
      } catch (e) {
        return {
          ok: false,
          reason: `${spec.name}: ${errorMessage(e)}`,
          code: isJobExecutorError(e) ? e.code : 'FILE_NOT_FOUND',
        };
      }
    }
    return { ok: true, plan, files };
  }

  private addTaskRecords(plan: readonly RenderedAction[]): void {
    for (const s of plan.flatMap((a) => a.tasks)) {
      this.record.tasks.push({
        actionIndex: s.actionIndex,
        taskIndex: s.taskIndex,
        actionName: s.actionName,
        name: s.name,
        image: s.image,
        status: 'pending',
        logs: [],
      });
    }
    this.emit('changed');
  }

  /** Tasks in order; a task's effect decides whether the rest of its action, or of the run, goes on. */
  private async runTasks(
    plan: readonly RenderedAction[],
    files: ReadonlyMap<string, TaskFile[]>,
  ): Promise<Map<string, TaskResult>> {
    const results = new Map<string, TaskResult>();
    for (const action of plan) {
      for (const spec of action.tasks) {
        const result = await this.runTask(spec, files.get(taskKey(spec)) ?? []);
        results.set(taskKey(spec), result);
        const effect = taskEffect(result, spec, action.silent);
        if (effect === 'stop-run' || effect === 'detach') return results;
        if (effect === 'stop-action') break;
      }
    }
    return results;
  }

  private async runTask(spec: RenderedAction['tasks'][number], files: readonly TaskFile[]): Promise<TaskResult> {
    const record = this.record.tasks.find(
      (t) => t.actionIndex === spec.actionIndex && t.taskIndex === spec.taskIndex,
    ) as TaskRecord;
    const log = this.deps.logger.child({ task: spec.name, actionIndex: spec.actionIndex, taskIndex: spec.taskIndex });
    record.status = 'running';
    record.startedAt = Date.now();
    await this.deps.claims
      .taskStarted?.(this.event, spec.name)
      .catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'could not journal the task start'));
    this.emit('taskStarted', record);
    log.info({ image: spec.image }, 'task started');
    const result = await this.deps.runner.run(spec, {
      runId: this.record.id,
      event: this.event,
      files,
      configHash: this.plan.loaded?.hash ?? '',
      signal: this.deps.signal,
      onLog: (line) => this.emit('log', record, line),
      onNote: (text) => {
        log.info({ note: text }, 'runner note');
        this.emit('log', record, { stream: 'system', text, time: Date.now() });
      },
      onProcess: (handle) => this.deps.claims.process?.(this.event, handle),
    });
    record.status = result.outcome;
    record.finishedAt = Date.now();
    if (result.reason) record.reason = result.reason;
    if (result.exitCode !== undefined) record.exitCode = result.exitCode;
    log.info(
      { outcome: result.outcome, reason: result.reason, durationMs: record.finishedAt - record.startedAt },
      'task ended',
    );
    this.emit('taskEnded', record);
    return result;
  }

  /**
   * Answers `.finished` (when the run answers) and releases the claim once it was delivered; an answer that
   * could not be delivered keeps the claim, so whoever holds it after a restart sends it again.
   */
  private async finish(spec: FinishedSpec, status: RunStatus, error?: string): Promise<void> {
    this.record.result = spec.result;
    if (error) this.record.error = error;
    let delivered = true;
    if (this.plan.answering) {
      this.setStatus('answering');
      const limits = this.deps.limits;
      delivered = await this.answer(finishedFor(this.event, spec, limits), (a) => shrinkFinished(a, limits.runUrl));
    }
    if (delivered) {
      await this.deps.claims
        .answered(this.event)
        .catch((e: unknown) => this.deps.logger.warn({ err: errorMessage(e) }, 'could not release the run claim'));
    }
    this.end(status);
  }

  /**
   * `.started` could not be delivered: no task runs, and no `.finished` follows it (Keptn completes a task only
   * when #finished == #started > 0, so a lone `.finished` would keep the sequence open for good, while a task
   * that got neither is ended by Keptn's own task-started timeout, 10 minutes by default).
   */
  private async endUnstarted(): Promise<void> {
    const reason =
      'not run: .started could not be delivered (see answers), so no task ran and no .finished is sent; Keptn ends the task after its task-started timeout';
    this.deps.logger.error(reason);
    await this.deps.claims.answered(this.event).catch(() => undefined);
    this.end('errored', reason);
  }

  private async answer(
    answer: OutgoingEvent,
    shrink?: (a: OutgoingEvent) => OutgoingEvent | undefined,
  ): Promise<boolean> {
    const record: AnswerRecord = {
      type: answer.type,
      id: answer.id,
      time: answer.time,
      status: 'pending',
      event: answer,
    };
    this.record.answers.push(record);
    this.emit('changed');
    try {
      await this.deps.claims.answerQueued?.(this.event, answer);
    } catch (e) {
      this.deps.logger.error(
        { err: errorMessage(e) },
        'could not journal the answer before sending it; sending it anyway',
      );
    }
    const result = await this.deps.outbox.send(this.record.id, answer, shrink ? { shrink } : {});
    record.status = result.delivered ? 'delivered' : 'failed';
    record.attempts = result.attempts;
    record.event = result.sent;
    if (result.error) record.error = result.error;
    if (result.delivered) await this.deps.claims.answerDelivered?.(this.event, answer.id).catch(() => undefined);
    else if (!result.permanent && answer.type.endsWith('.finished')) this.undelivered = result.sent;
    this.deps.logger.info(
      {
        answerType: answer.type,
        answerId: answer.id,
        delivered: result.delivered,
        status: answer.data.status,
        result: answer.data.result,
      },
      'answer sent',
    );
    this.emit('answered', record);
    return result.delivered;
  }

  private setStatus(status: RunStatus): void {
    this.record.status = status;
    if (status === 'running') this.record.startedAt = Date.now();
    this.emit('changed');
  }

  private end(status: RunStatus, error?: string): void {
    this.record.status = status;
    if (error) this.record.error ??= error;
    this.record.finishedAt = Date.now();
    this.emit('changed');
    this.emit('ended', this.record);
  }
}
