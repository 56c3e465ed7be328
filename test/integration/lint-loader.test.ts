import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryConfigSource } from '../../src/config/sources/directory.js';
import { tempTree } from '../helpers/service.js';

/**
 * Defect 9: `lint` passed configs that failed at run time. The loader, `lint` and `render` now run the one
 * schema, so they must refuse the same configs with the same problems. Each bad config below goes to the
 * built CLI's `lint` (as a user runs it), to the loader the service uses, and some to `render`.
 */

const BIN = path.resolve('dist/src/cli/main.js');
const cli = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 60_000,
  });

const head = 'apiVersion: v2\nactions:\n  - events: [{ name: "sh.keptn.event.x.triggered" }]\n    tasks:\n';
const task = (fields: string) => `${head}      - { name: t, image: alpine, ${fields} }\n`;

function bomb(): string {
  let text = `${head}      - &t0 { name: t, image: alpine }\n    x1: &t1 [*t0, *t0, *t0, *t0, *t0, *t0, *t0, *t0, *t0, *t0]\n`;
  for (let i = 2; i <= 7; i++)
    text += `    x${i}: &t${i} [${Array.from({ length: 10 }, () => `*t${i - 1}`).join(', ')}]\n`;
  return text;
}

const BAD: Record<string, string> = {
  'typo.yaml': task('imag: x'),
  'env-name.yaml': task('env: [{ name: "A=B", value: x, valueFrom: string }]'),
  'env-space.yaml': task('env: [{ name: "A B", value: x, valueFrom: string }]'),
  'helper.yaml': task('args: ["{{shout data.x}}"]'),
  'prototype.yaml': task('args: ["{{constructor.constructor}}"]'),
  'lookup.yaml': task('args: [\'{{lookup this "constructor"}}\']'),
  'syntax.yaml': task('args: ["{{#if data.x}}"]'),
  'files.yaml': task('files: ["../../etc/passwd"]'),
  'glob.yaml': 'apiVersion: v2\nactions:\n  - events: [{ name: "sh.keptn.event.{a,b.triggered" }]\n',
  'jsonpath.yaml': task('env: [{ name: A, value: data.x, valueFrom: event }]'),
  'bomb.yaml': bomb(),
  'too-many.yaml': `${head}${Array.from({ length: 101 }, (_, i) => `      - { name: t${i}, image: alpine }\n`).join('')}`,
  'deep.yaml': `${'['.repeat(5000)}${']'.repeat(5000)}\n`,
  'two-docs.yaml': `${task('cmd: [echo]')}---\napiVersion: v2\n`,
  'huge.yaml': `${head}# ${'x'.repeat(300 * 1024)}\n`,
};

describe('lint and the loader agree', () => {
  it('refuse each bad config with the same problems, and accept the same good one', async () => {
    const files: Record<string, string> = {
      'good/job/config.yaml': task('cmd: [echo], args: ["{{data.x}} $(KEPTN_PROJECT)"]'),
    };
    for (const [name, text] of Object.entries(BAD)) files[`${name}/job/config.yaml`] = text;
    const root = await tempTree(files);
    const names = ['good', ...Object.keys(BAD)];
    const lint = cli(['lint', ...names.map((n) => path.join(root, n, 'job', 'config.yaml'))]);
    expect(lint.status).toBe(1);
    const byFile = new Map<string, string[]>();
    for (const line of lint.stdout.trim().split('\n')) {
      const [file, ...rest] = line.split(': ');
      const name = path.basename(path.dirname(path.dirname(file as string)));
      byFile.set(name, [...(byFile.get(name) ?? []), rest.join(': ')]);
    }
    expect(byFile.get('good')).toEqual(['valid']);
    await expect(
      new DirectoryConfigSource(path.join(root, 'good')).load({ project: 'p', stage: 's', service: 'v' }),
    ).resolves.toMatchObject({ level: 'global' });

    for (const name of Object.keys(BAD)) {
      const problems = byFile.get(name) ?? [];
      expect(problems.length, name).toBeGreaterThan(0);
      for (const p of problems) expect(p, name).toMatch(/^(\(root\)|line \d+, column \d+|actions[\w[\].]*): \S/);
      const loaded = await new DirectoryConfigSource(path.join(root, name))
        .load({ project: 'p', stage: 's', service: 'v' })
        .catch((e: unknown) => e);
      expect(loaded, name).toMatchObject({ code: 'CONFIG_INVALID' });
      expect((loaded as Error).message, name).toBe(`job/config.yaml: invalid job config: ${problems.join('; ')}`);
    }
  });

  it('render refuses them the same way, before anything is rendered', async () => {
    const root = await tempTree({
      'helper/job/config.yaml': BAD['helper.yaml'] as string,
      'bomb/job/config.yaml': BAD['bomb.yaml'] as string,
      'event.json': JSON.stringify({
        specversion: '1.0',
        id: 'e',
        source: 's',
        type: 'sh.keptn.event.x.triggered',
        shkeptncontext: 'c',
        data: { project: 'p', stage: 's', service: 'v' },
      }),
    });
    for (const name of ['helper', 'bomb']) {
      const lintLine = cli(['lint', path.join(root, name, 'job', 'config.yaml')])
        .stdout.trim()
        .split(': ')
        .slice(1)
        .join(': ');
      const r = cli(['render', '--config', path.join(root, name), '--event', path.join(root, 'event.json')]);
      expect(r.status, name).toBe(2);
      expect(r.stderr, name).toBe(`job-executor: job/config.yaml: invalid job config: ${lintLine}\n`);
    }
  });
});
