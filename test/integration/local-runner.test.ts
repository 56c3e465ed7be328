import { readdirSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskFile } from '../../src/config/source.js';
import { DirectoryFileSource } from '../../src/config/sources/directory.js';
import type { TaskSpec } from '../../src/render/task-spec.js';
import { LocalRunner, mapKeptnPaths } from '../../src/runners/local/local-runner.js';
import { DirectorySecretStore } from '../../src/runners/local/secrets.js';
import type { LogLine } from '../../src/runners/runner.js';
import { alive, closeLocalRunners, localRunner, taskContext, taskSpec } from '../helpers/local-runner.js';
import { silentLogger } from '../helpers/service.js';

const runner = localRunner;
const spec = (partial: Partial<TaskSpec>) => taskSpec({ maxPollDuration: 30, ...partial });
const ctx = taskContext;
afterAll(closeLocalRunners);

async function readFiles(root: string, entries: string[]): Promise<TaskFile[]> {
  const source = new DirectoryFileSource(root);
  return (await Promise.all(entries.map((e) => source.read(e)))).flat();
}

describe('local runner (real processes)', () => {
  it('streams log lines while the task runs, then decides by the exit code', async () => {
    const lines: LogLine[] = [];
    const r = await runner();
    const result = await r.run(
      spec({ cmd: ['sh', '-c'], args: ['echo first; sleep 0.6; echo second >&2; exit 3'] }),
      ctx({ lines }),
    );
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 3, reason: 'exited with code 3' });
    expect(lines.map((l) => `${l.stream}:${l.text}`)).toEqual(['stdout:first', 'stderr:second']);
    // The first line arrived before the process ended (0.6 s before the second): streamed, not collected at exit.
    expect((lines[1] as LogLine).time - (lines[0] as LogLine).time).toBeGreaterThan(300);
    expect(result.logs).toBe('first\nsecond\n');
  });

  it('runs without a shell: arguments are not interpreted', async () => {
    const result = await (await runner()).run(spec({ cmd: ['echo'], args: ['$HOME', '*', '; ls'] }), ctx());
    expect(result.logs).toBe('$HOME * ; ls\n');
  });

  it('expands $(VAR) as Kubernetes does and maps /keptn to the task folder', async () => {
    const env = [
      { kind: 'value' as const, name: 'GREETING', value: 'hi' },
      { kind: 'value' as const, name: 'DATA', value: '/keptn/data' },
    ];
    const r = await runner();
    const echoed = await r.run(spec({ cmd: ['echo'], args: ['$(GREETING)', '$$(GREETING)', '$(UNSET)'], env }), ctx());
    expect(echoed.logs).toBe('hi $(GREETING) $(UNSET)\n');
    const result = await r.run(spec({ cmd: ['sh', '-c'], args: ['pwd; echo "$DATA"'], env }), ctx());
    const [cwd, data] = result.logs.trim().split('\n');
    expect(cwd).toMatch(/\/run-\d+\/000-001\/keptn$/);
    expect(data).toBe(`${cwd}/data`);
  });

  it('stops the whole process group at maxPollDuration and names the limit', async () => {
    const lines: LogLine[] = [];
    const r = await runner();
    const result = await r.run(
      spec({ cmd: ['sh', '-c'], args: ['sleep 30 & echo child=$!; wait'], maxPollDuration: 1 }),
      ctx({ lines }),
    );
    expect(result.outcome).toBe('timeout');
    expect(result.reason).toBe('task exceeded maxPollDuration of 1s and was stopped');
    const child = Number(/child=(\d+)/.exec(result.logs)?.[1]);
    expect(child).toBeGreaterThan(0);
    await sleep(200);
    expect(alive(child)).toBe(false);
  });

  it('is cancelled by its AbortSignal', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const result = await (await runner()).run(spec({ cmd: ['sleep'], args: ['30'] }), ctx({ signal: ac.signal }));
    expect(result.outcome).toBe('cancelled');
  });

  it('answers a missing command clearly', async () => {
    const result = await (await runner()).run(spec({ cmd: ['no-such-program-xyz'] }), ctx());
    expect(result).toMatchObject({
      outcome: 'failed',
      reason: 'could not start "no-such-program-xyz": command not found',
    });
  });

  it('needs cmd (there is no image entrypoint locally)', async () => {
    const result = await (await runner()).run(spec({ args: ['x'] }), ctx());
    expect(result.reason).toBe(
      "actions[0].tasks[0].cmd: required by the local runner (it cannot use an image's entrypoint)",
    );
  });

  it('delivers files and folders under /keptn with their paths', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'je-files-'));
    await mkdir(path.join(root, 'helm'), { recursive: true });
    await writeFile(path.join(root, 'small.file'), 'small');
    await writeFile(path.join(root, 'helm', 'values.yaml'), 'a: 1');
    await writeFile(path.join(root, 'helm-abc'), 'not me');
    const result = await (
      await runner()
    ).run(
      spec({ cmd: ['sh', '-c'], args: ['cd /keptn && find . -type f | sort'], files: ['small.file', '/helm'] }),
      ctx({ files: await readFiles(root, ['small.file', '/helm']) }),
    );
    expect(result.logs).toBe('./helm/values.yaml\n./small.file\n');
  });

  it('reads $KEPTN_OUTPUT as a JSON object, and says so when it is not one', async () => {
    const ok = await (
      await runner()
    ).run(spec({ cmd: ['sh', '-c'], args: ['echo \'{"a":{"b":1}}\' > "$KEPTN_OUTPUT"'] }), ctx());
    expect(ok.output).toEqual({ a: { b: 1 } });
    const notes: string[] = [];
    const bad = await (
      await runner()
    ).run(spec({ cmd: ['sh', '-c'], args: ['echo "[1]" > "$KEPTN_OUTPUT"'] }), ctx({ notes }));
    expect(bad.output).toBeUndefined();
    expect(bad.outcome).toBe('succeeded');
    // A runner note, not the task's output: the answer's logs are only what the task printed.
    expect(notes).toContain('KEPTN_OUTPUT does not hold a JSON object; it is not merged into the .finished data');
    expect(bad.logs).toBe('');
  });

  it('takes secrets from <dir>/<secret>/<key> and inherits only the allowed variables', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'je-secrets-'));
    await mkdir(path.join(dir, 'e2e-kubernetes-secret'));
    await writeFile(path.join(dir, 'e2e-kubernetes-secret', 'E2E-Secret'), 'secret-kubernetes-variable');
    await writeFile(path.join(dir, 'e2e-kubernetes-secret', 'E2E-HOST'), 'https://keptn.sh');
    // As in a Pod: a Secret's value is taken as it is, `$(VAR)` in it is not expanded.
    await writeFile(path.join(dir, 'e2e-kubernetes-secret', 'LITERAL'), 'pa$(HOME)ss$$');
    process.env.JE_TEST_NOT_PASSED = 'leak';
    const result = await (
      await runner({ secretsDir: dir })
    ).run(spec({ cmd: ['env'], env: [{ kind: 'secret', secretName: 'e2e-kubernetes-secret' }] }), ctx());
    const env = result.logs.split('\n');
    expect(env).toContain('E2E-Secret=secret-kubernetes-variable');
    expect(env).toContain('E2E-HOST=https://keptn.sh');
    expect(env).toContain('LITERAL=pa$(HOME)ss$$');
    expect(env.some((l) => l.startsWith('JE_TEST_NOT_PASSED'))).toBe(false);
    const missing = await (
      await runner({ secretsDir: dir })
    ).run(spec({ cmd: ['env'], env: [{ kind: 'secret', secretName: 'nope' }] }), ctx());
    expect(missing.reason).toMatch(/secret "nope" not found in the secrets directory \(JOB_SECRETS_DIR\)/);
    expect(missing.reason).not.toContain(dir);
  });

  it('leaves nothing behind in its work folder', async () => {
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'je-clean-'));
    const r = new LocalRunner({
      workDir,
      secrets: new DirectorySecretStore(undefined),
      passEnv: ['PATH'],
      maxLogBytes: 1024,
      killGraceMs: 500,
      keepWorkDirs: false,
      logger: silentLogger,
    });
    const root = await mkdtemp(path.join(os.tmpdir(), 'je-files-'));
    await writeFile(path.join(root, 'a.txt'), 'a');
    await r.run(
      spec({ cmd: ['sh', '-c'], args: ['echo x > /keptn/out.txt; echo "{}" > $KEPTN_OUTPUT'], files: ['a.txt'] }),
      ctx({ files: await readFiles(root, ['a.txt']) }),
    );
    expect(readdirSync(workDir)).toEqual([]);
    await r.close();
  });

  it('maps only whole /keptn paths', () => {
    expect(mapKeptnPaths('/keptn/a --x=/keptn /keptnfoo http://keptn/x http://keptn.svc /keptn', '/w')).toBe(
      '/w/a --x=/w /keptnfoo http://keptn/x http://keptn.svc /w',
    );
  });
});
