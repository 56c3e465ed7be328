/**
 * Commands run as a reader types them at a prompt: through bash, in the repository (or a copy), with the
 * reader's environment rather than the one npm and vitest give this process. For the README commands tests.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ShOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** A folder for one test file's temporary files. */
export const scratchDir = (prefix: string): string => mkdtempSync(path.join(os.tmpdir(), prefix));

/** This process's environment without what npm and vitest add, plus `extra`; TMPDIR a new folder below `scratch`. */
export function userEnv(scratch: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(npm_|VITEST|NODE_ENV$|NODE_OPTIONS$|INIT_CWD$)/.test(k)) env[k] = v;
  // npm's update notice, audit and funding lines would only add network calls and noise to what a command prints
  return {
    ...env,
    TMPDIR: mkdtempSync(path.join(scratch, 'tmp-')),
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    ...extra,
  };
}

/** Runs one command line with bash in `cwd` (default: the repository), with a timeout (default 60 s). */
export function sh(command: string, options: ShOptions & { env: NodeJS.ProcessEnv }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], {
      cwd: options.cwd ?? ROOT,
      env: options.env,
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', (err) =>
      reject(new Error(`\`${command}\`: ${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`)),
    );
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `sh`, then an error naming the command and showing what it printed unless it exited `expected`. */
export async function run(
  command: string,
  options: ShOptions & { env: NodeJS.ProcessEnv },
  expected = 0,
): Promise<Result> {
  const result = await sh(command, options);
  if (result.code !== expected) {
    throw new Error(
      `\`${command}\` exited ${String(result.code)} (expected ${expected})\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
  return result;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject).listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A command left running in its own process group (bash, npm, node), as in a second terminal. */
export interface Background {
  output(): { stdout: string; stderr: string };
  stop(): Promise<void>;
}

export function background(command: string, env: NodeJS.ProcessEnv): Background {
  const child = spawn('bash', ['-c', command], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  return {
    output: () => ({ stdout, stderr }),
    stop: async () => {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      // npm does not wait for the service it started: what is left of the group goes too
      signalGroup('SIGKILL');
    },
  };
}
