/**
 * The messages between the service (launcher.ts) and its launcher process (launcher-main.ts), over Node's IPC
 * channel with `serialization: 'advanced'` (Buffers cross as bytes). `id` names one task.
 */

export interface Workspace {
  /** The task's folder, removed after its exit unless `keep`. */
  readonly dir: string;
  /** `/keptn` of the task: its files go below it. */
  readonly keptnDir: string;
  /** `$KEPTN_OUTPUT`, read back after the exit. */
  readonly outputFile: string;
  readonly keep: boolean;
}

/** A piece of one task file; a big file comes in several, each after the previous one was written. */
export interface FilePart {
  /** Relative to `keptnDir`, already checked to stay below it. */
  readonly path: string;
  readonly data: Uint8Array;
  readonly append: boolean;
}

export type ToLauncher =
  /** Written below `workspace.keptnDir`; if that fails the folder is removed and the task is not started. */
  | { readonly kind: 'files'; readonly id: number; readonly workspace: Workspace; readonly parts: readonly FilePart[] }
  | {
      readonly kind: 'start';
      readonly id: number;
      readonly file: string;
      readonly args: readonly string[];
      readonly cwd: string;
      readonly env: Readonly<Record<string, string>>;
      readonly workspace: Workspace;
      /** Bytes of `$KEPTN_OUTPUT` read back; more fails the task. */
      readonly maxOutputBytes: number;
      /** After a `stop` (or when the service is gone), how long from SIGTERM to SIGKILL. */
      readonly graceMs: number;
      /** A cgroup (below the service's base) to make for the task and start it in; none: no containment. */
      readonly cgroup?: string;
    }
  /** Stop the task: SIGTERM to its group (and cgroup), SIGKILL after `graceMs`. */
  | { readonly kind: 'stop'; readonly id: number; readonly graceMs: number };

/** What became of `$KEPTN_OUTPUT`. */
export type OutputRead =
  | { readonly kind: 'none' }
  | { readonly kind: 'data'; readonly data: Uint8Array }
  | { readonly kind: 'too-big'; readonly limit: number }
  | { readonly kind: 'not-a-file' }
  | { readonly kind: 'error'; readonly message: string };

/** Why a task did not start: the step and the errno code, worded by the service. */
export interface StartFailure {
  readonly step: 'workspace' | 'cwd' | 'spawn';
  readonly code?: string;
  readonly message: string;
  /** For `cwd`: something is there, but not a folder. */
  readonly notADirectory?: boolean;
  /** For `spawn` ENOENT: the program itself exists (so its #! interpreter is what is missing). */
  readonly programExists?: boolean;
}

export type TaskEnd =
  | { readonly how: 'not-started'; readonly failure: StartFailure }
  | {
      readonly how: 'exited';
      readonly code: number | null;
      readonly signal: string | null;
      /** The launcher had signalled the task (a `stop`) before it exited. */
      readonly stopped: boolean;
      readonly output: OutputRead;
    };

export type FromLauncher =
  /** Sent once its message handler is in place: messages sent before that could be lost. */
  | { readonly kind: 'ready' }
  | { readonly kind: 'files-written'; readonly id: number }
  | { readonly kind: 'files-failed'; readonly id: number; readonly message: string }
  | {
      readonly kind: 'spawned';
      readonly id: number;
      readonly pid: number;
      /** /proc/<pid>/stat field 22, '' where there is no /proc. */
      readonly startTime: string;
      /** Why the task is not in its own cgroup, when one was asked for. */
      readonly uncontained?: string;
    }
  | { readonly kind: 'data'; readonly id: number; readonly stream: 'stdout' | 'stderr'; readonly data: Uint8Array }
  | { readonly kind: 'ended'; readonly id: number; readonly end: TaskEnd };

/**
 * Flow control, in bytes of one task's output: the launcher batches a stream's output up to DATA_BATCH_BYTES
 * per message and pauses the task's pipes while IN_FLIGHT_BYTES are written to the channel but not yet taken
 * by it (the task then blocks in write(2), as it would on a slow terminal). So a flood of output costs the
 * launcher at most this much memory per task, however slow the service is to read.
 */
export const DATA_BATCH_BYTES = 64 * 1024;
export const IN_FLIGHT_BYTES = 256 * 1024;
/** A file is sent in parts of this size, one after the other: the launcher holds one part per task. */
export const FILE_PART_BYTES = 1024 * 1024;
/**
 * After the task's main process exited and what it left in its group was killed, its pipes may still be held
 * by a process that escaped the group (no cgroup): they are closed when no output came for this long.
 */
export const DRAIN_IDLE_MS = 1000;
