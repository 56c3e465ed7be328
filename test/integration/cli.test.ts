import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import * as yaml from 'js-yaml';
import { tempTree } from '../helpers/service.js';

/** The built CLI (npm test builds first), as a user runs it. */
const BIN = path.resolve('dist/src/cli/main.js');
const cli = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const HELLO = ['--event', 'job-config/events/hello-world.triggered.json', '--allowed-images', 'alpine:*'];

describe('job-executor run', () => {
  it('runs the README demo: answers on stdout as JSON lines, progress on stderr, exit 0', () => {
    const r = cli(['run', ...HELLO]);
    expect(r.code).toBe(0);
    const answers = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    expect(answers.map((a) => a.type)).toEqual([
      'sh.keptn.event.hello-world.started',
      'sh.keptn.event.hello-world.finished',
    ]);
    expect(answers[1]?.data).toMatchObject({ status: 'succeeded', result: 'pass', greeting: { greeted: 'world' } });
    expect(r.stderr).toContain('[Greet the world] Hello World from podtatohead/dev/helloservice');
    expect(r.stderr).toMatch(/task ended: Greet the world succeeded in \d+\.\d+s/);
  });

  it('exits 1 when the run failed, 0 when nothing matched', async () => {
    const dir = await tempTree({
      'job/config.yaml':
        'apiVersion: v2\nactions:\n  - events: [{name: sh.keptn.event.hello-world.triggered}]\n    tasks: [{name: fail, image: alpine, cmd: ["false"]}]\n',
    });
    expect(cli(['run', ...HELLO, '--config', dir]).code).toBe(1);
    const none = await tempTree({ 'job/config.yaml': 'apiVersion: v2\nactions: []\n' });
    const r = cli(['run', ...HELLO, '--config', none]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('matches sh.keptn.event.hello-world.triggered; nothing ran');
  });

  it('exits 2 for a config with a typo, naming the file and the path', async () => {
    const dir = await tempTree({ 'job/config.yaml': 'apiVersion: v2\nactions:\n  - tasks: [{imag: alpine}]\n' });
    const r = cli(['run', ...HELLO, '--config', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'job/config.yaml: invalid job config: actions[0].tasks[0].imag: unknown key (did you mean "image"?)',
    );
  });

  it('exits 2 for a bad event file or bad flags', async () => {
    const dir = await tempTree({
      'event.json': JSON.stringify({ type: 'sh.keptn.event.x.triggered', data: { project: 'p' } }),
    });
    const r = cli(['run', '--event', path.join(dir, 'event.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('data.stage: required, a non-empty string');
    expect(cli(['run', '--event', 'x.json', '--bogus']).code).toBe(2);
    const bad = cli(['run', ...HELLO, '--log-max-bytes', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--log-max-bytes (JOB_LOG_MAX_BYTES): ');
  });
});

describe('job-executor lint', () => {
  it('says valid, or prints one line per problem naming the file and path, exit 1', async () => {
    expect(cli(['lint', 'job-config/job/config.yaml'])).toMatchObject({
      code: 0,
      stdout: 'job-config/job/config.yaml: valid\n',
    });
    const dir = await tempTree({
      'bad.yaml': `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.{a,b.triggered" }]
    tasks:
      - { name: ok, image: alpine }
      - { name: typo, imag: alpine }
      - { name: t, image: alpine, cmd: ["ls -la"], args: ["{{#if}}"] }
      - { name: p, image: "evil/x", securityContext: { privileged: true } }
`,
    });
    const file = path.join(dir, 'bad.yaml');
    const schemaProblem = cli(['lint', file]);
    expect(schemaProblem.code).toBe(1);
    // file:line:column: path: message, in the order of the file; the schema's and the policy's problems together.
    expect(schemaProblem.stdout.split('\n')).toContain(
      `${file}:6:23: actions[0].tasks[1].imag: unknown key (did you mean "image"?)`,
    );
    await writeFile(
      file,
      (await import('node:fs')).readFileSync(file, 'utf8').replace('imag: alpine', 'image: alpine'),
    );
    const semantic = cli(['lint', '--allowed-images', 'alpine:*', file]);
    expect(semantic.code).toBe(1);
    expect(semantic.stdout.trim().split('\n')).toEqual([
      `${file}:3:22: actions[0].events[0].name: unclosed "{" in "sh.keptn.event.{a,b.triggered"`,
      `${file}:7:41: actions[0].tasks[2].cmd[0]: "ls -la" holds spaces: put the program in cmd and its arguments in args`,
      `${file}:7:59: actions[0].tasks[2].args[0]: template syntax: line 1, column 8: the template ends too early (a {{#block}} without its {{/block}}?)`,
      `${file}:8:27: actions[0].tasks[3].image: evil/x is not in the image allow-list`,
      `${file}:8:68: actions[0].tasks[3].securityContext.privileged: privileged containers are not allowed (pass --allow-privileged if the service allows them)`,
    ]);
    const json = cli(['lint', '--format', 'json', '--allowed-images', 'alpine:*', file]);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as {
      files: Array<{ file: string; valid: boolean; problems: Array<{ path: string; line: number; column: number }> }>;
    };
    expect(report.files[0]).toMatchObject({ file, valid: false });
    expect(report.files[0]?.problems.map((p) => [p.path, p.line, p.column])[3]).toEqual([
      'actions[0].tasks[3].image',
      8,
      27,
    ]);
    expect(cli(['lint']).code).toBe(2);
  });

  it('lints every job/config.yaml below a folder, as the service lays them out', async () => {
    const ok = 'apiVersion: v2\nactions: []\n';
    const dir = await tempTree({
      'job/config.yaml': ok,
      'proj/dev/svc/job/config.yaml': 'apiVersion: v2\nactions:\n  - name: a\n    tasks: [{ name: t, imag: x }]\n',
      'proj/job/config.yaml': ok,
      'proj/notes.yaml': 'not: a config',
    });
    const r = cli(['lint', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      `${path.join(dir, 'job/config.yaml')}: valid`,
      `${path.join(dir, 'proj/dev/svc/job/config.yaml')}:4:24: actions[0].tasks[0].imag: unknown key (did you mean "image"?)`,
      `${path.join(dir, 'proj/job/config.yaml')}: valid`,
    ]);
    expect(cli(['lint', 'job-config']).code).toBe(0);
    const empty = await tempTree({ 'x.txt': '' });
    expect(cli(['lint', empty])).toMatchObject({ code: 2 });
  });
});

describe('job-executor render', () => {
  it('prints what would run, with templates rendered and nothing run', () => {
    const r = cli([
      'render',
      '--config',
      'job-config/examples/self-healing.handlebars.yaml',
      '--event',
      'job-config/events/action.triggered.json',
      '--allowed-images',
      'alpine/helm:*',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('policy: allowed');
    expect(r.stdout).toContain('name: Scale helloservice in fulltour-production to 2 replicas');
    expect(r.stdout).toContain('- replicaCount=2');
    expect(r.stdout).toMatch(/answers:\n {2}- sh.keptn.event.action.started\n {2}- sh.keptn.event.action.finished/);
  });

  it('with --runner kubernetes prints the exact manifests: the Job (suspended) and the ConfigMap with its files', () => {
    const r = cli([
      'render',
      '--runner',
      'kubernetes',
      '--config',
      'job-config',
      '--event',
      'job-config/events/action.triggered.json',
      '--allowed-images',
      'alpine/helm:*',
      '--job-namespace',
      'keptn-jes',
    ]);
    expect(r.code).toBe(0);
    const docs = r.stdout
      .split(/^---$/m)
      .slice(1)
      .map(
        (d) =>
          yaml.load(d) as { kind: string; metadata: { name: string; namespace: string }; spec?: { suspend?: boolean } },
      );
    expect(docs.map((d) => d.kind)).toEqual(['Job', 'ConfigMap']);
    expect(docs[0]?.metadata.namespace).toBe('keptn-jes');
    expect(docs[0]?.spec?.suspend).toBe(true);
    expect(docs[1]?.metadata.name).toBe(`${docs[0]?.metadata.name}-files-0`);
    expect(r.stdout).toContain('mountPath: /keptn/charts/helloservice.tgz');
  });

  it('exits 1 and says why when the policy refuses', () => {
    const r = cli(['render', '--config', 'job-config', '--event', 'job-config/events/action.triggered.json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("policy: 'Forbidden: Image alpine/helm:3.9.0 does not match configured image allowlist");
  });
});

describe('job-executor serve', () => {
  it('serves the embedded default, answers an event on stdout, and stops cleanly on SIGTERM', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    // A work directory of its own: the journal there admits one service at a time.
    const workDir = mkdtempSync(path.join(os.tmpdir(), 'je-cli-serve-'));
    const child = spawn(
      process.execPath,
      [BIN, 'serve', '--port', String(port), '--allowed-images', 'alpine:*', '--work-dir', workDir],
      {
        env: { PATH: process.env.PATH ?? '' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const base = `http://127.0.0.1:${port}`;
    await vi.waitFor(
      async () => {
        const up = await fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!up) throw new Error(`serve did not answer /healthz; its stderr: ${stderr}`);
      },
      { timeout: 10_000, interval: 100 },
    );
    const event = (await import('node:fs')).readFileSync('job-config/events/hello-world.triggered.json', 'utf8');
    const res = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: event,
    });
    expect(res.status).toBe(202);
    await expect
      .poll(() => stdout.split('\n').length, { timeout: 10_000, interval: 100, message: 'lines on stdout' })
      .toBeGreaterThanOrEqual(3);
    const types = stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toEqual(['sh.keptn.event.hello-world.started', 'sh.keptn.event.hello-world.finished']);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const logs = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const matched = logs.find((l) => l.msg === 'event matched');
    expect(matched).toMatchObject({
      shkeptncontext: '2b4a6e2b-5a6f-4d7c-9c1e-8a1d7f3e2c10',
      eventId: 'f2b878d3-03c0-4e8f-bc3f-454bc1b3d79d',
    });
    expect(logs.some((l) => l.msg === 'stopped')).toBe(true);
  });
});
