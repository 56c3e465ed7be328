import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import type { TaskFile } from '../../config/source.js';
import { JobExecutorError, errorMessage } from '../../errors.js';
import { expandVars } from '../../render/expand.js';
import type { TaskSpec } from '../../render/task-spec.js';
import type { ProcessHandle, Runner, TaskContext, TaskResult } from '../runner.js';
import { TaskLog } from '../task-log.js';
import { cleanStaleBases, makeCgroupBase, ownCgroupDir, tryRmdir } from './cgroup.js';
import { ProcessLauncher, type LaunchEnd, type LaunchRequest } from './launcher.js';
import { stopOrphanedGroups } from './orphans.js';
import { readProcStat } from './proc-stat.js';
import type { DirectorySecretStore } from './secrets.js';
import { decideEnd } from './task-end.js';

export interface LocalRunnerOptions {
  /** Per-run directories are made below it and removed after the run unless `keepWorkDirs`. */
  readonly workDir: string;
  readonly secrets: DirectorySecretStore;
  /** Variables of the service's own environment a task inherits (PATH and friends; never tokens). */
  readonly passEnv: readonly string[];
  /** Bytes of a task's output kept for its answer (the tail). */
  readonly maxLogBytes: number;
  /** After SIGTERM, how long before SIGKILL. */
  readonly killGraceMs: number;
  readonly keepWorkDirs: boolean;
  readonly logger: Logger;
  /** Bytes of `$KEPTN_OUTPUT` read; a task that writes more fails. Default DEFAULT_MAX_OUTPUT_BYTES. */
  readonly maxOutputBytes?: number;
  /**
   * Containment in cgroup v2: `auto` (default) makes a cgroup per task below the service's own cgroup where
   * it may, `off` never does, a path names the cgroup folder to make them below.
   */
  readonly cgroup?: string;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
const OUTPUT_SETTING = 'JOB_LOCAL_MAX_OUTPUT_BYTES';
const CGROUP_PREFIX = 'job-executor';
let baseCounter = 0;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Replaces the `/keptn` path prefix (as a whole path, not `/keptnfoo` or `http://keptn.x`) with the task's folder. */
export function mapKeptnPaths(text: string, keptnDir: string): string {
  return text.replace(/(^|[\s='"(,:])\/keptn(?=\/|$|[\s'"),;:])/g, (_m, pre: string) => `${pre}${keptnDir}`);
}

function safeSegment(value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80) || 'run';
}

/** The task's files, each checked to land below its folder (a path from a config is never trusted). */
function checkFiles(files: readonly TaskFile[], keptnDir: string, task: TaskSpec): TaskFile[] {
  for (const f of files) {
    const target = path.resolve(keptnDir, f.path);
    if (f.path === '' || path.isAbsolute(f.path) || !target.startsWith(keptnDir + path.sep)) {
      throw new JobExecutorError(
        'TASK_START_FAILED',
        `files of task ${task.name}: "${f.path}" is not a path below /keptn`,
      );
    }
  }
  return [...files];
}

/** Where task cgroups go, or why there are none. */
function containment(setting: string, logger: Logger): string | undefined {
  if (setting === 'off') return undefined;
  const parent = setting === 'auto' ? ownCgroupDir() : setting;
  if (parent !== undefined) cleanStaleBases(parent, CGROUP_PREFIX, (pid) => readProcStat(pid) !== undefined);
  const probe = makeCgroupBase(`${CGROUP_PREFIX}-${process.pid}-${++baseCounter}`, parent);
  if (probe.ok) return probe.dir;
  const message = `local tasks are not contained in cgroups (${probe.why}): a process that leaves its task's process group (setsid) is not stopped with the task`;
  if (setting === 'auto') logger.info(message);
  else logger.warn(message);
  return undefined;
}

/**
 * The embedded default: each task is a child process, started without a shell, in its own process group (and,
 * where cgroup v2 allows, its own cgroup) so that a timeout, a cancel or the task's end stops everything it
 * started. Images are not pulled; only the allow-list applies to them. Tasks die with the service.
 */
export class LocalRunner implements Runner {
  readonly name = 'local';
  private saidNoPull = false;
  readonly onShutdown = 'cancel' as const;
  private readonly launcher: ProcessLauncher;
  private readonly maxOutputBytes: number;
  private base: { dir: string | undefined } | undefined;

  constructor(private readonly options: LocalRunnerOptions) {
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.launcher = new ProcessLauncher({
      graceMs: options.killGraceMs,
      cgroupBase: () => this.cgroupBase,
      onLost: (why, tasks) =>
        options.logger.error({ why, tasks }, 'the process launcher died; its tasks were stopped and failed'),
    });
  }

  /** The cgroup folder below which each task gets one (made at the first task); undefined: not contained. */
  get cgroupBase(): string | undefined {
    this.base ??= { dir: containment(this.options.cgroup ?? 'auto', this.options.logger) };
    return this.base.dir;
  }

  /**
   * After a crash: stops the process groups the journal kept (only where the leader is still the process that
   * was started) and, where tasks ran in cgroups, every process left in the cgroups of services that are gone.
   */
  async stopOrphans(handles: readonly ProcessHandle[]): Promise<void> {
    void this.cgroupBase; // its first use cleans the cgroups of dead services up
    const { stopped, gone } = await stopOrphanedGroups(handles, { graceMs: this.options.killGraceMs });
    if (stopped.length > 0)
      this.options.logger.warn({ stopped, gone }, 'stopped the process groups of tasks left by a crash');
  }

  /** The launcher process's pid while it runs (diagnostics). */
  get launcherPid(): number | undefined {
    return this.launcher.pid;
  }

  async run(task: TaskSpec, ctx: TaskContext): Promise<TaskResult> {
    const log = new TaskLog({ maxBytes: this.options.maxLogBytes, onLine: ctx.onLog });
    if (!this.saidNoPull) {
      // Once per process, in the service log: a line in every task's log would only repeat it.
      this.saidNoPull = true;
      this.options.logger.info(
        'the local runner does not pull or run images: each task runs its cmd as a local process; images are only checked against the allow-list',
      );
    }
    const taskDir = path.join(
      this.options.workDir,
      safeSegment(ctx.runId),
      `${String(task.actionIndex).padStart(3, '0')}-${String(task.taskIndex + 1).padStart(3, '0')}`,
    );
    const keptnDir = path.join(taskDir, 'keptn');
    const outputFile = path.join(taskDir, 'keptn-output.json');
    let request: LaunchRequest;
    try {
      if (task.cmd.length === 0) {
        throw new JobExecutorError(
          'TASK_START_FAILED',
          `actions[${task.actionIndex}].tasks[${task.taskIndex}].cmd: required by the local runner (it cannot use an image's entrypoint)`,
        );
      }
      const env = await this.environment(task, keptnDir, outputFile);
      const lookup = (n: string) => env.get(n);
      const [file, ...args] = [...task.cmd, ...task.args].map((a) =>
        mapKeptnPaths(expandVars(a, lookup), keptnDir),
      ) as [string, ...string[]];
      request = {
        file,
        args,
        // Taken as written (Kubernetes does not expand $(VAR) in workingDir either); only /keptn is mapped.
        cwd: task.workingDir ? path.resolve(keptnDir, mapKeptnPaths(task.workingDir, keptnDir)) : keptnDir,
        env: Object.fromEntries(env),
        workspace: { dir: taskDir, keptnDir, outputFile, keep: this.options.keepWorkDirs },
        files: checkFiles(ctx.files, keptnDir, task),
        maxOutputBytes: this.maxOutputBytes,
        graceMs: this.options.killGraceMs,
      };
    } catch (e) {
      return this.failed(errorMessage(e), log, ctx);
    }
    let ran: { end: LaunchEnd; stoppedFor?: 'timeout' | 'cancelled' };
    try {
      ran = await this.execute(request, task, ctx, log);
    } catch (e) {
      return this.failed(errorMessage(e), log, ctx);
    }
    const decided = decideEnd(ran.end, {
      file: request.file,
      ...(task.workingDir ? { workingDir: task.workingDir } : {}),
      maxPollDuration: task.maxPollDuration,
      ...(ran.stoppedFor ? { stoppedFor: ran.stoppedFor } : {}),
      maxOutputBytes: this.maxOutputBytes,
      outputSetting: OUTPUT_SETTING,
    });
    for (const note of decided.notes) ctx.onNote(note);
    const { notes: _notes, ...result } = decided;
    return { ...result, ...log.result() };
  }

  /** The reason is the result's, shown with the task's end: not repeated as a note. */
  private failed(reason: string, log: TaskLog, _ctx: TaskContext): TaskResult {
    return { outcome: 'failed', reason, ...log.result() };
  }

  /**
   * Kubernetes order: Secret keys (envFrom) first, taken as they are (Kubernetes expands no `$(VAR)` in them),
   * then `env` in order, each value expanding the variables defined before it.
   */
  private async environment(task: TaskSpec, keptnDir: string, outputFile: string): Promise<Map<string, string>> {
    const fromSecrets: Array<[string, string]> = [];
    const values: Array<[string, string]> = [];
    for (const e of task.env) {
      if (e.kind === 'secret') fromSecrets.push(...(await this.options.secrets.read(e.secretName)));
      else values.push([e.name, mapKeptnPaths(e.value, keptnDir)]);
    }
    const env = new Map<string, string>(fromSecrets);
    for (const [name, value] of [...values, ['KEPTN_OUTPUT', outputFile] as const])
      env.set(
        name,
        expandVars(value, (n) => env.get(n)),
      );
    const base = new Map<string, string>();
    for (const name of this.options.passEnv) {
      const v = process.env[name];
      if (v !== undefined) base.set(name, v);
    }
    return new Map([...base, ...env]);
  }

  /** Starts the task, relays its output into the log, stops it at its deadline or on cancel, waits for its end. */
  private async execute(
    request: LaunchRequest,
    task: TaskSpec,
    ctx: TaskContext,
    log: TaskLog,
  ): Promise<{ end: LaunchEnd; stoppedFor?: 'timeout' | 'cancelled' }> {
    const launched = await this.launcher.launch(request);
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    launched.on('data', (stream, data) =>
      log.write(stream, decoders[stream].write(Buffer.from(data.buffer, data.byteOffset, data.byteLength))),
    );
    launched.on('spawned', (handle, uncontained) => {
      ctx.onProcess?.(handle);
      if (uncontained)
        ctx.onNote(`the task is not contained in a cgroup (${uncontained}): only its process group is stopped with it`);
    });
    let stoppedFor: 'timeout' | 'cancelled' | undefined;
    const stop = (why: 'timeout' | 'cancelled') => {
      if (stoppedFor) return;
      stoppedFor = why;
      launched.stop(this.options.killGraceMs);
    };
    // A timer cannot wait longer than 2^31-1 ms (24.8 days); a longer one would fire at once.
    const deadline = setTimeout(() => stop('timeout'), Math.min(task.maxPollDuration * 1000, MAX_TIMER_MS));
    const onAbort = () => stop('cancelled');
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();
    try {
      const end = await launched.ended;
      for (const s of ['stdout', 'stderr'] as const) log.write(s, decoders[s].end());
      log.end();
      return stoppedFor ? { end, stoppedFor } : { end };
    } finally {
      clearTimeout(deadline);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    await this.launcher.close();
    if (this.base?.dir) tryRmdir(this.base.dir);
  }
}
