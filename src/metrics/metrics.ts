import { processMetrics } from './process-metrics.js';
import { Counter, Gauge, Histogram, Registry } from './registry.js';
import type { Executor, SubmitResult } from '../executor/executor.js';
import type { Outbox } from '../executor/outbox.js';
import type { Run } from '../executor/run.js';
import type { RunStore } from '../executor/run-store.js';

export const METRIC_PREFIX = 'job_executor_';

/**
 * Why an event was not taken. A closed set on purpose: label values come from here, never from the event,
 * so a flood of odd events cannot grow the registry.
 */
export type RejectReason =
  | 'event_invalid' // 400 EVENT_INVALID
  | 'event_not_keptn' // 400 EVENT_NOT_KEPTN
  | 'unauthorized' // 401
  | 'body_too_large' // 413
  | 'unsupported_media_type' // 415
  | 'body_timeout' // 408
  | 'no_match'
  | 'no_config'
  | 'config_invalid'
  | 'queue_full' // 503
  | 'shutting_down'; // 503

const REJECT_REASONS: readonly RejectReason[] = [
  'event_invalid',
  'event_not_keptn',
  'unauthorized',
  'body_too_large',
  'unsupported_media_type',
  'body_timeout',
  'no_match',
  'no_config',
  'config_invalid',
  'queue_full',
  'shutting_down',
];

/** What the Kubernetes runner needs, and nothing more: it must not depend on the whole metrics module. */
export interface KubernetesApiErrorCounter {
  /**
   * One failed call to the Kubernetes API. `operation` is a fixed word chosen by the caller (`create_job`,
   * `watch`, `logs`, `delete`, `list`, ...), `status` the HTTP status when there was one.
   */
  kubernetesApiError(operation: string, status?: number): void;
}

const RUN_OUTCOMES = ['succeeded', 'failed', 'errored', 'no_config', 'detached'];

/**
 * The service's Prometheus metrics, in a registry of its own (not a global one) so that several services in
 * one process, as in the tests, each count their own events.
 */
export class Metrics implements KubernetesApiErrorCounter {
  readonly registry = new Registry();
  private readonly received: Counter<never>;
  private readonly matched: Counter<never>;
  private readonly duplicates: Counter<never>;
  private readonly rejected: Counter<'reason'>;
  private readonly runs: Counter<'outcome'>;
  private readonly runDuration: Histogram<'outcome'>;
  private readonly taskDuration: Histogram<'outcome'>;
  private readonly answers: Counter<'outcome'>;
  private readonly k8sErrors: Counter<'operation' | 'status'>;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const p = METRIC_PREFIX;
    const counter = (name: string, help: string) => new Counter({ name: `${p}${name}`, help, registers });
    this.received = counter('events_received_total', 'Events received: taken, duplicates and rejected ones');
    this.matched = counter('events_matched_total', 'Events that matched at least one action and started a run');
    this.duplicates = counter(
      'events_duplicate_total',
      'Events received again within the dedup window (answered once)',
    );
    this.rejected = new Counter({
      name: `${p}events_rejected_total`,
      help: 'Events not taken, by reason: event_invalid, event_not_keptn, unauthorized, body_too_large, unsupported_media_type, body_timeout, no_match, no_config, config_invalid, queue_full, shutting_down',
      labelNames: ['reason'],
      registers,
    });
    this.runs = new Counter({
      name: `${p}runs_total`,
      help: 'Finished runs by outcome: succeeded, failed, errored, no_config, detached (left running to the instance that takes it over)',
      labelNames: ['outcome'],
      registers,
    });
    this.runDuration = new Histogram({
      name: `${p}run_duration_seconds`,
      help: 'Run duration from start of the first task to the end of the run, by outcome',
      labelNames: ['outcome'],
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.taskDuration = new Histogram({
      name: `${p}task_duration_seconds`,
      help: 'Task duration by outcome: succeeded, failed, timeout, cancelled, detached',
      labelNames: ['outcome'],
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.answers = new Counter({
      name: `${p}answers_total`,
      help: 'Answers (.started/.finished) by delivery outcome: delivered, failed',
      labelNames: ['outcome'],
      registers,
    });
    this.k8sErrors = new Counter({
      name: `${p}kubernetes_api_errors_total`,
      help: 'Failed calls to the Kubernetes API by operation and HTTP status (empty when there was no response)',
      labelNames: ['operation', 'status'],
      registers,
    });
    // Series that exist from the start at 0, so rate() and alerts work before the first rejection or failure.
    for (const reason of REJECT_REASONS) this.rejected.inc({ reason }, 0);
    for (const outcome of RUN_OUTCOMES) this.runs.inc({ outcome }, 0);
    if (options.processMetrics !== false) this.registry.register(processMetrics(p));
  }

  /**
   * Follows a service's parts: counts what the executor decides and what each run reports as it goes, and
   * reads the queue, in-flight and outbox sizes when scraped.
   */
  watch(parts: { executor: Executor; store: RunStore; outbox: Outbox }): void {
    const { executor, store, outbox } = parts;
    const registers = [this.registry];
    new Gauge({
      name: `${METRIC_PREFIX}queue_depth`,
      help: 'Runs waiting for a free slot',
      registers,
      collect: () => executor.queued,
    });
    new Gauge({
      name: `${METRIC_PREFIX}runs_in_flight`,
      help: 'Runs being carried out now',
      registers,
      collect: () => executor.inFlight,
    });
    new Gauge({
      name: `${METRIC_PREFIX}answers_pending`,
      help: 'Answers waiting for delivery (including retries)',
      registers,
      collect: () => outbox.pending,
    });
    new Gauge({
      name: `${METRIC_PREFIX}runs_stored`,
      help: 'Runs kept in the in-memory history (JOB_RUN_HISTORY)',
      registers,
      collect: () => store.size,
    });
    executor.on('submitted', (result) => this.submitted(result));
    executor.on('run', (run) => this.follow(run));
  }

  /** An event refused before it reached the executor (400, 401, 413). */
  intakeRejected(reason: RejectReason): void {
    this.received.inc();
    this.rejected.inc({ reason });
  }

  kubernetesApiError(operation: string, status?: number): void {
    this.k8sErrors.inc({ operation, status: status === undefined ? '' : String(status) });
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private submitted(result: SubmitResult): void {
    this.received.inc();
    switch (result.status) {
      case 'accepted':
        this.matched.inc();
        return;
      case 'duplicate':
        this.duplicates.inc();
        return;
      case 'ignored':
        this.rejected.inc({
          reason:
            result.reason === 'no-match' ? 'no_match' : result.reason === 'no-config' ? 'no_config' : 'config_invalid',
        });
        return;
      case 'queue-full':
        this.rejected.inc({ reason: 'queue_full' });
        return;
      case 'closed':
        this.rejected.inc({ reason: 'shutting_down' });
        return;
    }
  }

  private follow(run: Run): void {
    run.on('taskEnded', (task) => {
      if (task.startedAt !== undefined && task.finishedAt !== undefined)
        this.taskDuration.observe({ outcome: task.status }, (task.finishedAt - task.startedAt) / 1000);
    });
    run.on('answered', (answer) =>
      this.answers.inc({ outcome: answer.status === 'delivered' ? 'delivered' : 'failed' }),
    );
    run.once('ended', (record) => {
      const outcome = record.status.replace('-', '_');
      this.runs.inc({ outcome });
      this.runDuration.observe(
        { outcome },
        ((record.finishedAt ?? Date.now()) - (record.startedAt ?? record.receivedAt)) / 1000,
      );
    });
  }
}
