import { EventEmitter } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { TaskFile } from '../../config/source.js';
import { JobExecutorError, errorMessage } from '../../errors.js';
import type { ProcessHandle } from '../runner.js';
import { killCgroup, tryRmdir } from './cgroup.js';
import {
  FILE_PART_BYTES,
  type FilePart,
  type FromLauncher,
  type TaskEnd,
  type ToLauncher,
  type Workspace,
} from './launcher-protocol.js';
import { launcherScript } from './launcher-script.js';
import { stopOrphanedGroups } from './orphans.js';

/**
 * Starting a process forks the process that starts it, and the cost grows with that process's memory (its
 * page tables are copied): measured here, a fork of the service took 10-15 ms of CPU against ~5 ms for a bare
 * Node process. So tasks are started by a small launcher process (launcher-main.ts: no express, no config, a
 * tiny heap), and only messages cross over.
 *
 * If the launcher dies anyway, the tasks it was following cannot be followed any more (their pipes went with
 * it): they are stopped by process group (and cgroup) and ended `lost`, and the next task starts a new one.
 */

export interface LaunchRequest {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly workspace: Workspace;
  /** Paths already checked to stay below `workspace.keptnDir`. */
  readonly files: readonly TaskFile[];
  readonly maxOutputBytes: number;
  readonly graceMs: number;
}

/** How a task ended, as the launcher saw it, or `lost` when the launcher died while it ran. */
export type LaunchEnd = TaskEnd | { readonly how: 'lost'; readonly reason: string };

export interface LaunchedTaskEvents {
  spawned: [ProcessHandle, string | undefined];
  data: ['stdout' | 'stderr', Uint8Array];
}

/** One task in a launcher: its output as events, its end as a promise. */
export class LaunchedTask extends EventEmitter<LaunchedTaskEvents> {
  handle: ProcessHandle | undefined;
  readonly ended: Promise<LaunchEnd>;
  resolveEnd!: (end: LaunchEnd) => void;
  filesWritten: ((error?: string) => void) | undefined;
  cgroup: string | undefined;

  constructor(
    readonly id: number,
    private readonly stopFn: (graceMs: number) => void,
  ) {
    super();
    this.ended = new Promise((resolve) => (this.resolveEnd = resolve));
  }

  /** SIGTERM now, SIGKILL after `graceMs` (by the launcher: it knows the process even before `spawned`). */
  stop(graceMs: number): void {
    this.stopFn(graceMs);
  }
}

interface Worker {
  readonly proc: ChildProcess;
  readonly tasks: Map<number, LaunchedTask>;
  /** False from the moment its exit is seen (before its tasks are ended): no task is given to it then. */
  alive: boolean;
}

export interface ProcessLauncherOptions {
  /** A cgroup v2 folder in which each task gets its own cgroup; none: tasks are not contained. */
  readonly cgroupBase?: () => string | undefined;
  /** For stopping the tasks of a launcher that died. */
  readonly graceMs: number;
  /** The launcher died: every task it followed has been stopped and ended; `why` is for the service log. */
  readonly onLost?: (why: string, tasks: number) => void;
}

export class ProcessLauncher {
  private worker: Promise<Worker> | undefined;
  /** The worker `worker` resolved to, while it lives. */
  private current: Worker | undefined;
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: ProcessLauncherOptions) {}

  /** The launcher's pid, once it runs (diagnostics and tests). */
  get pid(): number | undefined {
    return this.current?.proc.pid;
  }

  async launch(request: LaunchRequest): Promise<LaunchedTask> {
    if (this.closed) throw new JobExecutorError('LAUNCHER_ERROR', 'the process launcher is closed');
    let worker = await this.ensureWorker();
    // It may have died between its start and now: then a new one.
    if (!worker.alive) worker = await this.ensureWorker();
    if (!worker.alive) throw new JobExecutorError('LAUNCHER_ERROR', 'the process launcher exited at its start');
    const id = this.nextId++;
    const send = (m: ToLauncher) => this.send(worker, m);
    const task = new LaunchedTask(id, (graceMs) => send({ kind: 'stop', id, graceMs }));
    const base = this.options.cgroupBase?.();
    if (base) task.cgroup = path.join(base, `task-${id}`);
    worker.tasks.set(id, task);
    this.ref(worker.proc);
    void this.deliver(worker, task, request);
    return task;
  }

  /** Files in parts, each after the one before was written (the launcher holds one part), then the start. */
  private async deliver(worker: Worker, task: LaunchedTask, r: LaunchRequest): Promise<void> {
    for (const parts of fileBatches(r.files)) {
      const error = await new Promise<string | undefined>((resolve) => {
        task.filesWritten = resolve;
        this.send(worker, { kind: 'files', id: task.id, workspace: r.workspace, parts });
      });
      task.filesWritten = undefined;
      if (!worker.tasks.has(task.id)) return; // the launcher died meanwhile: the task is ended already
      if (error !== undefined) {
        this.end(worker, task, {
          how: 'not-started',
          failure: { step: 'workspace', message: `could not write the task's files: ${error}` },
        });
        return;
      }
    }
    this.send(worker, {
      kind: 'start',
      id: task.id,
      file: r.file,
      args: r.args,
      cwd: r.cwd,
      env: r.env,
      workspace: r.workspace,
      maxOutputBytes: r.maxOutputBytes,
      graceMs: r.graceMs,
      ...(task.cgroup ? { cgroup: task.cgroup } : {}),
    });
  }

  private send(worker: Worker, message: ToLauncher): void {
    if (!worker.proc.connected) return; // its exit ends the task
    worker.proc.send(message, (e) => {
      // A failed send means the channel broke: the launcher's exit follows and ends the task.
      if (e) worker.proc.kill('SIGKILL');
    });
  }

  private ensureWorker(): Promise<Worker> {
    this.worker ??= this.startWorker().catch((e: unknown) => {
      this.worker = undefined;
      throw new JobExecutorError('LAUNCHER_ERROR', `could not start the process launcher: ${errorMessage(e)}`, {
        cause: e,
      });
    });
    return this.worker;
  }

  private async startWorker(): Promise<Worker> {
    const script = await launcherScript();
    const proc = spawn(process.execPath, ['--max-old-space-size=32', '--max-semi-space-size=1', script], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // Buffers (files, output) cross as bytes.
      serialization: 'advanced',
      env: { PATH: process.env.PATH ?? '' },
    });
    // Tasks are batch work: the launcher and everything it starts run at a lower CPU priority, so that taking
    // events in and answering them stays quick while tasks keep the machine busy (measured: p99 `.started`
    // latency at 200 events/s of trivial tasks).
    if (proc.pid !== undefined) {
      try {
        os.setPriority(proc.pid, 10);
      } catch {
        /* not permitted: run at the same priority */
      }
    }
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    const worker: Worker = { proc, tasks: new Map(), alive: true };
    proc.on('message', (m: FromLauncher) => (m.kind === 'ready' ? onReady() : this.receive(worker, m)));
    const lost = (why: string) => {
      if (!worker.alive) return;
      worker.alive = false;
      if (this.current === worker) {
        this.current = undefined;
        this.worker = undefined;
      }
      onFail(new JobExecutorError('LAUNCHER_ERROR', why));
      void this.lost(worker, why);
    };
    proc.on('error', (e) => lost(e.message));
    proc.on('exit', (code, signal) => lost(signal ? `signal ${signal}` : `exit code ${code}`));
    await ready;
    this.current = worker;
    return worker;
  }

  private receive(worker: Worker, m: Exclude<FromLauncher, { kind: 'ready' }>): void {
    const task = worker.tasks.get(m.id);
    if (!task) return;
    switch (m.kind) {
      case 'files-written':
        task.filesWritten?.();
        break;
      case 'files-failed':
        task.filesWritten?.(m.message);
        break;
      case 'spawned':
        task.handle = { pgid: m.pid, startTime: m.startTime };
        task.emit('spawned', task.handle, m.uncontained);
        break;
      case 'data':
        task.emit('data', m.stream, m.data);
        break;
      case 'ended':
        this.end(worker, task, m.end);
        break;
    }
  }

  private end(worker: Worker, task: LaunchedTask, end: LaunchEnd): void {
    if (!worker.tasks.delete(task.id)) return;
    task.resolveEnd(end);
    if (worker.tasks.size === 0) this.unref(worker.proc);
  }

  /**
   * The launcher is gone with the pipes of its tasks. Each task is stopped (its cgroup killed at once, where
   * it has one; its group TERM, then KILL) and ended with a reason naming the launcher; nothing else is
   * touched, and the next launch starts a new launcher.
   */
  private async lost(worker: Worker, why: string): Promise<void> {
    const tasks = [...worker.tasks.values()];
    if (tasks.length === 0) return;
    for (const t of tasks) {
      t.filesWritten?.('the process launcher died');
      if (t.cgroup) killCgroup(t.cgroup);
    }
    const handles = tasks.flatMap((t) => (t.handle ? [t.handle] : []));
    await stopOrphanedGroups(handles, { graceMs: this.options.graceMs });
    for (const t of tasks) if (t.cgroup) tryRmdir(t.cgroup);
    const pid = worker.proc.pid === undefined ? '' : ` (pid ${worker.proc.pid})`;
    const reason = this.closed
      ? 'the service stopped while the task ran; its processes were stopped'
      : `the local runner's process launcher${pid} died (${why}) while the task ran; the task's processes were stopped`;
    for (const t of tasks) this.end(worker, t, { how: 'lost', reason });
    this.options.onLost?.(why, tasks.length);
  }

  /** An idle launcher must not keep the service alive; a busy one must. */
  private ref(proc: ChildProcess): void {
    proc.ref();
    proc.channel?.ref();
  }

  private unref(proc: ChildProcess): void {
    proc.unref();
    proc.channel?.unref();
  }

  /**
   * Closes the channel: the launcher stops the tasks still running (SIGTERM, SIGKILL after their grace) and
   * exits. Waits for that, and kills it if it takes longer than the grace and a margin.
   */
  async close(): Promise<void> {
    this.closed = true;
    const worker = await this.worker?.catch(() => undefined);
    this.worker = undefined;
    if (!worker?.alive) return;
    const exited = new Promise((r) => worker.proc.once('exit', r));
    worker.proc.ref(); // so that waiting for its exit keeps the event loop alive
    if (worker.proc.connected) worker.proc.disconnect();
    const timer = setTimeout(() => worker.proc.kill('SIGKILL'), this.options.graceMs + 3000);
    await exited;
    clearTimeout(timer);
  }
}

/** The files as messages of about FILE_PART_BYTES each: small files together, big ones in parts. */
export function fileBatches(files: readonly TaskFile[]): FilePart[][] {
  const batches: FilePart[][] = [];
  let current: FilePart[] = [];
  let size = 0;
  const push = (part: FilePart) => {
    if (size > 0 && size + part.data.length > FILE_PART_BYTES) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(part);
    size += part.data.length;
  };
  for (const f of files) {
    if (f.content.length === 0) push({ path: f.path, data: f.content, append: false });
    for (let at = 0; at < f.content.length; at += FILE_PART_BYTES) {
      push({ path: f.path, data: f.content.subarray(at, at + FILE_PART_BYTES), append: at > 0 });
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
