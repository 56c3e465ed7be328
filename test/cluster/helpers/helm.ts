/** Runs the helm v3 client built by scripts/testenv (TESTENV_BIN), or `helm` from PATH. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export function helmBinary(): string {
  const bin = process.env.TESTENV_BIN;
  if (bin && existsSync(join(bin, 'helm'))) return join(bin, 'helm');
  return 'helm';
}

export async function helm(args: string[], timeoutMs = 180_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(helmBinary(), args, {
      timeout: timeoutMs,
      env: process.env,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message?: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.message ?? ''}\n${e.stderr ?? ''}${e.stdout ?? ''}`, {
      cause: err,
    });
  }
}
