import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's package installs it in /usr/sbin, which is not on every user's PATH. */
function natsServerBinary(): string {
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'])
    if (existsSync(p)) return p;
  return 'nats-server';
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * A real nats-server (Debian package `nats-server`; `bash scripts/install-test-deps.sh` installs it) on a
 * random port of 127.0.0.1, for as long as the test needs it. `port` reuses a port after a restart.
 */
export async function startNatsServer(port = -1, timeoutMs = 15_000): Promise<NatsServer> {
  const child: ChildProcess = spawn(natsServerBinary(), ['-a', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`nats-server did not start within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start nats-server (${e.message}); install it with: bash scripts/install-test-deps.sh`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${String(code)}:\n${output}`));
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      output += chunk;
      const m = /Listening for client connections on [\d.]+:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  child.removeAllListeners('exit');
  return {
    url: `nats://127.0.0.1:${listening}`,
    port: listening,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
