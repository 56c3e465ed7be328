import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * deploy/Dockerfile cannot be built here (no Docker engine), so it is linted: its stages, what each copies
 * (the files exist and the build context does not exclude them), production dependencies only, a non-root
 * numeric user (runAsNonRoot can verify it), and the entrypoint the chart relies on.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const text = readFileSync(path.join(ROOT, 'deploy/Dockerfile'), 'utf8');
const ignore = readFileSync(path.join(ROOT, 'deploy/Dockerfile.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

interface Instr {
  op: string;
  args: string;
}
/** Instructions, continuation lines joined, comments dropped. */
const instructions: Instr[] = text
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [op = '', ...rest] = l.split(/\s+/);
    return { op: op.toUpperCase(), args: rest.join(' ') };
  });

const stages: Array<{ from: string; name?: string; body: Instr[] }> = [];
for (const i of instructions) {
  if (i.op === 'FROM') {
    const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
    stages.push({ from: m?.[1] ?? '', ...(m?.[2] ? { name: m[2] } : {}), body: [] });
  } else stages.at(-1)?.body.push(i);
}
const final = stages.at(-1);

function ignored(p: string): boolean {
  const first = p.split('/')[0] ?? p;
  return ignore.some(
    (pat) => pat === p || pat === first || (pat === '**/node_modules' && p.split('/').includes('node_modules')),
  );
}

describe('deploy/Dockerfile', () => {
  it('is multi-stage: build, production deps, runtime', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', undefined]);
    expect(stages.every((s) => s.from === '${NODE_IMAGE}')).toBe(true);
    // Built on the Node.js LTS line the tests also run on (scripts/node-lts.version pins it).
    const lts = /^NODE_LTS_VERSION=(\d+)\./m.exec(
      readFileSync(path.join(ROOT, 'scripts/node-lts.version'), 'utf8'),
    )?.[1];
    expect(lts).toBeDefined();
    expect(text).toMatch(new RegExp(`^ARG NODE_IMAGE=node:${lts}-bookworm-slim$`, 'm'));
  });

  it('installs production dependencies only in what it ships', () => {
    const deps = stages.find((s) => s.name === 'deps');
    expect(deps?.body.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args))).toBe(true);
    const build = stages.find((s) => s.name === 'build');
    expect(build?.body.some((i) => i.op === 'RUN' && /npm run build/.test(i.args))).toBe(true);
    const copies = final?.body.filter((i) => i.op === 'COPY') ?? [];
    expect(copies.find((c) => c.args.includes('node_modules'))?.args).toMatch(/--from=deps\b/);
    expect(final?.body.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args))).toBe(false);
  });

  it('copies files that exist and that the build context keeps', () => {
    const problems: string[] = [];
    for (const s of stages) {
      for (const c of s.body.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
        if (c.op === 'ADD') problems.push(`ADD ${c.args}: use COPY`);
        if (/--from=/.test(c.args)) continue;
        const parts = c.args.split(/\s+/).filter((a) => !a.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          if (!existsSync(path.join(ROOT, src))) problems.push(`COPY ${src}: no such file`);
          if (ignored(src)) problems.push(`COPY ${src}: excluded by Dockerfile.dockerignore`);
        }
      }
    }
    expect(problems).toEqual([]);
    // The build script uses only what the build stage copies.
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    // tsc with the copied tsconfigs, then node itself making the bin executable (tsc writes it 0644).
    expect(pkg.scripts.build).toBe(
      "node node_modules/typescript7/bin/tsc -b scripts/tsconfig.build.json && node -e \"require('node:fs').chmodSync('dist/src/cli/main.js', 0o755)\"",
    );
    expect(existsSync(path.join(ROOT, 'src/cli/main.ts'))).toBe(true);
  });

  it('runs as a non-root numeric user, with the entrypoint and port the chart uses', () => {
    const user = final?.body.filter((i) => i.op === 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    const chartValues = readFileSync(path.join(ROOT, 'deploy/helm/job-executor/values.yaml'), 'utf8');
    expect(chartValues).toContain(`runAsUser: ${user.split(':')[0] ?? ''}`);
    expect(final?.body.find((i) => i.op === 'ENTRYPOINT')?.args).toBe(
      '["node", "--max-semi-space-size=1", "dist/src/cli/main.js"]',
    );
    expect(final?.body.find((i) => i.op === 'CMD')?.args).toBe('["serve"]');
    expect(final?.body.find((i) => i.op === 'EXPOSE')?.args).toBe('8080');
    // Nothing written outside /tmp at run time: TMPDIR points there, and the listener is reachable in a pod.
    const env =
      final?.body
        .filter((i) => i.op === 'ENV')
        .map((i) => i.args)
        .join(' ') ?? '';
    expect(env).toMatch(/TMPDIR=\/tmp/);
    expect(env).toMatch(/JOB_EXECUTOR_HOST=0\.0\.0\.0/);
  });
});
