import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TaskSpec } from '../../src/render/task-spec.js';
import { LocalRunner, type LocalRunnerOptions } from '../../src/runners/local/local-runner.js';
import { DirectorySecretStore } from '../../src/runners/local/secrets.js';
import type { LogLine, ProcessHandle, TaskContext } from '../../src/runners/runner.js';
import { keptnEvent, silentLogger } from './service.js';

/**
 * The local runner as the tests use it, on real processes: a work directory of its own, PATH passed on, a 1 MiB
 * log and a 500 ms kill grace. Every runner made here is closed by `closeLocalRunners` (its launcher stops).
 */
const made: LocalRunner[] = [];

export async function localRunner(
  opts: Partial<LocalRunnerOptions> & { readonly secretsDir?: string } = {},
): Promise<LocalRunner> {
  const { secretsDir, ...rest } = opts;
  const r = new LocalRunner({
    workDir: await mkdtemp(path.join(os.tmpdir(), 'je-lr-')),
    secrets: new DirectorySecretStore(secretsDir),
    passEnv: ['PATH'],
    maxLogBytes: 1024 * 1024,
    killGraceMs: 500,
    keepWorkDirs: false,
    logger: silentLogger,
    ...rest,
  });
  made.push(r);
  return r;
}

export async function closeLocalRunners(): Promise<void> {
  await Promise.all(made.splice(0).map((r) => r.close()));
}

/** A rendered task: `alpine`, no command, 60 s to run, failing the run on error; `partial` says the rest. */
export function taskSpec(partial: Partial<TaskSpec>): TaskSpec {
  return {
    actionIndex: 0,
    taskIndex: 0,
    actionName: 'a',
    name: 't',
    image: 'alpine',
    cmd: [],
    args: [],
    env: [],
    files: [],
    maxPollDuration: 60,
    onError: 'fail',
    ...partial,
  };
}

let runs = 0;

/** A task's context whose log lines, notes and process handles go into the arrays given (when given). */
export function taskContext(
  extra: Partial<TaskContext> & { lines?: LogLine[]; notes?: string[]; handles?: ProcessHandle[] } = {},
): TaskContext {
  const { lines = [], notes = [], handles = [], ...rest } = extra;
  return {
    runId: `run-${++runs}`,
    event: keptnEvent('sh.keptn.event.x.triggered'),
    files: [],
    configHash: 'h',
    signal: new AbortController().signal,
    onLog: (l) => lines.push(l),
    onNote: (n) => notes.push(n),
    onProcess: (h) => handles.push(h),
    ...rest,
  };
}

/** Running, not a zombie (in a container, PID 1 may never reap orphans). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
