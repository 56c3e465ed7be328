import path from 'node:path';
import type { Logger } from 'pino';
import type { TaskFile } from '../../config/source.js';
import { JobExecutorError, errorMessage } from '../../errors.js';
import { expandEnvironment, expandVars } from '../../render/expand.js';
import type { TaskSpec } from '../../render/task-spec.js';
import { isPlainObject } from '../../util/objects.js';
import { TailBuffer } from '../../util/tail-buffer.js';
import type { LogStream, Runner, TaskContext, TaskResult } from '../runner.js';
import { ProcessLauncher, type LaunchRequest } from './launcher.js';
import type { DirectorySecretStore } from './secrets.js';

export interface LocalRunnerOptions {
  /** Per-run directories are made below it and removed after the run unless `keepWorkDirs`. */
  readonly workDir: string;
  readonly secrets: DirectorySecretStore;
  /** Variables of the service's own environment a task inherits (PATH and friends; never tokens). */
  readonly passEnv: readonly string[];
  /** Bytes of a task's log kept for its answer and the run store. */
  readonly maxLogBytes: number;
  /** After SIGTERM, how long before SIGKILL. */
  readonly killGraceMs: number;
  readonly keepWorkDirs: boolean;
  readonly logger: Logger;
}

/** Replaces the `/keptn` path prefix (as a whole path, not `/keptnfoo` or `http://keptn.x`) with the task's folder. */
export function mapKeptnPaths(text: string, keptnDir: string): string {
  return text.replace(/(^|[\s='"(,:])\/keptn(?=\/|$|[\s'"),;:])/g, (_m, pre: string) => `${pre}${keptnDir}`);
}

function safeSegment(value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80) || 'run';
}

/**
 * The embedded default: each task is a child process, started without a shell, in its own process group so a
 * timeout stops everything it started. Images are not pulled; only the allow-list applies to them.
 */
export class LocalRunner implements Runner {
  readonly name = 'local';
  private saidNoPull = false;
  private readonly launcher = new ProcessLauncher();

  constructor(private readonly options: LocalRunnerOptions) {}

  async run(task: TaskSpec, ctx: TaskContext): Promise<TaskResult> {
    const log = new TailBuffer(this.options.maxLogBytes);
    const emit = (stream: LogStream, text: string) => {
      log.push(`${text}\n`);
      ctx.onLog({ stream, text, time: Date.now() });
    };
    if (!this.saidNoPull) {
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
    try {
      const files = await this.readFiles(task, ctx);
      const env = await this.environment(task, keptnDir, outputFile);
      if (task.cmd.length === 0) {
        throw new JobExecutorError(
          'TASK_START_FAILED',
          `actions[${task.actionIndex}].tasks[${task.taskIndex}].cmd: required by the local runner (it cannot use an image's entrypoint)`,
        );
      }
      const lookup = (n: string) => env.get(n);
      const argv = [...task.cmd, ...task.args].map((a) => mapKeptnPaths(expandVars(a, lookup), keptnDir));
      const cwd = task.workingDir ? mapKeptnPaths(expandVars(task.workingDir, lookup), keptnDir) : keptnDir;
      const workspace = { dir: taskDir, keptnDir, files, outputFile, keep: this.options.keepWorkDirs };
      const { outputText, ...result } = await this.spawnTask(argv, cwd, env, workspace, task, ctx, emit);
      const output = this.parseOutput(outputText, emit);
      return { ...result, logs: log.text(), ...(output ? { output } : {}) };
    } catch (e) {
      const reason = errorMessage(e);
      emit('system', reason);
      return { outcome: 'failed', reason, logs: log.text() };
    }
  }

  private async readFiles(task: TaskSpec, ctx: TaskContext): Promise<TaskFile[]> {
    const out: TaskFile[] = [];
    for (const entry of task.files) {
      try {
        out.push(...(await ctx.files.read(entry, ctx.signal)));
      } catch (e) {
        throw new JobExecutorError('FILE_NOT_FOUND', `could not find file or directory ${entry} for task ${task.name}: ${errorMessage(e)}`);
      }
    }
    return out;
  }

  /** Kubernetes order: Secret keys (envFrom) first, then `env` in order, each value expanding earlier ones. */
  private async environment(task: TaskSpec, keptnDir: string, outputFile: string): Promise<Map<string, string>> {
    const fromSecrets: Array<[string, string]> = [];
    const values: Array<[string, string]> = [];
    for (const e of task.env) {
      if (e.kind === 'secret') fromSecrets.push(...(await this.options.secrets.read(e.secretName)));
      else values.push([e.name, mapKeptnPaths(e.value, keptnDir)]);
    }
    const env = expandEnvironment([...fromSecrets, ...values, ['KEPTN_OUTPUT', outputFile]]);
    const base = new Map<string, string>();
    for (const name of this.options.passEnv) {
      const v = process.env[name];
      if (v !== undefined) base.set(name, v);
    }
    return new Map([...base, ...env]);
  }

  private spawnTask(
    argv: string[],
    cwd: string,
    env: Map<string, string>,
    workspace: LaunchRequest['workspace'],
    task: TaskSpec,
    ctx: TaskContext,
    emit: (stream: LogStream, text: string) => void,
  ): Promise<Omit<TaskResult, 'logs' | 'output'> & { outputText?: string }> {
    return new Promise((resolve) => {
      const [file, ...rest] = argv as [string, ...string[]];
      const child = this.launcher.launch({ file, args: rest, cwd, env: Object.fromEntries(env), workspace });
      let stopping: 'timeout' | 'cancelled' | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (why: 'timeout' | 'cancelled') => {
        if (stopping) return;
        stopping = why;
        if (child.pid === undefined) return;
        const group = -child.pid;
        try {
          process.kill(group, 'SIGTERM');
        } catch {
          /* already gone */
        }
        killTimer = setTimeout(() => {
          try {
            process.kill(group, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }, this.options.killGraceMs);
        killTimer.unref();
      };
      const deadline = setTimeout(() => stop('timeout'), task.maxPollDuration * 1000);
      const onAbort = () => stop('cancelled');
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      if (ctx.signal.aborted) onAbort();

      const pending = { stdout: '', stderr: '' };
      child.on('data', (stream, chunk) => {
        const lines = (pending[stream] + chunk).split('\n');
        pending[stream] = lines.pop() ?? '';
        for (const l of lines) emit(stream, l.endsWith('\r') ? l.slice(0, -1) : l);
      });
      // A stop asked for before the process was up is carried out as soon as it is.
      child.on('spawn', () => {
        if (stopping) {
          const why = stopping;
          stopping = undefined;
          stop(why);
        }
      });

      let spawnError: { code?: string; message: string } | undefined;
      child.on('error', (e) => {
        spawnError = e;
      });
      child.on('close', (code, signal, output) => {
        clearTimeout(deadline);
        if (killTimer) clearTimeout(killTimer);
        ctx.signal.removeEventListener('abort', onAbort);
        for (const s of ['stdout', 'stderr'] as const) if (pending[s] !== '') emit(s, pending[s]);
        const out = output === undefined ? {} : { outputText: output };
        if (spawnError?.code === 'WORKSPACE') {
          resolve({ outcome: 'failed', reason: spawnError.message, ...out });
        } else if (spawnError) {
          const why = spawnError.code === 'ENOENT' ? 'command not found' : spawnError.message;
          resolve({ outcome: 'failed', reason: `could not start "${file}": ${why}`, ...out });
        } else if (stopping === 'timeout') {
          resolve({ outcome: 'timeout', reason: `task exceeded maxPollDuration of ${task.maxPollDuration}s and was stopped`, ...out });
        } else if (stopping === 'cancelled') {
          resolve({ outcome: 'cancelled', reason: 'task was cancelled (the service is shutting down)', ...out });
        } else if (code === 0) {
          resolve({ outcome: 'succeeded', exitCode: 0, ...out });
        } else if (code !== null) {
          resolve({ outcome: 'failed', exitCode: code, reason: `exited with code ${code}`, ...out });
        } else {
          resolve({ outcome: 'failed', reason: `killed by signal ${signal ?? 'unknown'}`, ...out });
        }
      });
    });
  }

  private parseOutput(text: string | undefined, emit: (stream: LogStream, text: string) => void): Record<string, unknown> | undefined {
    if (text === undefined || text.trim() === '') return undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (isPlainObject(value)) return value;
    } catch {
      /* reported below */
    }
    emit('system', 'KEPTN_OUTPUT does not hold a JSON object; it is not merged into the .finished data');
    return undefined;
  }

  async close(): Promise<void> {
    await this.launcher.close();
  }
}
