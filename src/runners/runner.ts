import type { FileSource } from '../config/source.js';
import type { KeptnEvent } from '../keptn/event.js';
import type { TaskSpec } from '../render/task-spec.js';

export type LogStream = 'stdout' | 'stderr' | 'system';

export interface LogLine {
  readonly stream: LogStream;
  readonly text: string;
  /** ms since the epoch */
  readonly time: number;
}

export interface TaskContext {
  readonly runId: string;
  readonly event: KeptnEvent;
  /** Where the task's `files` are read from: the same place its config came from. */
  readonly files: FileSource;
  /** Hash of the config the task came from (JES labels Jobs with it). */
  readonly configHash: string;
  /** Aborted when the run is cancelled (shutdown); the runner stops the task and answers `cancelled`. */
  readonly signal: AbortSignal;
  /** Called for every log line as it arrives. */
  readonly onLog: (line: LogLine) => void;
}

/**
 * `detached`: the service is stopping and the task goes on without it (a Kubernetes Job); the run is not
 * answered now but by the instance that adopts it after a restart.
 */
export type TaskOutcome = 'succeeded' | 'failed' | 'timeout' | 'cancelled' | 'detached';

export interface TaskResult {
  readonly outcome: TaskOutcome;
  /** Why it did not succeed, in words a user can act on; names the limit for a timeout. */
  readonly reason?: string;
  readonly exitCode?: number;
  /** The task's logs as the message shows them (the runner may cap them; the run store has the lines). */
  readonly logs: string;
  /** `$KEPTN_OUTPUT`: a JSON object the task wrote, merged into the `.finished` data. */
  readonly output?: Readonly<Record<string, unknown>>;
}

/** Runs one task to its end. Never throws for a task's own failure: that is a TaskResult. */
export interface Runner {
  readonly name: string;
  run(task: TaskSpec, ctx: TaskContext): Promise<TaskResult>;
  close?(): Promise<void>;
}
