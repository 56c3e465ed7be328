import { EventEmitter } from 'node:events';
import type { KeptnEvent } from '../keptn/event.js';
import type { OutgoingEvent } from '../keptn/responses.js';
import type { LogLine, TaskOutcome } from '../runners/runner.js';

export type RunStatus =
  | 'queued'
  | 'running'
  | 'succeeded' // every task passed (or warned/ignored: see result)
  | 'failed' // a task failed
  | 'errored' // the run could not be carried out: config, template, policy
  | 'no-match' // no action matched
  | 'no-config' // no config for the event's scope
  | 'detached'; // the service stopped while a Kubernetes Job ran; answered after a restart

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
  readonly event: OutgoingEvent;
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
  /** True when the run was picked up again after a restart (Kubernetes runner). */
  resumed?: boolean;
}

export interface RunStoreEvents {
  update: [RunRecord];
  log: [RunRecord, TaskRecord, LogLine];
}

/**
 * Recent runs in memory, newest last, with their full logs. Bounded: at most `history` runs, each keeping at
 * most `maxLogBytesPerRun` of log lines (later lines are counted, not kept). Emits `update` and `log` for live
 * views.
 */
export class RunStore extends EventEmitter<RunStoreEvents> {
  private readonly runs = new Map<string, RunRecord>();

  constructor(
    private readonly history: number,
    private readonly maxLogBytesPerRun: number,
  ) {
    super();
    this.setMaxListeners(1000);
  }

  add(run: RunRecord): void {
    this.runs.set(run.id, run);
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

  update(run: RunRecord): void {
    this.emit('update', run);
  }

  appendLog(run: RunRecord, task: TaskRecord, line: LogLine): void {
    const size = Buffer.byteLength(line.text) + 1;
    if (run.logBytes + size <= this.maxLogBytesPerRun) task.logs.push(line);
    else if (run.logBytes <= this.maxLogBytesPerRun) {
      task.logs.push({ stream: 'system', text: `[log cap of ${this.maxLogBytesPerRun} bytes per run reached; later lines are not kept]`, time: line.time });
    }
    run.logBytes += size;
    this.emit('log', run, task, line);
  }

  /** Drops the oldest finished runs beyond the history size; running runs are never dropped. */
  private evict(): void {
    if (this.runs.size <= this.history) return;
    for (const [id, run] of this.runs) {
      if (this.runs.size <= this.history) break;
      if (run.status !== 'queued' && run.status !== 'running') this.runs.delete(id);
    }
  }
}
