import { EventEmitter } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';

/**
 * Starting a process forks the process that starts it, and the cost grows with that process's memory (its
 * page tables are copied): measured here, a fork of the service took 10-15 ms of CPU against ~5 ms for a bare
 * Node process. So tasks are started by a small launcher process (no express, no config, a tiny heap), and
 * only messages cross over. Killing needs no launcher: it is by process group id.
 */

export interface LaunchRequest {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /**
   * The task's folder, made by the launcher before the start (with `files` below `keptnDir`) and removed after
   * the exit unless `keep`; the launcher also reads `outputFile` back. All of this file work happens in the
   * launcher, so the service's own thread spends no time on it.
   */
  readonly workspace: {
    readonly dir: string;
    readonly keptnDir: string;
    readonly files: ReadonlyArray<{ readonly path: string; readonly content: Buffer }>;
    readonly outputFile: string;
    readonly keep: boolean;
  };
}

type FromWorker =
  | { id: number; kind: 'spawn'; pid: number }
  | { id: number; kind: 'data'; stream: 'stdout' | 'stderr'; text: string }
  | { id: number; kind: 'error'; code?: string; message: string }
  | { id: number; kind: 'close'; code: number | null; signal: string | null; output?: string };

export interface LaunchedProcessEvents {
  spawn: [number];
  data: ['stdout' | 'stderr', string];
  error: [{ code?: string; message: string }];
  /** Exit code, signal, and what the task wrote to its output file (if anything). */
  close: [number | null, string | null, string | undefined];
}

/** A child process started on the launcher thread. `pid` is set once `spawn` fired. */
export class LaunchedProcess extends EventEmitter<LaunchedProcessEvents> {
  pid: number | undefined;
}

// CommonJS run with `node -e`, so it works the same from the built package and from the TypeScript sources.
const LAUNCHER_SOURCE = `
const { spawn } = require('node:child_process');
const fs = require('node:fs/promises');
const path = require('node:path');
const send = (m) => process.send(m);
process.on('disconnect', () => process.exit(0));
async function finish(id, workspace, code, signal) {
  let output;
  try { output = await fs.readFile(workspace.outputFile, 'utf8'); } catch {}
  if (!workspace.keep) {
    await fs.rm(workspace.dir, { recursive: true, force: true }).catch(() => {});
    // The run's folder goes with its last task (it fails harmlessly while another task of the run is there).
    await fs.rmdir(path.dirname(workspace.dir)).catch(() => {});
  }
  send({ id, kind: 'close', code, signal, output });
}
process.on('message', async ({ id, file, args, cwd, env, workspace }) => {
  try {
    await fs.mkdir(workspace.keptnDir, { recursive: true, mode: 0o700 });
    for (const f of workspace.files) {
      const target = path.join(workspace.keptnDir, f.path);
      await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await fs.writeFile(target, Buffer.from(f.content), { mode: 0o600 });
    }
  } catch (e) {
    send({ id, kind: 'error', code: 'WORKSPACE', message: 'could not prepare the task folder: ' + e.message });
    return finish(id, workspace, null, null);
  }
  let child;
  try {
    child = spawn(file, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    send({ id, kind: 'error', code: e.code, message: e.message });
    return finish(id, workspace, null, null);
  }
  child.on('spawn', () => send({ id, kind: 'spawn', pid: child.pid }));
  for (const stream of ['stdout', 'stderr']) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (text) => send({ id, kind: 'data', stream, text }));
  }
  child.on('error', (e) => send({ id, kind: 'error', code: e.code, message: e.message }));
  child.on('close', (code, signal) => finish(id, workspace, code, signal));
});
`;

export class ProcessLauncher {
  private worker: ChildProcess | undefined;
  private readonly running = new Map<number, LaunchedProcess>();
  private nextId = 1;

  private ensureWorker(): ChildProcess {
    if (this.worker) return this.worker;
    const worker = spawn(process.execPath, ['--max-old-space-size=32', '--max-semi-space-size=1', '-e', LAUNCHER_SOURCE], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // Buffers (task files) cross as they are.
      serialization: 'advanced',
      env: { PATH: process.env.PATH ?? '' },
    });
    // Tasks are batch work: the launcher and everything it starts run at a lower CPU priority, so that taking
    // events in and answering them stays quick while tasks keep the machine busy (measured: p99 `.started`
    // latency at 200 events/s of trivial tasks).
    if (worker.pid !== undefined) {
      try {
        os.setPriority(worker.pid, 10);
      } catch {
        /* not permitted: run at the same priority */
      }
    }
    worker.on('message', (m: FromWorker) => {
      const p = this.running.get(m.id);
      if (!p) return;
      switch (m.kind) {
        case 'spawn':
          p.pid = m.pid;
          p.emit('spawn', m.pid);
          break;
        case 'data':
          p.emit('data', m.stream, m.text);
          break;
        case 'error':
          p.emit('error', { ...(m.code ? { code: m.code } : {}), message: m.message });
          break;
        case 'close':
          this.running.delete(m.id);
          p.emit('close', m.code, m.signal, m.output);
          if (this.running.size === 0) this.unref(worker);
          break;
      }
    });
    const lost = (why: string) => {
      // The launcher itself is gone: every process it was following is reported closed, so no task hangs.
      for (const [id, p] of this.running) {
        p.emit('error', { message: `process launcher failed: ${why}` });
        p.emit('close', null, null, undefined);
        this.running.delete(id);
      }
      if (this.worker === worker) this.worker = undefined;
    };
    worker.on('error', (e) => lost(e.message));
    worker.on('exit', (code, signal) => lost(`it exited (${signal ?? `code ${code}`})`));
    this.worker = worker;
    return worker;
  }

  launch(request: LaunchRequest): LaunchedProcess {
    const id = this.nextId++;
    const p = new LaunchedProcess();
    this.running.set(id, p);
    const worker = this.ensureWorker();
    this.ref(worker);
    worker.send({ id, ...request });
    return p;
  }

  /** An idle launcher must not keep the service alive; a busy one must. */
  private ref(worker: ChildProcess): void {
    worker.ref();
    worker.channel?.ref();
  }

  private unref(worker: ChildProcess): void {
    worker.unref();
    worker.channel?.unref();
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w && w.exitCode === null) {
      const exited = new Promise((r) => w.once('exit', r));
      w.ref(); // so that waiting for its exit keeps the event loop alive
      w.disconnect();
      await exited;
    }
  }
}
