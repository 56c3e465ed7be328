/** Runs the kubectl built by scripts/testenv (TESTENV_BIN), or `kubectl` from PATH, against KUBECONFIG. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function kubectlBinary(): string {
  const bin = process.env.TESTENV_BIN;
  if (bin && existsSync(join(bin, 'kubectl'))) return join(bin, 'kubectl');
  return 'kubectl';
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** kubectl with `args`, `input` on stdin; resolves with the exit code (never rejects on a non-zero one). */
export function kubectl(
  args: string[],
  input?: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 120_000,
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlBinary(), args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}
