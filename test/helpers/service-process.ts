import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

export const BIN = path.resolve('dist/src/cli/main.js');

export interface ServiceProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly port: number;
  readonly url: string;
  /** The service's JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Its stderr so far, as written. */
  stderr(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string | null>;
  post(event: unknown): Promise<Response>;
}

/**
 * The built service as users run it (`job-executor serve`), on a port it picks itself, with JSON logs on
 * stderr; resolves once it listens. Needs `npm run build`.
 */
export async function startServiceProcess(args: string[], env: Record<string, string> = {}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'debug', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr += c));
  child.stdout.resume();
  const exited = new Promise<number | string | null>((r) => child.on('exit', (code, signal) => r(code ?? signal)));
  const logs = () =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start: ${stderr}`)), 20_000);
    const check = () => {
      const line = logs().find((l) => typeof l.port === 'number' && String(l.msg).startsWith('job-executor listening'));
      if (line) {
        clearTimeout(timer);
        child.stderr.off('data', check);
        resolve(line.port as number);
      }
    };
    child.stderr.on('data', check);
    void exited.then((code) => reject(new Error(`the service exited (${String(code)}) before it listened: ${stderr}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    port,
    url,
    logs,
    stderr: () => stderr,
    exited,
    post: (event: unknown) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(event),
      }),
  };
}

/** Pids of live processes whose command line matches `pattern` (pgrep -f), e.g. a task's unique argument. */
export function processesMatching(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * As an OOM kill of the whole container would: SIGKILL to the service and to its children (the process
 * launcher) at once, so nothing is left to stop the tasks. Resolves once the service is gone.
 */
export async function killContainer(svc: ServiceProcess): Promise<void> {
  let children: string[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(svc.child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    /* no children */
  }
  for (const pid of children) process.kill(Number(pid), 'SIGKILL');
  svc.child.kill('SIGKILL');
  await svc.exited;
}
