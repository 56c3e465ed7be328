import type { TaskFile } from '../config/source.js';
import type { KeptnEvent } from '../keptn/event.js';
import type { TaskSpec } from '../render/task-spec.js';

export type LogStream = 'stdout' | 'stderr' | 'system';

export interface LogLine {
  readonly stream: LogStream;
  readonly text: string;
  /** ms since the epoch */
  readonly time: number;
}

/** A task's process group as the local runner started it: enough to stop it after the service crashed. */
export interface ProcessHandle {
  readonly pgid: number;
  /** The process's start time as the kernel counts it (/proc/<pid>/stat field 22), so a reused pid is not killed. */
  readonly startTime: string;
}

export interface TaskContext {
  readonly runId: string;
  readonly event: KeptnEvent;
  /** The task's `files`, already read from where its config came from (the run resolves them before any task). */
  readonly files: readonly TaskFile[];
  /** Hash of the config the task came from (JES labels Jobs with it). */
  readonly configHash: string;
  /** Aborted when the service stops; what the runner does then is its `onShutdown`. */
  readonly signal: AbortSignal;
  /** The task's own output, line by line: the run store and the answer's logs. */
  readonly onLog: (line: LogLine) => void;
  /**
   * The runner's notes about the task ("created Job …", "adopted Job …", "KEPTN_OUTPUT is not JSON"): the run
   * store and the service log, never the answer's `Logs:` (JES put only the task's output there).
   */
  readonly onNote: (text: string) => void;
  /** The local runner reports the task's process group as soon as it exists (the journal keeps it). */
  readonly onProcess?: (handle: ProcessHandle) => void;
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
  /** The tail of the task's own output, as the answer shows it (runner notes are not in it). */
  readonly logs: string;
  /** Bytes of the task's output before `logs` that were not kept (the answer's cut note counts them). */
  readonly droppedLogBytes?: number;
  /** `$KEPTN_OUTPUT`: a JSON object the task wrote, merged into the `.finished` data. */
  readonly output?: Readonly<Record<string, unknown>>;
}

/**
 * What a runner does with a running task when `signal` aborts (the service stops):
 * - `cancel`: the task is stopped and answered `cancelled` (local processes die with the service anyway);
 * - `detach`: the task goes on (a Kubernetes Job) and is answered `detached`; the run stays open and whoever
 *   takes its claim over after the restart adopts the task and answers.
 */
export type ShutdownBehaviour = 'cancel' | 'detach';

/** Runs one task to its end. Never throws for a task's own failure: that is a TaskResult. */
export interface Runner {
  readonly name: string;
  readonly onShutdown: ShutdownBehaviour;
  run(task: TaskSpec, ctx: TaskContext): Promise<TaskResult>;
  /**
   * After a crash: stops what is left of tasks the journal recorded (local process groups), so nothing the
   * service no longer follows runs on. A handle whose process is gone, or was reused by another, is skipped.
   */
  stopOrphans?(handles: readonly ProcessHandle[]): Promise<void>;
  close?(): Promise<void>;
}
