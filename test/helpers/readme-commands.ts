/**
 * The shell commands the documentation shows, found the way a reader finds them: in README.md, every line of a
 * ```sh block, every `$ ` line of a ```text block (with its `\` continuation lines), and every inline code span
 * that starts with a command; in the comments of job-config/**, every "Try it" line and every comment line that
 * starts with `job-executor` or `npx job-executor`. Each one must be classified in DOCUMENTED_COMMANDS, so a
 * command added to the README without a check fails test/integration/readme-commands.test.ts, naming it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface DocumentedCommand {
  /** The command as written (continuations joined, a trailing `# comment` and the `$ ` prompt removed). */
  readonly text: string;
  /** Where it is written, `file:line`. */
  readonly at: string;
}

/** Where a command is run, and how its result is checked (the table the final report repeats). */
export interface Classification {
  /**
   * `integration`: test/integration/readme-commands.test.ts runs it; `cluster`: test/cluster/readme-commands.test.ts
   * runs it against the test control plane; `ci`: a test suite itself, never run from a test (that would be
   * recursive): `ranBy` says where CI runs it, and the integration test checks that it does; `unavailable`: needs
   * what neither this machine nor CI has, `ranBy` names the test that checks what can be checked.
   */
  readonly where: 'integration' | 'cluster' | 'ci' | 'unavailable';
  readonly how: string;
  /** `ci` and `unavailable`: the file that runs (or checks) it, and the text that file holds to do so. */
  readonly ranBy?: { readonly file: string; readonly holds: string };
}

// First words of an inline code span that make it a command (and not a flag, a path or an endpoint).
const COMMAND_WORDS = new Set([
  'npm',
  'npx',
  'node',
  'bash',
  'sh',
  'curl',
  'helm',
  'kubectl',
  'docker',
  'eval',
  'job-executor',
]);
const ENV_PREFIX = /^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*/;

function isCommand(span: string, root: string): boolean {
  const words = span.replace(ENV_PREFIX, '').split(' ');
  const first = words[0] ?? '';
  // a bare `curl` or `helm` names a program; `job-executor lint FILE` or `npm test` is a command
  if (COMMAND_WORDS.has(first)) return words.length > 1;
  // a script of the repository named by its path, when it is an executable file (not scripts/testenv.versions)
  if (!/^\.?[\w-]+\/[\w./-]+$/.test(first)) return false;
  try {
    const stat = statSync(path.join(root, first));
    return stat.isFile() && (stat.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** `# comment` at the end of a shell line (after whitespace, outside quotes: the README puts none in quotes). */
const stripComment = (line: string): string => line.replace(/\s+#\s.*$/, '').trimEnd();

function joinContinued(lines: string[], start: number): { text: string; next: number } {
  let text = lines[start] ?? '';
  let i = start;
  while (text.endsWith('\\') && i + 1 < lines.length) {
    i += 1;
    text = `${text.slice(0, -1).trimEnd()} ${(lines[i] ?? '').trim()}`;
  }
  return { text, next: i + 1 };
}

function blockCommands(lang: string, body: string[], firstLine: number, file: string): DocumentedCommand[] {
  const found: DocumentedCommand[] = [];
  const shell = ['sh', 'bash', 'shell', 'console'].includes(lang);
  for (let i = 0; i < body.length;) {
    const line = body[i] ?? '';
    const prompt = line.startsWith('$ ');
    if (!(shell || (lang === 'text' && prompt)) || /^\s*(#|$)/.test(line)) {
      i += 1;
      continue;
    }
    const { text, next } = joinContinued(body, i);
    found.push({ text: stripComment(prompt ? text.slice(2) : text.trim()), at: `${file}:${firstLine + i}` });
    i = next;
  }
  return found;
}

function inlineCommands(prose: string, firstLine: number, file: string, root: string): DocumentedCommand[] {
  const found: DocumentedCommand[] = [];
  for (const m of prose.matchAll(/(?<!`)`([^`]+)`(?!`)/g)) {
    const span = (m[1] ?? '').replace(/\s+/g, ' ').trim();
    if (!isCommand(span, root)) continue;
    const line = firstLine + prose.slice(0, m.index).split('\n').length - 1;
    found.push({ text: span, at: `${file}:${line}` });
  }
  return found;
}

/** Every command of a Markdown file, in order; fenced blocks without a shell or text language are skipped. */
export function markdownCommands(markdown: string, file: string, root: string): DocumentedCommand[] {
  const lines = markdown.split('\n');
  const found: DocumentedCommand[] = [];
  let prose: string[] = [];
  let proseStart = 1;
  const flushProse = () => {
    found.push(...inlineCommands(prose.join('\n'), proseStart, file, root));
    prose = [];
  };
  for (let i = 0; i < lines.length; i += 1) {
    const fence = /^```(\w*)\s*$/.exec(lines[i] ?? '');
    if (!fence) {
      if (prose.length === 0) proseStart = i + 1;
      // indented blocks (settings listed as KEY=value lines) are not commands
      prose.push(/^ {4}/.test(lines[i] ?? '') ? '' : (lines[i] ?? ''));
      continue;
    }
    flushProse();
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    const close = end === -1 ? lines.length : end;
    found.push(...blockCommands(fence[1] ?? '', lines.slice(i + 1, close), i + 2, file));
    i = close;
  }
  flushProse();
  return found;
}

function filesBelow(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesBelow(p) : [p];
  });
}

/** "Try it" lines and `job-executor …` lines in the `#` comments of the files below `dir` (YAML, shell, …). */
export function commentCommands(root: string, dir: string): DocumentedCommand[] {
  const found: DocumentedCommand[] = [];
  for (const file of filesBelow(path.join(root, dir)).sort()) {
    if (!/\.(ya?ml|sh|py|conf|json)$/.test(file)) continue;
    const rel = path.relative(root, file);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const command = /^\s*#\s*(?:.*\bTry it\b[^:]*:)?\s*((?:npx )?job-executor\s.*)$/i.exec(line)?.[1];
        // a "Try it" that names something else than job-executor must be classified too
        const other = /^\s*#.*\bTry it\b[^:]*:\s*(\S.*)$/i.exec(line)?.[1];
        const text = command ?? other;
        if (text) found.push({ text: text.trim(), at: `${rel}:${i + 1}` });
      });
  }
  return found;
}

/** README.md's commands and those of the comments of job-config/**. */
export function documentedCommands(root: string): DocumentedCommand[] {
  return [
    ...markdownCommands(readFileSync(path.join(root, 'README.md'), 'utf8'), 'README.md', root),
    ...commentCommands(root, 'job-config'),
  ];
}

/**
 * Every documented command, by its text as written: where it runs and how its result is checked. Placeholders a
 * reader fills in are filled in the same way everywhere: `<registry>` is registry.example, and a port the
 * README names (8080, 9090) is a free port, so that the tests do not depend on what else listens here.
 */
export const DOCUMENTED_COMMANDS: Readonly<Record<string, Classification>> = {
  // --- README: Start it
  "npm install && JOB_ALLOWED_IMAGE_LIST='alpine:*' npm start": {
    where: 'integration',
    how: 'run as written in the repository with JOB_EXECUTOR_PORT set to a free port: installs, builds, serves; GET /healthz answers 200',
  },
  'npm start -- --port 9090': {
    where: 'integration',
    how: 'run with a free port for 9090: the service answers GET /healthz on that port',
  },
  "curl -s -X POST localhost:8080 -H 'content-type: application/cloudevents+json' -d @job-config/events/hello-world.triggered.json":
    {
      where: 'integration',
      how: 'run against the service started above: prints {"runId", "status":"accepted"}; the service prints the .started and a succeeded .finished on its stdout',
    },
  // --- README: Test it, Testing
  'npm run test:all': {
    where: 'ci',
    how: '.ci/run runs it; not run from a test (it runs this test)',
    ranBy: { file: '.ci/run', holds: '\nnpm run test:all\n' },
  },
  'npm test': {
    where: 'ci',
    how: 'scripts/test-all.sh (npm run test:all) runs it; not run from a test (it runs this test)',
    ranBy: { file: 'scripts/test-all.sh', holds: '\nnpm test\n' },
  },
  'npm run test:cluster': {
    where: 'ci',
    how: 'scripts/test-all.sh runs it; not run from a test (it runs the cluster half of this test)',
    ranBy: { file: 'scripts/test-all.sh', holds: '\nnpm run test:cluster\n' },
  },
  'scripts/test-all.sh': {
    where: 'ci',
    how: 'what npm run test:all runs (package.json)',
    ranBy: { file: 'package.json', holds: '"test:all": "bash scripts/test-all.sh"' },
  },
  '.ci/run': {
    where: 'ci',
    how: "CI's entry point: npm ci, then npm run test:all",
    ranBy: { file: '.ci/run', holds: '\nnpm ci --no-audit --no-fund\nnpm run test:all\n' },
  },
  'scripts/install-browser.sh': {
    where: 'ci',
    how: 'scripts/test-all.sh runs it before the suites (it installs Debian packages as root, or does nothing when they are there)',
    ranBy: { file: 'scripts/test-all.sh', holds: '\nbash scripts/install-browser.sh\n' },
  },
  'npm ci && npm run test:all': {
    where: 'ci',
    how: '.ci/run runs npm ci, then npm run test:all',
    ranBy: { file: '.ci/run', holds: '\nnpm ci --no-audit --no-fund\nnpm run test:all\n' },
  },
  // --- README: Try one event without a server, other commands
  "npx job-executor run --event job-config/events/hello-world.triggered.json --allowed-images 'alpine:*'": {
    where: 'integration',
    how: "run as written: exit 0, stderr and stdout are the README's output but for ids, times and durations",
  },
  'job-executor run': {
    where: 'integration',
    how: "the command's name: npx job-executor run --help describes it (its runs are the entries above and below)",
  },
  'npx job-executor …': {
    where: 'integration',
    how: 'the program: npx job-executor --help lists every command the README names',
  },
  'job-executor lint FILE|DIR...': {
    where: 'integration',
    how: 'as npx job-executor lint job-config job-config/examples/self-healing.handlebars.yaml: every config valid, exit 0; a config lacking an image gets the file:line:column: path: message line, exit 1, and --format json',
  },
  'job-executor render --event FILE [--config FILE|DIR] --allowed-images LIST': {
    where: 'integration',
    how: "as npx job-executor render --event job-config/events/hello-world.triggered.json --config job-config --allowed-images 'alpine:*': exit 0, both tasks rendered, policy allowed; without --allowed-images exit 1 naming the image and JOB_ALLOWED_IMAGE_LIST",
  },
  'job-executor schema [--markdown]': {
    where: 'integration',
    how: 'both forms: their output is job-config/job-config.schema.json and job-config/REFERENCE.md',
  },
  'job-executor settings': { where: 'integration', how: "its output is the README's settings table" },
  'job-executor render --runner kubernetes': {
    where: 'integration',
    how: 'with an event whose data holds $(API_KEY): the rendered Job has $$(API_KEY), as the README says',
  },
  'job-executor render --runner kubernetes --event FILE --config DIR --allowed-images LIST': {
    where: 'integration',
    how: "as npx job-executor render --runner kubernetes --event job-config/events/hello-world.triggered.json --config job-config --allowed-images 'alpine:*', no cluster: exit 0, two Jobs (YAML)",
  },
  // --- README: the self-healing walk-through (a shell session on the test cluster, in order)
  'eval "$(scripts/testenv env)"; export PATH=$TESTENV_BIN:$PATH': {
    where: 'cluster',
    how: "kubectl and helm are then the test environment's, and kubectl reaches the cluster",
  },
  'kubectl get deploy -A | grep helloservice': {
    where: 'cluster',
    how: 'with the helloservice chart in fulltour-qa and fulltour-production: both 1/1, then production 2/2 after the helm task',
  },
  "npx job-executor run --event job-config/events/action.triggered.json --config job-config --allowed-images 'alpine/helm:3.9.0,locustio/locust:2.8.6' --pass-env PATH,HOME,KUBECONFIG":
    {
      where: 'cluster',
      how: 'run as written (helm really runs, local runner): exit 0, a succeeded .finished with helm\'s "has been upgraded", production scaled to 2',
    },
  "npx job-executor run --event job-config/events/test.triggered.json --config job-config --allowed-images 'alpine/helm:3.9.0,locustio/locust:2.8.6'":
    {
      where: 'cluster',
      how: "run as written, locust's minute included, against a stand-in HTTP server for helloservice.fulltour-production (/etc/hosts, port 80: root): exit 0, a succeeded test.finished with data.test and locust's Aggregated line",
    },
  // --- README: Deploy to Kubernetes
  'docker build -f deploy/Dockerfile -t <registry>/job-executor:0.1.0 .': {
    where: 'unavailable',
    how: 'not run: no Docker engine here or in CI (a client without a daemon); test/unit/chart-image.test.ts lints deploy/Dockerfile instead',
    ranBy: { file: 'test/unit/chart-image.test.ts', holds: "'deploy/Dockerfile'" },
  },
  "helm install job-executor deploy/helm/job-executor -n keptn --set transport=keptn-api --set keptnApi.endpoint=http://api-gateway-nginx.keptn/api --set keptnApi.existingSecret=keptn-api-token --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*,docker.io/locustio/locust:*}' --set-file 'jobConfig.files.job/config\\.yaml=job-config/job/config.yaml'":
    {
      where: 'cluster',
      how: 'installed as written into a restricted namespace keptn holding the Secret keptn-api-token: the Deployment rolls out (kwok runs no container, and there is no Keptn: the keptn-api mode itself is tested in test/integration/keptn-api.test.ts), the config is in its ConfigMap; then uninstalled',
    },
  "helm install job-executor deploy/helm/job-executor -n keptn --set transport=nats --set nats.url=nats://keptn-nats.keptn:4222 --set keptnApi.endpoint=http://api-gateway-nginx.keptn/api --set keptnApi.existingSecret=keptn-api-token --set jobConfig.source=keptn --set jobConfig.resourceServiceUrl=http://resource-service.keptn:8080 --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'":
    {
      where: 'cluster',
      how: 'installed as written: the Deployment rolls out with transport nats and the NATS URL; then uninstalled (no Keptn NATS here: test/integration/keptn-nats.test.ts covers the mode)',
    },
  "helm install job-executor deploy/helm/job-executor -n keptn --set distributor.enabled=true --set jobConfig.source=keptn --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'":
    {
      where: 'cluster',
      how: 'installed as written: the Deployment rolls out with the distributor sidecar; then uninstalled (no Keptn: test/integration/keptn-http.test.ts covers the mode)',
    },
  "helm install job-executor deploy/helm/job-executor -n jobs --create-namespace --set auth.existingSecret=job-executor-auth --set sink=http:http://receiver.example/events --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'":
    {
      where: 'cluster',
      how: 'installed as written, with the Secret job-executor-auth made first: the Deployment rolls out with the token from it and the sink; then uninstalled',
    },
  'kubectl apply -n keptn -f deploy/manifests/job-executor.yaml': {
    where: 'cluster',
    how: 'applied as written into the namespace keptn with its Secret: the Deployment rolls out; then deleted',
  },
  // --- README: Benchmarks
  'npm run bench': {
    where: 'integration',
    how: 'run in a copy of the repository (it writes bench/results) with BENCH_SECONDS=1 BENCH_RATE=20: exit 0 and a results file',
  },
  'node bench/kubernetes.bench.mjs': {
    where: 'cluster',
    how: 'run in a copy of the repository with BENCH_EVENTS=5 BENCH_REPS=1 after eval "$(scripts/testenv env)": exit 0 and a results file',
  },
  'BENCH_SUBJECTS=service,floor,floor+libs node bench/kubernetes.bench.mjs': {
    where: 'cluster',
    how: "run in a copy of the repository with BENCH_EVENTS=5 BENCH_REPS=1: the service and both floors answer every event without a breach of Keptn's rules, and their requests are in the audit log",
  },
  // --- README: the cluster suite
  'scripts/testenv': {
    where: 'integration',
    how: 'without a command it prints its usage, naming every command the README uses',
  },
  'bash scripts/testenv deps': {
    where: 'cluster',
    how: 'run as written: exit 0 (installs a missing Debian package, as root)',
  },
  'scripts/testenv up': {
    where: 'cluster',
    how: 'a second control plane in its own run folder on free ports (TESTENV_*): up, status, env and down in turn; skipped against an external cluster',
  },
  'eval "$(scripts/testenv env)"': {
    where: 'cluster',
    how: "then kubectl lists the second control plane's Ready kwok node",
  },
  'scripts/testenv status': { where: 'cluster', how: 'every component running and /readyz ok; after down, stopped' },
  'scripts/testenv down': { where: 'cluster', how: 'exit 0, its ports free, status says stopped' },
  'JOB_EXECUTOR_TESTENV=external KUBECONFIG=$HOME/.kube/config npm run test:cluster': {
    where: 'cluster',
    how: "run with HOME holding a copy of the cluster's kubeconfig and, appended, a filter (extra arguments go to vitest): three tests of the smoke suite that hold on any cluster pass",
  },
  // --- comments in job-config/**
  "npx job-executor render --config job-config/examples/self-healing.handlebars.yaml --event job-config/events/action.triggered.json --allowed-images 'alpine/helm:*'":
    {
      where: 'integration',
      how: "run as written: exit 0, the scaling task rendered with the event's values",
    },
  "npx job-executor render --config job-config/examples/self-healing.handlebars.yaml --event job-config/events/action.triggered.json --allowed-images 'alpine/helm:*' --runner kubernetes":
    {
      where: 'integration',
      how: "run as written, no cluster: exit 0, the Job and the ConfigMap holding charts/helloservice.tgz (the copy beside the example is the seed's)",
    },
};

/** The commands the docs show that the table does not classify, and the table's entries the docs no longer show. */
export function unclassified(commands: readonly DocumentedCommand[]): {
  missing: DocumentedCommand[];
  stale: string[];
} {
  const shown = new Set(commands.map((c) => c.text));
  return {
    missing: commands.filter((c) => !(c.text in DOCUMENTED_COMMANDS)),
    stale: Object.keys(DOCUMENTED_COMMANDS).filter((t) => !shown.has(t)),
  };
}

/** The commands classified `where`, in the order the docs show them first. */
export function commandsRunIn(where: Classification['where'], commands: readonly DocumentedCommand[]): string[] {
  return [...new Set(commands.map((c) => c.text))].filter((t) => DOCUMENTED_COMMANDS[t]?.where === where);
}
