import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { commandsRunIn, documentedCommands, DOCUMENTED_COMMANDS, unclassified } from '../helpers/readme-commands.js';
import {
  background,
  freePort,
  ROOT,
  run as runIn,
  scratchDir,
  userEnv as envIn,
  type Background,
  type ShOptions,
} from '../helpers/shell-session.js';

/**
 * Every shell command the README shows, and the "Try it" lines of job-config/**, run as a reader runs them: from
 * the repository root, through bash, on the built CLI (npm test builds it first). The table of commands and how
 * each is checked is DOCUMENTED_COMMANDS (test/helpers/readme-commands.ts); a command the docs show that it does
 * not classify fails the first test, naming the command and where it is written. Commands that need a cluster
 * are run by test/cluster/readme-commands.test.ts.
 */
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const COMMANDS = documentedCommands(ROOT);
const scratch = scratchDir('je-readme-');
const userEnv = (extra: Record<string, string> = {}) => envIn(scratch, extra);
const run = (command: string, options: ShOptions = {}, expected = 0) =>
  runIn(command, { env: userEnv(), ...options }, expected);
const running: Background[] = [];

async function healthy(port: number, bg: Background, timeoutMs: number): Promise<void> {
  await vi.waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (res?.status !== 200)
        throw new Error(
          `no 200 from GET /healthz on port ${port} yet; the service printed:\n${bg.output().stderr.slice(-3000)}`,
        );
    },
    { timeout: timeoutMs, interval: 250 },
  );
}

afterAll(async () => {
  await Promise.all(running.map((b) => b.stop()));
});

const answerLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The lines the README shows after `$ <command>` in its text block, up to the next prompt or the fence. */
function shownOutput(command: string): string[] {
  const lines = README.split('\n');
  const start = lines.findIndex((l) => l === `$ ${command}`);
  expect(start, `the README shows \`$ ${command}\``).toBeGreaterThan(-1);
  const end = lines.findIndex((l, i) => i > start && (l.startsWith('$ ') || l.startsWith('```')));
  return lines.slice(start + 1, end);
}

const withPort = (command: string, port: number) => command.replace(/\b(8080|9090)\b/g, String(port));

// The answers to the hello-world event, as a reader sees them (ids and times vary).
function expectHelloWorldAnswers(answers: Array<Record<string, unknown>>): void {
  expect(answers.map((a) => a.type)).toEqual([
    'sh.keptn.event.hello-world.started',
    'sh.keptn.event.hello-world.finished',
  ]);
  expect(answers[1]?.data).toMatchObject({ status: 'succeeded', result: 'pass', greeting: { greeted: 'world' } });
  expect((answers[1]?.data as { message?: string }).message).toContain('Hello World from podtatohead/dev/helloservice');
}

const HELLO = 'job-config/events/hello-world.triggered.json';

let started: Promise<{ port: number; service: Background; lockBefore: string }> | undefined;
/** The README's first command, left running for the curl that follows it (the second terminal). */
function startService(): Promise<{ port: number; service: Background; lockBefore: string }> {
  started ??= (async () => {
    const lockBefore = readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8');
    const port = await freePort();
    const service = background(
      "npm install && JOB_ALLOWED_IMAGE_LIST='alpine:*' npm start",
      userEnv({ JOB_EXECUTOR_PORT: String(port) }),
    );
    running.push(service);
    await healthy(port, service, 150_000);
    return { port, service, lockBefore };
  })();
  return started;
}

/** The checks of the commands classified `integration`, by their text as written. */
const checks: Record<string, () => Promise<void>> = {
  "npm install && JOB_ALLOWED_IMAGE_LIST='alpine:*' npm start": async () => {
    const { port, service, lockBefore } = await startService();
    await healthy(port, service, 5_000);
    // a checkout's npm install leaves the lock file as it is (and this test leaves the checkout as it was)
    const lock = path.join(ROOT, 'package-lock.json');
    const lockAfter = readFileSync(lock, 'utf8');
    if (lockAfter !== lockBefore) writeFileSync(lock, lockBefore);
    expect(lockAfter === lockBefore, 'npm install changed package-lock.json (restored)').toBe(true);
  },
  "curl -s -X POST localhost:8080 -H 'content-type: application/cloudevents+json' -d @job-config/events/hello-world.triggered.json":
    async () => {
      const { port, service } = await startService();
      const curl =
        "curl -s -X POST localhost:8080 -H 'content-type: application/cloudevents+json' -d @job-config/events/hello-world.triggered.json";
      const accepted = JSON.parse((await run(withPort(curl, port))).stdout) as Record<string, unknown>;
      expect(accepted).toMatchObject({ status: 'accepted', runId: expect.any(String) });
      await vi.waitFor(() => expect(answerLines(service.output().stdout)).toHaveLength(2), {
        timeout: 20_000,
        interval: 100,
      });
      expectHelloWorldAnswers(answerLines(service.output().stdout));
    },
  'npm start -- --port 9090': async () => {
    const port = await freePort();
    const service = background(withPort('npm start -- --port 9090', port), userEnv());
    running.push(service);
    await healthy(port, service, 90_000);
    await service.stop();
  },
  "npx job-executor run --event job-config/events/hello-world.triggered.json --allowed-images 'alpine:*'": async () => {
    const command =
      "npx job-executor run --event job-config/events/hello-world.triggered.json --allowed-images 'alpine:*'";
    const { stdout, stderr } = await run(command);
    const shown = shownOutput(command);
    const seconds = (l: string) => l.replace(/ in \d+(\.\d+)?s$/, ' in …s');
    expect(stderr.trimEnd().split('\n').map(seconds)).toEqual(shown.filter((l) => !l.startsWith('{')).map(seconds));
    const vary = (a: Record<string, unknown>) => ({ ...a, id: '…', time: '…' });
    expect(answerLines(stdout).map(vary)).toEqual(answerLines(shown.join('\n')));
  },
  'job-executor run': async () => {
    const { stdout } = await run('npx job-executor run --help');
    expect(stdout).toMatch(/^job-executor run: one event/);
  },
  'npx job-executor …': async () => {
    const { stdout } = await run('npx job-executor --help');
    for (const c of ['serve', 'run', 'lint', 'render', 'schema', 'settings'])
      expect(stdout).toMatch(new RegExp(`^  job-executor ${c} `, 'm'));
  },
  'job-executor lint FILE|DIR...': async () => {
    const { stdout } = await run('npx job-executor lint job-config job-config/examples/self-healing.handlebars.yaml');
    expect(stdout.trimEnd().split('\n')).toEqual([
      'job-config/fulltour/production/helloservice/job/config.yaml: valid',
      'job-config/job/config.yaml: valid',
      'job-config/examples/self-healing.handlebars.yaml: valid',
    ]);
    // the problem line the README shows: file:line:column: actions[0].tasks[1].image: …
    const dir = mkdtempSync(path.join(scratch, 'lint-'));
    mkdirSync(path.join(dir, 'job'));
    const task = (name: string, image: string) => `      - { name: ${name},${image} cmd: ["true"] }\n`;
    writeFileSync(
      path.join(dir, 'job/config.yaml'),
      `apiVersion: v2\nactions:\n  - name: a\n    events: [{ name: sh.keptn.event.x.triggered }]\n    tasks:\n${task('t0', ' image: alpine,')}${task('t1', '')}`,
    );
    const problem = await run(`npx job-executor lint ${dir}`, {}, 1);
    expect(problem.stdout).toBe(`${dir}/job/config.yaml:7:9: actions[0].tasks[1].image: required\n`);
    const json = JSON.parse((await run(`npx job-executor lint --format json ${dir}`, {}, 1)).stdout) as {
      files: Array<{ valid: boolean; problems: unknown[] }>;
    };
    expect(json.files).toEqual([
      expect.objectContaining({
        valid: false,
        problems: [expect.objectContaining({ path: 'actions[0].tasks[1].image', line: 7, column: 9 })],
      }),
    ]);
  },
  'job-executor render --event FILE [--config FILE|DIR] --allowed-images LIST': async () => {
    const { stdout } = await run(
      `npx job-executor render --event ${HELLO} --config job-config --allowed-images 'alpine:*'`,
    );
    const rendered = parseYaml(stdout) as {
      policy: string;
      actions: Array<{ tasks: Array<{ name: string; args: string[] }> }>;
    };
    expect(rendered.policy).toBe('allowed');
    expect(rendered.actions[0]?.tasks.map((t) => t.name)).toEqual(['Greet the world', 'Say who asked']);
    // what the README says happens without --allowed-images
    const refused = await run(`npx job-executor render --event ${HELLO} --config job-config`, {}, 1);
    expect((parseYaml(refused.stdout) as { policy: string }).policy).toMatch(
      /^Forbidden: Image alpine:3\.20 .*JOB_ALLOWED_IMAGE_LIST/,
    );
  },
  'job-executor schema [--markdown]': async () => {
    expect((await run('npx job-executor schema')).stdout).toBe(
      readFileSync(path.join(ROOT, 'job-config/job-config.schema.json'), 'utf8'),
    );
    expect((await run('npx job-executor schema --markdown')).stdout.trimEnd()).toBe(
      readFileSync(path.join(ROOT, 'job-config/REFERENCE.md'), 'utf8').trimEnd(),
    );
  },
  'job-executor settings': async () => {
    const table = /<!-- settings:start -->\n([\s\S]*?)\n<!-- settings:end -->/.exec(README)?.[1];
    expect((await run('npx job-executor settings')).stdout.trimEnd()).toBe(table);
  },
  'job-executor render --runner kubernetes': async () => {
    const event = JSON.parse(readFileSync(path.join(ROOT, HELLO), 'utf8')) as { data: Record<string, unknown> };
    event.data.requester = '$(API_KEY)';
    const file = path.join(mkdtempSync(path.join(scratch, 'event-')), 'event.json');
    writeFileSync(file, JSON.stringify(event));
    const { stdout } = await run(
      `npx job-executor render --runner kubernetes --event ${file} --allowed-images 'alpine:*'`,
    );
    const jobs = parseAllDocuments(stdout).map(
      (d) => d.toJS() as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } },
    );
    expect(jobs[1]?.spec.template.spec.containers[0]?.args[0]).toContain(`triggered by" '$$(API_KEY)'`);
  },
  'job-executor render --runner kubernetes --event FILE --config DIR --allowed-images LIST': async () => {
    const { stdout } = await run(
      `npx job-executor render --runner kubernetes --event ${HELLO} --config job-config --allowed-images 'alpine:*'`,
      {
        env: userEnv({ KUBECONFIG: path.join(scratch, 'no-such-kubeconfig') }),
      },
    );
    expect(stdout).toMatch(/^# policy: allowed$/m);
    const objects = parseAllDocuments(stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    expect(objects.map((o) => o.kind)).toEqual(['Job', 'Job']);
    for (const o of objects) expect(o.metadata.name).toMatch(/^je-f2b878d3-/);
  },
  'npm run bench': async () => {
    // a copy of what the benchmark reads and writes; dist/ with its build info, so that the build is incremental
    const copy = mkdtempSync(path.join(scratch, 'bench-'));
    for (const p of [
      'package.json',
      'tsconfig.json',
      'scripts/tsconfig.build.json',
      'src',
      'dist',
      'test/fixtures/keptn-double.ts',
    ])
      cpSync(path.join(ROOT, p), path.join(copy, p), { recursive: true, preserveTimestamps: true });
    mkdirSync(path.join(copy, 'bench'));
    for (const f of readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.mjs')))
      cpSync(path.join(ROOT, 'bench', f), path.join(copy, 'bench', f));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
    await run('npm run bench', {
      cwd: copy,
      env: userEnv({ BENCH_SECONDS: '1', BENCH_RATE: '20' }),
      timeoutMs: 120_000,
    });
    const results = readdirSync(path.join(copy, 'bench/results'));
    expect(results).toEqual([expect.stringMatching(/^intake-.*\.json$/)]);
    const result = JSON.parse(readFileSync(path.join(copy, 'bench/results', results[0] ?? ''), 'utf8')) as {
      trivialTask: { startedReceived: number; finishedReceived: number };
    };
    expect(result.trivialTask.startedReceived).toBeGreaterThan(0);
    expect(result.trivialTask.finishedReceived).toBe(result.trivialTask.startedReceived);
  },
  'scripts/testenv': async () => {
    const { stderr } = await run('scripts/testenv', {}, 1);
    for (const c of ['deps', 'up', 'down', 'env', 'status'])
      expect(stderr).toMatch(new RegExp(`usage: scripts/testenv \\{.*\\b${c}\\b`));
  },
  "npx job-executor render --config job-config/examples/self-healing.handlebars.yaml --event job-config/events/action.triggered.json --allowed-images 'alpine/helm:*'":
    async () => {
      const { stdout } = await run(
        "npx job-executor render --config job-config/examples/self-healing.handlebars.yaml --event job-config/events/action.triggered.json --allowed-images 'alpine/helm:*'",
      );
      const rendered = parseYaml(stdout) as {
        policy: string;
        actions: Array<{ tasks: Array<{ name: string; args: string[]; files: string[] }> }>;
      };
      expect(rendered.policy).toBe('allowed');
      expect(rendered.actions[0]?.tasks[0]).toMatchObject({
        name: 'Scale helloservice in fulltour-production to 2 replicas',
        files: ['/charts'],
      });
      expect(rendered.actions[0]?.tasks[0]?.args).toContain('replicaCount=2');
    },
  "npx job-executor render --config job-config/examples/self-healing.handlebars.yaml --event job-config/events/action.triggered.json --allowed-images 'alpine/helm:*' --runner kubernetes":
    async () => {
      const { stdout } = await run(
        "npx job-executor render --config job-config/examples/self-healing.handlebars.yaml --event job-config/events/action.triggered.json --allowed-images 'alpine/helm:*' --runner kubernetes",
      );
      const objects = parseAllDocuments(stdout).map(
        (d) => d.toJS() as { kind: string; binaryData?: Record<string, string> },
      );
      expect(objects.map((o) => o.kind)).toEqual(['Job', 'ConfigMap']);
      const chart = readFileSync(
        path.join(ROOT, 'job-config/fulltour/production/helloservice/charts/helloservice.tgz'),
      );
      expect(Object.values(objects[1]?.binaryData ?? {}).map((b) => Buffer.from(b, 'base64').equals(chart))).toContain(
        true,
      );
    },
};

describe('the commands the README and the job-config comments show', () => {
  it('are each classified: a command not in the table fails here, named, and so does an entry the docs dropped', () => {
    const { missing, stale } = unclassified(COMMANDS);
    expect(
      missing.map((c) => `${c.at}: ${c.text}`),
      'documented commands without a classification in test/helpers/readme-commands.ts',
    ).toEqual([]);
    expect(stale, 'classified commands the docs no longer show').toEqual([]);
  });

  it('that are test suites are run by CI (the README says so), and the one that cannot run here names what checks it', () => {
    for (const text of [...commandsRunIn('ci', COMMANDS), ...commandsRunIn('unavailable', COMMANDS)]) {
      const by = DOCUMENTED_COMMANDS[text]?.ranBy;
      expect(by, `${text}: ranBy`).toBeDefined();
      expect(readFileSync(path.join(ROOT, by?.file ?? ''), 'utf8'), `${by?.file} runs \`${text}\``).toContain(
        by?.holds,
      );
    }
    expect(statSync(path.join(ROOT, '.ci/run')).mode & 0o111).not.toBe(0);
  });

  it("the self-healing example's files are the seed's", () => {
    for (const f of ['charts/helloservice.tgz', 'locust/basic.py', 'locust/locust.conf']) {
      expect(
        readFileSync(path.join(ROOT, 'job-config/examples', f)).equals(
          readFileSync(path.join(ROOT, 'job-config/fulltour/production/helloservice', f)),
        ),
        f,
      ).toBe(true);
    }
  });

  describe.each(commandsRunIn('integration', COMMANDS))('%s', (text) => {
    it(`works as written (${DOCUMENTED_COMMANDS[text]?.how ?? ''})`, async () => {
      const check = checks[text];
      if (!check) throw new Error(`no check in test/integration/readme-commands.test.ts for \`${text}\``);
      await check();
    }, 180_000);
  });

  it('every check here is of a command the docs show', () => {
    expect(Object.keys(checks).filter((t) => !commandsRunIn('integration', COMMANDS).includes(t))).toEqual([]);
    expect(existsSync(path.join(ROOT, 'dist/src/cli/main.js')), 'the CLI is built (npm run build)').toBe(true);
  });
});
