/**
 * The launcher process: started by the service (launcher.ts) with an IPC channel, it starts the local tasks,
 * relays their output and reports their end. It exists because a fork costs in proportion to the memory of
 * the process that forks, and this one is small (see launcher.ts).
 *
 * One launcher serves every task of a service, so nothing one task does may end it or starve the others:
 * output is relayed in bounded batches with the task's pipes paused while the channel is behind, files arrive
 * in bounded parts, `$KEPTN_OUTPUT` is read up to its limit and no further, and every step of a task is
 * caught and reported as that task's failure. When the service goes away (its channel closes) the tasks are
 * stopped before the launcher exits.
 *
 * Imports only node: and files that do the same, so it runs from the TypeScript sources too (launcher-script.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, mkdirSync, type Stats } from 'node:fs';
import { access, appendFile, mkdir, open, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cgroupPopulated, enterCgroup, killCgroup, ownCgroupDir, signalCgroup, tryRmdir } from './cgroup.js';
import {
  DATA_BATCH_BYTES,
  DRAIN_IDLE_MS,
  IN_FLIGHT_BYTES,
  type FromLauncher,
  type OutputRead,
  type StartFailure,
  type TaskEnd,
  type ToLauncher,
} from './launcher-protocol.js';
import { readProcStat } from './proc-stat.js';
import { readAtMost } from '../../util/read-bounded.js';
import { setTimeout as delay } from 'node:timers/promises';

type StartMessage = Extract<ToLauncher, { kind: 'start' }>;
type Stream = 'stdout' | 'stderr';

/** Where the launcher goes back to after starting a task inside the task's cgroup. */
const homeCgroup = ownCgroupDir();

function send(message: FromLauncher, done?: () => void): void {
  if (!process.connected || !process.send) {
    done?.();
    return;
  }
  process.send(message, undefined, undefined, () => done?.());
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group is gone */
  }
}

class Task {
  child: ChildProcess | undefined;
  pgid: number | undefined;
  cgroup: string | undefined;
  /** A `stop` came (or the service went away): signals were sent, or will be once the process is up. */
  stopped = false;
  exit: { code: number | null; signal: string | null } | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private paused = false;
  private readonly batch: Record<Stream, Buffer[]> = { stdout: [], stderr: [] };
  private readonly batchBytes: Record<Stream, number> = { stdout: 0, stderr: 0 };
  private flushQueued = false;

  constructor(
    readonly id: number,
    readonly request: StartMessage,
  ) {}

  output(stream: Stream, chunk: Buffer): void {
    this.batch[stream].push(chunk);
    this.batchBytes[stream] += chunk.length;
    if (this.batchBytes[stream] >= DATA_BATCH_BYTES) this.flush(stream);
    else if (!this.flushQueued) {
      // Many small writes become one message: per-message cost, not per-write cost.
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        this.flushAll();
      });
    }
    this.armDrain();
  }

  flushAll(): void {
    this.flush('stdout');
    this.flush('stderr');
  }

  private flush(stream: Stream): void {
    const pieces = this.batch[stream];
    if (pieces.length === 0) return;
    const data = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
    this.batch[stream] = [];
    this.batchBytes[stream] = 0;
    this.inFlight += data.length;
    send({ kind: 'data', id: this.id, stream, data }, () => {
      this.inFlight -= data.length;
      if (this.paused && this.inFlight < IN_FLIGHT_BYTES) this.setPaused(false);
    });
    if (!this.paused && this.inFlight >= IN_FLIGHT_BYTES) this.setPaused(true);
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    const { stdout, stderr } = this.child ?? {};
    if (paused) {
      stdout?.pause();
      stderr?.pause();
      if (this.drainTimer) clearTimeout(this.drainTimer);
    } else {
      stdout?.resume();
      stderr?.resume();
      this.armDrain();
    }
  }

  /** After the exit: pipes still open with no output for DRAIN_IDLE_MS are held by an escaped process. */
  armDrain(): void {
    if (!this.exit || this.paused) return;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => {
      this.child?.stdout?.destroy();
      this.child?.stderr?.destroy();
    }, DRAIN_IDLE_MS);
  }

  stop(graceMs: number): void {
    if (this.stopped || this.exit) return;
    this.stopped = true;
    if (this.pgid === undefined) return; // not started yet: it will not be
    signalGroup(this.pgid, 'SIGTERM');
    if (this.cgroup) signalCgroup(this.cgroup, 'SIGTERM');
    this.killTimer = setTimeout(() => this.killAll(), graceMs);
  }

  /** Everything of the task: its group, and its cgroup where it has one (which also holds escaped processes). */
  killAll(): void {
    if (this.pgid !== undefined) signalGroup(this.pgid, 'SIGKILL');
    if (this.cgroup) killCgroup(this.cgroup);
  }

  clearTimers(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
  }
}

const tasks = new Map<number, Task>();

async function writeFiles(message: Extract<ToLauncher, { kind: 'files' }>): Promise<void> {
  const { keptnDir } = message.workspace;
  try {
    await mkdir(keptnDir, { recursive: true, mode: 0o700 });
    for (const part of message.parts) {
      const target = path.resolve(keptnDir, part.path);
      // Checked by the service already; a path that leaves the folder is never written.
      if (!target.startsWith(keptnDir + path.sep)) throw new Error(`${part.path} is not below the task folder`);
      await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      if (part.append) await appendFile(target, part.data);
      else await writeFile(target, part.data, { mode: 0o600 });
    }
    send({ kind: 'files-written', id: message.id });
  } catch (e) {
    // The task will not start: its folder goes now.
    if (!message.workspace.keep)
      await rm(message.workspace.dir, { recursive: true, force: true }).catch(() => undefined);
    send({ kind: 'files-failed', id: message.id, message: messageOf(e) });
  }
}

/** Whether the working folder is usable, checked first so a missing one is not reported as a missing program. */
async function checkCwd(cwd: string): Promise<StartFailure | undefined> {
  let st: Stats;
  try {
    st = await stat(cwd);
  } catch (e) {
    return { step: 'cwd', code: errno(e) ?? 'unknown', message: messageOf(e) };
  }
  if (!st.isDirectory()) return { step: 'cwd', code: 'ENOTDIR', message: 'not a directory', notADirectory: true };
  try {
    await access(cwd, fsConstants.X_OK);
  } catch (e) {
    return { step: 'cwd', code: errno(e) ?? 'unknown', message: messageOf(e) };
  }
  return undefined;
}

/** For ENOENT: is the program there (then its #! interpreter is missing)? */
async function programExists(file: string, cwd: string, env: Readonly<Record<string, string>>): Promise<boolean> {
  const candidates = file.includes('/')
    ? [path.resolve(cwd, file)]
    : (env.PATH ?? '').split(':').map((d) => path.resolve(cwd, d || '.', file));
  for (const c of candidates) {
    try {
      if ((await stat(c)).isFile()) return true;
    } catch {
      /* not there */
    }
  }
  return false;
}

/**
 * Starts the child inside the task's cgroup: the launcher steps into it, forks, and steps back, all
 * synchronously, so the task never runs outside it and no other task starts in between.
 */
function spawnContained(task: Task): { child: ChildProcess; uncontained?: string } {
  const r = task.request;
  let uncontained: string | undefined;
  let entered = false;
  if (r.cgroup) {
    try {
      tryRmdir(r.cgroup);
      mkdirSync(r.cgroup);
      task.cgroup = r.cgroup; // removed at the end, whatever happens next
      if (homeCgroup === undefined) throw new Error('the launcher cannot tell its own cgroup');
      enterCgroup(r.cgroup);
      entered = true;
    } catch (e) {
      uncontained = `could not use cgroup ${r.cgroup}: ${errno(e) ?? messageOf(e)}`;
    }
  }
  try {
    const child = spawn(r.file, [...r.args], {
      cwd: r.cwd,
      env: { ...r.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return uncontained === undefined ? { child } : { child, uncontained };
  } finally {
    if (entered && homeCgroup !== undefined) {
      try {
        enterCgroup(homeCgroup);
      } catch (e) {
        // Left inside a task's cgroup, the launcher would die with that task: better to go now, visibly, and
        // let the service start a fresh one.
        process.stderr.write(`job-executor launcher: could not leave cgroup ${r.cgroup}: ${messageOf(e)}\n`);
        process.exit(70);
      }
    }
  }
}

async function start(message: StartMessage): Promise<void> {
  const task = new Task(message.id, message);
  tasks.set(message.id, task);
  try {
    await mkdir(message.workspace.keptnDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    return finish(task, { how: 'not-started', failure: { step: 'workspace', code: errno(e), message: messageOf(e) } });
  }
  const cwdProblem = await checkCwd(message.cwd);
  if (cwdProblem) return finish(task, { how: 'not-started', failure: cwdProblem });
  if (task.stopped)
    return finish(task, { how: 'exited', code: null, signal: null, stopped: true, output: { kind: 'none' } });

  let started: ReturnType<typeof spawnContained>;
  try {
    started = spawnContained(task);
  } catch (e) {
    // Invalid arguments (a NUL byte in an argument or a variable) throw here instead of failing the exec.
    return finish(task, { how: 'not-started', failure: { step: 'spawn', code: errno(e), message: messageOf(e) } });
  }
  const child = started.child;
  task.child = child;
  if (child.pid === undefined) {
    child.once('error', (e) => {
      void (async () => {
        const code = errno(e);
        const exists = code === 'ENOENT' ? await programExists(message.file, message.cwd, message.env) : undefined;
        const failure: StartFailure = {
          step: 'spawn',
          code,
          message: messageOf(e),
          ...(exists === undefined ? {} : { programExists: exists }),
        };
        await finish(task, { how: 'not-started', failure });
      })();
    });
    return;
  }
  // Detached: the child leads a new process group, so pgid = pid.
  task.pgid = child.pid;
  const startTime = readProcStat(child.pid)?.startTime ?? '';
  send({
    kind: 'spawned',
    id: task.id,
    pid: child.pid,
    startTime,
    ...(started.uncontained ? { uncontained: started.uncontained } : {}),
  });
  child.stdout?.on('data', (chunk: Buffer) => task.output('stdout', chunk));
  child.stderr?.on('data', (chunk: Buffer) => task.output('stderr', chunk));
  child.on('error', () => {
    /* after the start, only a failed kill; the exit is still reported */
  });
  child.on('exit', (code, signal) => {
    task.exit = { code, signal };
    // As when a Pod's container ends: whatever the task left running is stopped with it, at once (and the
    // pending SIGKILL of a stop is dropped: later, the group's number may belong to someone else).
    task.clearTimers();
    task.killAll();
    task.armDrain();
  });
  child.on('close', () => {
    task.flushAll();
    const exit = task.exit ?? { code: null, signal: null };
    void readOutput(message.workspace.outputFile, message.maxOutputBytes).then((output) =>
      finish(task, { how: 'exited', code: exit.code, signal: exit.signal, stopped: task.stopped, output }),
    );
  });
}

/** `$KEPTN_OUTPUT`, up to `limit` bytes: never more is read, and a FIFO or device there does not block. */
async function readOutput(file: string, limit: number): Promise<OutputRead> {
  let handle;
  try {
    handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    return errno(e) === 'ENOENT' ? { kind: 'none' } : { kind: 'error', message: messageOf(e) };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { kind: 'not-a-file' };
    if (st.size > limit) return { kind: 'too-big', limit };
    const data = await readAtMost(handle, limit + 1);
    if (data.length > limit) return { kind: 'too-big', limit };
    return data.length === 0 ? { kind: 'none' } : { kind: 'data', data };
  } catch (e) {
    return { kind: 'error', message: messageOf(e) };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function removeCgroup(dir: string): Promise<void> {
  // Killed processes take a moment to leave; give up after a second (the next start of a task reuses nothing).
  for (let i = 0; i < 50 && cgroupPopulated(dir); i++) await delay(20);
  tryRmdir(dir);
}

async function finish(task: Task, end: TaskEnd): Promise<void> {
  task.clearTimers();
  const { workspace } = task.request;
  if (task.cgroup) await removeCgroup(task.cgroup);
  if (!workspace.keep) {
    await rm(workspace.dir, { recursive: true, force: true }).catch(() => undefined);
    // The run's folder goes with its last task (it fails harmlessly while another task of the run is there).
    await rmdir(path.dirname(workspace.dir)).catch(() => undefined);
  }
  tasks.delete(task.id);
  send({ kind: 'ended', id: task.id, end });
  if (!process.connected && tasks.size === 0) process.exit(0);
}

process.on('message', (message: ToLauncher) => {
  switch (message.kind) {
    case 'files':
      void writeFiles(message);
      break;
    case 'start':
      start(message).catch((e: unknown) => {
        const task = tasks.get(message.id) ?? new Task(message.id, message);
        void finish(task, { how: 'not-started', failure: { step: 'spawn', message: messageOf(e) } });
      });
      break;
    case 'stop':
      tasks.get(message.id)?.stop(message.graceMs);
      break;
  }
});

// The service is gone (it stopped or died): its tasks die with it, as the local runner promises.
process.on('disconnect', () => {
  if (tasks.size === 0) process.exit(0);
  let longest = 0;
  for (const task of tasks.values()) {
    task.stop(task.request.graceMs);
    longest = Math.max(longest, task.request.graceMs);
  }
  setTimeout(() => process.exit(0), longest + 2000).unref();
});

send({ kind: 'ready' });
