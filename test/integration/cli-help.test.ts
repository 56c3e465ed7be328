import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LINT_COMMAND } from '../../src/cli/lint.js';
import { RENDER_COMMAND } from '../../src/cli/render.js';
import { RUN_COMMAND } from '../../src/cli/run.js';
import { SCHEMA_COMMAND, SETTINGS_COMMAND } from '../../src/cli/schema.js';
import { SERVE_COMMAND } from '../../src/cli/serve.js';
import { SETTINGS } from '../../src/settings/settings.js';

const BIN = path.resolve('dist/src/cli/main.js');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 30_000,
  });
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const squash = (s: string) => s.replace(/\s+/g, ' ');

describe('the CLI explains itself', () => {
  it.each([SERVE_COMMAND, RUN_COMMAND, LINT_COMMAND, RENDER_COMMAND, SCHEMA_COMMAND, SETTINGS_COMMAND])(
    '$name --help lists every option it takes, worded as the settings table',
    (spec) => {
      const r = cli(spec.name, '--help');
      expect(r.status).toBe(0);
      const text = squash(r.stdout);
      expect(text).toContain(`usage: job-executor ${spec.name}`);
      for (const [flag, o] of Object.entries(spec.options)) {
        expect(text).toContain(`--${flag}`);
        expect(text).toContain(squash(o.description));
      }
      for (const key of spec.settings) {
        const d = SETTINGS[key];
        expect(text, `--${d.flag}`).toContain(`--${d.flag}`);
        expect(text, `description of --${d.flag}`).toContain(squash(d.description));
        for (const env of d.env) expect(text).toContain(env);
      }
      expect(text).toContain('exit codes: 0');
    },
  );

  it('--help wins over anything else on the line, and -h is the same', () => {
    expect(cli('run', '--nonsense', '-h').status).toBe(0);
    expect(cli('render', '--help', '--event', 'missing.json').stdout).toContain('usage: job-executor render');
  });

  it('--version, at the top or after a command', () => {
    expect(cli('--version').stdout.trim()).toBe(`job-executor ${version}`);
    expect(cli('lint', '--version').stdout.trim()).toBe(`job-executor ${version}`);
  });

  it('an unknown flag exits 2 with the closest one; an unknown command names the closest command', () => {
    const r = cli('run', '--evnt', 'x.json');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Unknown option '--evnt'");
    expect(r.stderr).toContain('did you mean --event?');
    const c = cli('rnder');
    expect(c.status).toBe(2);
    expect(c.stderr).toContain('unknown command "rnder" (did you mean "render"?)');
    expect(cli('serve', '--concurency', '3').stderr).toContain('did you mean --concurrency?');
  });
});
