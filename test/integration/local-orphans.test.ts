import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import os from 'node:os';
import { launcherScript } from '../../src/runners/local/launcher-script.js';
import { LocalRunner } from '../../src/runners/local/local-runner.js';
import { DirectorySecretStore } from '../../src/runners/local/secrets.js';
import { stopOrphanedGroups } from '../../src/runners/local/orphans.js';
import { parseProcStat, readProcStat } from '../../src/runners/local/proc-stat.js';
import type { ProcessHandle } from '../../src/runners/runner.js';
import { silentLogger } from '../helpers/service.js';
import { found } from '../helpers/wait.js';

const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) {
    try {
      process.kill(-(c.pid as number), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** A detached group like a task's: a shell leading it, with a child; prints the child's pid. */
async function group(script = 'sleep 300 & echo $!; wait'): Promise<{ handle: ProcessHandle; child: number }> {
  const c = spawn('sh', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(c);
  let out = '';
  c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const child = await vi.waitFor(() => found(/^\d+\n/.test(out) && Number(out.trim()), 'the child pid'), {
    timeout: 20_000,
  });
  const stat = readProcStat(c.pid as number);
  return { handle: { pgid: c.pid as number, startTime: stat?.startTime ?? '' }, child };
}

function alive(pid: number): boolean {
  const s = readProcStat(pid);
  return s !== undefined && s.state !== 'Z';
}

describe('stopOrphanedGroups (real processes)', () => {
  it('stops a group whose leader is the process that was started: SIGTERM, then SIGKILL for what ignores it', async () => {
    const polite = await group();
    const stubborn = await group('trap "" TERM; sleep 300 & echo $!; wait');
    const result = await stopOrphanedGroups([polite.handle, stubborn.handle], { graceMs: 300 });
    expect(result).toEqual({ stopped: [polite.handle.pgid, stubborn.handle.pgid], gone: [] });
    for (const g of [polite, stubborn]) {
      expect(alive(g.handle.pgid)).toBe(false);
      expect(alive(g.child)).toBe(false);
    }
  });

  it('never touches a pid that now names another process (a start time that does not match)', async () => {
    const other = await group();
    const reused: ProcessHandle = { pgid: other.handle.pgid, startTime: String(Number(other.handle.startTime) - 1) };
    const result = await stopOrphanedGroups([reused], { graceMs: 100 });
    expect(result).toEqual({ stopped: [], gone: [other.handle.pgid] });
    expect(alive(other.handle.pgid)).toBe(true);
    expect(alive(other.child)).toBe(true);
  });

  it('reports a group that is gone as gone', async () => {
    const done = spawnSync('true');
    const result = await stopOrphanedGroups([{ pgid: done.pid as number, startTime: '1' }], { graceMs: 100 });
    expect(result).toEqual({ stopped: [], gone: [done.pid] });
  });

  it('kills at once when its signal aborts the grace', async () => {
    const stubborn = await group('trap "" TERM; sleep 300 & echo $!; wait');
    const ac = new AbortController();
    ac.abort();
    await stopOrphanedGroups([stubborn.handle], { graceMs: 60_000, signal: ac.signal });
    await expect.poll(() => alive(stubborn.child), { timeout: 20_000, message: 'the group killed' }).toBe(false);
  });
});

describe('LocalRunner.stopOrphans (what the journal hands over after a crash)', () => {
  it('stops the groups whose leader is the same process, and only those', async () => {
    const runner = new LocalRunner({
      workDir: os.tmpdir(),
      secrets: new DirectorySecretStore(undefined),
      passEnv: [],
      maxLogBytes: 1024,
      killGraceMs: 200,
      keepWorkDirs: false,
      logger: silentLogger,
    });
    const orphan = await group();
    const bystander = await group();
    await runner.stopOrphans([orphan.handle, { pgid: bystander.handle.pgid, startTime: '1' }]);
    expect(alive(orphan.child)).toBe(false);
    expect(alive(bystander.child)).toBe(true);
    await runner.close();
  });
});

describe('/proc/<pid>/stat', () => {
  it('reads the fields after a command name with spaces and parentheses', () => {
    const fields = ['S', '1', '4242', '4242', ...Array.from({ length: 15 }, () => '0'), '987654', '0'];
    expect(parseProcStat(`4242 (a) b (c) ${fields.join(' ')}`)).toEqual({
      pid: 4242,
      state: 'S',
      pgrp: 4242,
      startTime: '987654',
    });
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});

describe('the launcher script', () => {
  it('from the TypeScript sources: launcher-main.ts and its imports, transpiled, run by Node and ready for messages', async () => {
    const script = await launcherScript(path.resolve('src/runners/local'));
    // Laid out as the sources are, below a folder named by their hash (the launcher imports a util of src/ too).
    expect(script).toMatch(/job-executor-launcher-[0-9a-f]{16}\/(runners\/local\/)?launcher-main\.js$/);
    const p = spawn(process.execPath, [script], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const first = await new Promise((resolve) => p.once('message', resolve));
    expect(first).toEqual({ kind: 'ready' });
    p.disconnect();
    await new Promise((r) => p.once('exit', r));
  });

  // The build (npm run build) puts launcher-main.js next to launcher-script.js; the built service runs that.
  it.runIf(existsSync('dist/src/runners/local/launcher-main.js'))(
    'from the build: the compiled launcher-main.js',
    async () => {
      const here = path.resolve('dist/src/runners/local');
      expect(await launcherScript(here)).toBe(path.join(here, 'launcher-main.js'));
      // And the built module finds it by itself, through import.meta.url.
      const out = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { launcherScript } from ${JSON.stringify(path.join(here, 'launcher-script.js'))}; console.log(await launcherScript());`,
        ],
        { encoding: 'utf8' },
      );
      expect(out.stdout.trim()).toBe(path.join(here, 'launcher-main.js'));
      expect(readFileSync(path.join(here, 'launcher-main.js'), 'utf8')).toContain("send({ kind: 'ready' })");
    },
  );
});
