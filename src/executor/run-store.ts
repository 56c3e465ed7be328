import { EventEmitter } from 'node:events';
import type { KeptnEvent } from '../keptn/event.js';
import type { OutgoingEvent } from '../keptn/responses.js';
import type { LogLine, TaskOutcome } from '../runners/runner.js';
import type { Run } from './run.js';

/**
 * Where a run is. `queued`, `running` and `answering` are on the way; the others are final and come with
 * `finishedAt`, set once the run's last answer was delivered (or given up: see `answers`).
 */
export type RunStatus =
  | 'queued' // taken: `.started` sent (or being sent), waiting for a free slot
  | 'running' // its tasks are running
  | 'answering' // its tasks are over; `.finished` is on its way
  | 'succeeded' // every task passed (or warned/ignored: see result)
  | 'failed' // a task failed
  | 'errored' // the run could not be carried out: config, template, policy, files, `.started` undeliverable, a restart
  | 'no-match' // no action matched
  | 'no-config' // no config for the event's scope
  | 'detached'; // the service stopped while a Kubernetes Job ran; the instance that takes it over answers

export interface TaskRecord {
  readonly actionIndex: number;
  readonly taskIndex: number;
  readonly actionName: string;
  readonly name: string;
  readonly image: string;
  status: 'pending' | 'running' | TaskOutcome;
  reason?: string;
  exitCode?: number;
  startedAt?: number;
  finishedAt?: number;
  /** Every line, up to the store's per-run cap (the answer's message has a smaller cap). */
  readonly logs: LogLine[];
}

export interface AnswerRecord {
  readonly type: string;
  readonly id: string;
  readonly time: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts?: number;
  error?: string;
  /** As sent: a receiver that refused it for its size got a shortened form. */
  event: OutgoingEvent;
}

export interface RunRecord {
  readonly id: string;
  readonly event: KeptnEvent;
  readonly receivedAt: number;
  status: RunStatus;
  result?: 'pass' | 'warning' | 'fail';
  startedAt?: number;
  finishedAt?: number;
  configOrigin?: string;
  actions: Array<{ index: number; name: string; silent: boolean }>;
  tasks: TaskRecord[];
  answers: AnswerRecord[];
  error?: string;
  logBytes: number;
  /** Size of the event as JSON: what the run holds in memory, counted against the queue's and store's bytes. */
  eventBytes?: number;
  /** True when the run was picked up again after a restart. */
  resumed?: boolean;
}

/** Final statuses: the run will not change any more in this process. */
export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set([
  'succeeded',
  'failed',
  'errored',
  'no-match',
  'no-config',
  'detached',
]);

export function runIsFinal(run: Pick<RunRecord, 'status'>): boolean {
  return FINAL_STATUSES.has(run.status);
}

export interface RunStoreEvents {
  update: [RunRecord];
  log: [RunRecord, TaskRecord, LogLine];
}

/**
 * Recent runs in memory, newest last, with their logs. Bounded twice: at most `history` runs, and at most
 * `maxBytes` for all of them (events, kept log lines, answers); each run keeps at most `maxLogBytesPerRun` of
 * log lines (later lines are counted, not kept). Runs on their way are never dropped. Emits `update` and `log`
 * for live views.
 */
export class RunStore extends EventEmitter<RunStoreEvents> {
  private readonly runs = new Map<string, RunRecord>();
  private readonly sizes = new WeakMap<RunRecord, number>();
  private total = 0;

  constructor(
    private readonly history: number,
    private readonly maxLogBytesPerRun: number,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {
    super();
    this.setMaxListeners(1000);
  }

  add(run: RunRecord): void {
    this.runs.set(run.id, run);
    this.grow(run, (run.eventBytes ?? Buffer.byteLength(JSON.stringify(run.event))) + 512);
    this.evict();
    this.emit('update', run);
  }

  get(id: string): RunRecord | undefined {
    return this.runs.get(id);
  }

  /** Newest first. */
  list(limit = this.history): RunRecord[] {
    return [...this.runs.values()].reverse().slice(0, limit);
  }

  get size(): number {
    return this.runs.size;
  }

  /** Bytes the kept runs take, as counted: events, kept log lines, answers. */
  get bytes(): number {
    return this.total;
  }

  /** Keeps `run` and follows it: every change is an `update`, every line a `log`. */
  track(run: Run): void {
    const record = run.record;
    this.add(record);
    run.on('changed', () => this.update(record));
    run.on('log', (task, line) => this.appendLog(record, task, line));
    run.on('answered', (answer) => {
      this.answerAdded(record, answer);
      this.update(record);
    });
    run.on('taskStarted', () => this.update(record));
    run.on('taskEnded', () => this.update(record));
  }

  update(run: RunRecord): void {
    if (runIsFinal(run)) this.evict();
    this.emit('update', run);
  }

  /** An answer was recorded in the run: its size counts. */
  answerAdded(run: RunRecord, answer: AnswerRecord): void {
    this.grow(run, Buffer.byteLength(JSON.stringify(answer.event)));
    this.evict();
  }

  appendLog(run: RunRecord, task: TaskRecord, line: LogLine): void {
    const size = Buffer.byteLength(line.text) + 1;
    if (run.logBytes + size <= this.maxLogBytesPerRun) {
      task.logs.push(line);
      this.grow(run, size + 48);
    } else if (run.logBytes <= this.maxLogBytesPerRun) {
      task.logs.push({
        stream: 'system',
        text: `[log cap of ${this.maxLogBytesPerRun} bytes per run reached; later lines are not kept]`,
        time: line.time,
      });
    }
    run.logBytes += size;
    this.emit('log', run, task, line);
  }

  private grow(run: RunRecord, bytes: number): void {
    this.sizes.set(run, (this.sizes.get(run) ?? 0) + bytes);
    if (this.runs.get(run.id) === run) this.total += bytes;
  }

  /** Drops the oldest final runs beyond the history size or the byte budget; runs on their way stay. */
  private evict(): void {
    if (this.runs.size <= this.history && this.total <= this.maxBytes) return;
    for (const [id, run] of this.runs) {
      if (this.runs.size <= this.history && this.total <= this.maxBytes) break;
      if (!runIsFinal(run)) continue;
      this.runs.delete(id);
      this.total -= this.sizes.get(run) ?? 0;
    }
  }
}
