import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandsRunIn, documentedCommands, DOCUMENTED_COMMANDS } from '../helpers/readme-commands.js';
import {
  freePort,
  ROOT,
  run as runIn,
  scratchDir,
  sh,
  userEnv as envIn,
  type Result,
  type ShOptions,
} from '../helpers/shell-session.js';

/**
 * The README's commands that need a cluster (DOCUMENTED_COMMANDS, `where: 'cluster'`), run as written, through
 * bash, against the cluster of the suite (scripts/testenv, or KUBECONFIG with JOB_EXECUTOR_TESTENV=external):
 * the self-healing walk-through as the shell session it shows, the chart installed in each of the four ways and
 * the plain manifest applied, the Kubernetes benchmark, and scripts/testenv's own commands on a second control
 * plane of this test's own. `<registry>` is filled in as registry.example. A cluster command without a check
 * here fails, naming it.
 */
const COMMANDS = documentedCommands(ROOT);
const EXTERNAL = process.env.JOB_EXECUTOR_TESTENV === 'external';
const scratch = scratchDir('je-readme-cluster-');
const userEnv = (extra: Record<string, string> = {}) => envIn(scratch, extra);
const run = (command: string, options: ShOptions = {}, expected = 0) =>
  runIn(command, { env: userEnv(), timeoutMs: 180_000, ...options }, expected);

/** The walk-through's first line: what the rest of its session runs after. Against an external cluster, helm's PATH only. */
const SESSION = 'eval "$(scripts/testenv env)"; export PATH=$TESTENV_BIN:$PATH';
const session = (command: string) =>
  EXTERNAL
    ? `${process.env.TESTENV_BIN ? 'export PATH=$TESTENV_BIN:$PATH; ' : ''}${command}`
    : `${SESSION}\n${command}`;
const inSession = (command: string, expected = 0, options: ShOptions = {}) =>
  run(session(command.replaceAll('<registry>', 'registry.example')), options, expected);

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch((err: unknown) => console.error('cleanup:', err));
});

// ---------------------------------------------------------------------------------------- the walk-through

const PROJECT_NAMESPACES = ['fulltour-qa', 'fulltour-production'];
const STAND_IN = 'helloservice.fulltour-production';
let walkthrough: Promise<void> | undefined;

/** What the walk-through starts from: the helloservice chart in fulltour-qa and fulltour-production, one replica each. */
function helloserviceInstalled(): Promise<void> {
  walkthrough ??= (async () => {
    for (const ns of PROJECT_NAMESPACES) {
      await inSession(`kubectl delete namespace ${ns} --ignore-not-found --wait --timeout=120s`);
      await inSession(
        `helm install helloservice test/fixtures/charts/helloservice -n ${ns} --create-namespace --wait --timeout 120s`,
      );
    }
    cleanups.push(() =>
      inSession(`kubectl delete namespace ${PROJECT_NAMESPACES.join(' ')} --ignore-not-found --wait=false`),
    );
  })();
  return walkthrough;
}

const helloserviceLines = (r: Result) =>
  r.stdout.split('\n').filter((l) => PROJECT_NAMESPACES.some((ns) => l.startsWith(`${ns} `)));

async function expectReplicas(production: string): Promise<void> {
  const lines = helloserviceLines(await inSession('kubectl get deploy -A | grep helloservice'));
  expect(lines).toEqual([
    expect.stringMatching(new RegExp(`^fulltour-production\\s+helloservice\\s+${production}\\s`)),
    expect.stringMatching(/^fulltour-qa\s+helloservice\s+1\/1\s/),
  ]);
}

/** helloservice.fulltour-production, for locust: this machine (/etc/hosts) and a small HTTP server on port 80 (root). */
async function standIn(): Promise<string[]> {
  const hits: string[] = [];
  const hosts = readFileSync('/etc/hosts', 'utf8');
  writeFileSync('/etc/hosts', `${hosts.trimEnd()}\n127.0.0.1 ${STAND_IN} # job-executor README commands test\n`);
  cleanups.push(async () => writeFileSync('/etc/hosts', hosts));
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.end('Hello from the helloservice stand-in\n');
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(80, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return hits;
}

const answers = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });

// ---------------------------------------------------------------------------------------- deploying

let keptn: Promise<void> | undefined;
const RESTRICTED = 'pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest';

/** What a Keptn cluster has and the README's installs name: the namespace keptn with Keptn's API token Secret; the auth Secret of the fourth. */
function keptnNamespace(): Promise<void> {
  keptn ??= (async () => {
    for (const ns of ['keptn', 'jobs']) {
      await inSession(`kubectl delete namespace ${ns} --ignore-not-found --wait --timeout=120s`);
      await inSession(`kubectl create namespace ${ns} && kubectl label namespace ${ns} ${RESTRICTED}`);
    }
    cleanups.push(() => inSession('kubectl delete namespace keptn jobs --ignore-not-found --wait=false'));
    await inSession(
      'kubectl -n keptn create secret generic keptn-api-token --from-literal=keptn-api-token=not-a-real-token',
    );
    await inSession(
      'kubectl -n jobs create secret generic job-executor-auth --from-literal=auth-token=not-a-real-token',
    );
  })();
  return keptn;
}

interface Container {
  name: string;
  image: string;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
}

/** Installs with the README's command, waits for the rollout, returns the pod template's containers, uninstalls. */
async function installed(
  command: string,
  namespace: string,
): Promise<{ containers: Container[]; configMaps: Array<{ data?: Record<string, string> }> }> {
  await keptnNamespace();
  await inSession(command);
  try {
    await inSession(`kubectl -n ${namespace} rollout status deploy/job-executor --timeout=120s`);
    const deploy = JSON.parse((await inSession(`kubectl -n ${namespace} get deploy job-executor -o json`)).stdout) as {
      spec: { template: { spec: { containers: Container[] } } };
    };
    const configMaps = JSON.parse((await inSession(`kubectl -n ${namespace} get configmap -o json`)).stdout) as {
      items: Array<{ data?: Record<string, string> }>;
    };
    return { containers: deploy.spec.template.spec.containers, configMaps: configMaps.items };
  } finally {
    await inSession(`helm uninstall job-executor -n ${namespace} --wait`);
  }
}

const envOf = (c: Container | undefined, name: string) => c?.env?.find((e) => e.name === name);

/** A copy of what bench/kubernetes.bench.mjs reads (it writes bench/results there), under `name`. */
function benchCopy(name: string): string {
  const copy = path.join(scratch, name);
  for (const p of ['package.json', 'dist', 'test/fixtures/keptn-double.ts'])
    cpSync(path.join(ROOT, p), path.join(copy, p), { recursive: true });
  mkdirSync(path.join(copy, 'bench'));
  for (const f of readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.mjs')))
    cpSync(path.join(ROOT, 'bench', f), path.join(copy, 'bench', f));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
  return copy;
}

// ---------------------------------------------------------------------------------------- a second testenv

interface SecondTestenv {
  env: NodeJS.ProcessEnv;
  runDir: string;
}
let second: Promise<SecondTestenv> | undefined;
let secondUp = false;

/** `scripts/testenv up` in a run folder of its own and on free ports (the README: "can be overridden (TESTENV_*)"). */
function secondTestenv(): Promise<SecondTestenv> {
  second ??= (async () => {
    const runDir = path.join(scratch, 'testenv');
    const ports: Record<string, string> = {};
    for (const p of ['ETCD', 'ETCD_PEER', 'APISERVER', 'KCM', 'SCHEDULER', 'KWOK'])
      ports[`TESTENV_${p}_PORT`] = String(await freePort());
    // not the suite's cluster: nothing of it may leak in
    const env = userEnv({ TESTENV_RUN_DIR: runDir, ...ports });
    for (const k of Object.keys(env))
      if (/^(KUBECONFIG|TESTENV_(BIN|NS_USER.*|AUDITED_KUBECONFIG|AUDIT_LOG))$/.test(k)) delete env[k];
    cleanups.push(async () => {
      if (secondUp) await sh('scripts/testenv down', { env, timeoutMs: 120_000 });
    });
    secondUp = true;
    await run('scripts/testenv up', { env, timeoutMs: 300_000 });
    return { env, runDir };
  })();
  return second;
}

// ---------------------------------------------------------------------------------------- the checks

const checks: Record<string, () => Promise<void>> = {
  [SESSION]: async () => {
    const { stdout } = await run(
      `${SESSION}\ncommand -v kubectl helm; kubectl get --raw /readyz; echo; echo "$KUBECONFIG"`,
    );
    const [kubectl, helm, ready, kubeconfig] = stdout.trimEnd().split('\n');
    expect([kubectl, helm]).toEqual([`${process.env.TESTENV_BIN}/kubectl`, `${process.env.TESTENV_BIN}/helm`]);
    expect(ready).toBe('ok');
    expect(kubeconfig).toBe(process.env.KUBECONFIG);
  },
  'kubectl get deploy -A | grep helloservice': async () => {
    await helloserviceInstalled();
    await expectReplicas('1/1');
  },
  "npx job-executor run --event job-config/events/action.triggered.json --config job-config --allowed-images 'alpine/helm:3.9.0,locustio/locust:2.8.6' --pass-env PATH,HOME,KUBECONFIG":
    async () => {
      await helloserviceInstalled();
      const { stdout, stderr } = await inSession(
        "npx job-executor run --event job-config/events/action.triggered.json --config job-config --allowed-images 'alpine/helm:3.9.0,locustio/locust:2.8.6' --pass-env PATH,HOME,KUBECONFIG",
      );
      expect(stderr).toMatch(/^task started: Scale with Helm \(alpine\/helm:3\.9\.0\)$/m);
      expect(stderr).toMatch(/^ {2}\[Scale with Helm\] Release "helloservice" has been upgraded\. Happy Helming!$/m);
      const [started, finished] = answers(stdout);
      expect(started?.type).toBe('sh.keptn.event.action.started');
      expect(finished?.type).toBe('sh.keptn.event.action.finished');
      expect(finished?.data).toMatchObject({
        project: 'fulltour',
        stage: 'production',
        service: 'helloservice',
        labels: {},
        status: 'succeeded',
        result: 'pass',
      });
      expect(finished?.data.message).toMatch(
        /^Task 'Scale with Helm' finished successfully!\n\nLogs:\nRelease "helloservice" has been upgraded/,
      );
      // the README's next command shows production at 2/2 (kwok makes the new pod ready within seconds)
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          await expectReplicas('2/2');
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    },
  "npx job-executor run --event job-config/events/test.triggered.json --config job-config --allowed-images 'alpine/helm:3.9.0,locustio/locust:2.8.6'":
    async () => {
      expect(
        process.getuid?.(),
        'the locust run needs root here: /etc/hosts and port 80, as for test/cluster/self-healing.test.ts',
      ).toBe(0);
      const hits = await standIn();
      const { stdout, stderr } = await inSession(
        "npx job-executor run --event job-config/events/test.triggered.json --config job-config --allowed-images 'alpine/helm:3.9.0,locustio/locust:2.8.6'",
        0,
        { timeoutMs: 240_000 },
      );
      expect(stderr).toMatch(/^task started: Run locust \(locustio\/locust:2\.8\.6\)$/m);
      expect(stderr).toMatch(/^task ended: Run locust succeeded in /m);
      const [started, finished] = answers(stdout);
      expect(started?.type).toBe('sh.keptn.event.test.started');
      expect(finished?.type).toBe('sh.keptn.event.test.finished');
      expect(finished?.data).toMatchObject({
        status: 'succeeded',
        result: 'pass',
        test: { start: expect.any(String), end: expect.any(String) },
      });
      expect(finished?.data.message).toMatch(/^Task 'Run locust' finished successfully![\s\S]*Aggregated/);
      expect(hits.length).toBeGreaterThan(0);
    },
  "helm install job-executor deploy/helm/job-executor -n keptn --set transport=keptn-api --set keptnApi.endpoint=http://api-gateway-nginx.keptn/api --set keptnApi.existingSecret=keptn-api-token --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*,docker.io/locustio/locust:*}' --set-file 'jobConfig.files.job/config\\.yaml=job-config/job/config.yaml'":
    async () => {
      const { containers, configMaps } = await installed(
        "helm install job-executor deploy/helm/job-executor -n keptn --set transport=keptn-api --set keptnApi.endpoint=http://api-gateway-nginx.keptn/api --set keptnApi.existingSecret=keptn-api-token --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*,docker.io/locustio/locust:*}' --set-file 'jobConfig.files.job/config\\.yaml=job-config/job/config.yaml'",
        'keptn',
      );
      const service = containers[0];
      expect(service?.image).toBe(
        `registry.example/job-executor:${(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}`,
      );
      expect(envOf(service, 'JOB_EXECUTOR_TRANSPORT')?.value).toBe('keptn-api');
      expect(envOf(service, 'KEPTN_API_ENDPOINT')?.value).toBe('http://api-gateway-nginx.keptn/api');
      expect(envOf(service, 'KEPTN_API_TOKEN')?.valueFrom?.secretKeyRef).toEqual({
        name: 'keptn-api-token',
        key: 'keptn-api-token',
      });
      expect(envOf(service, 'JOB_ALLOWED_IMAGE_LIST')?.value).toBe('alpine:*,docker.io/locustio/locust:*');
      const config = readFileSync(path.join(ROOT, 'job-config/job/config.yaml'), 'utf8');
      expect(configMaps.flatMap((c) => Object.values(c.data ?? {}))).toContain(config);
    },
  "helm install job-executor deploy/helm/job-executor -n keptn --set transport=nats --set nats.url=nats://keptn-nats.keptn:4222 --set keptnApi.endpoint=http://api-gateway-nginx.keptn/api --set keptnApi.existingSecret=keptn-api-token --set jobConfig.source=keptn --set jobConfig.resourceServiceUrl=http://resource-service.keptn:8080 --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'":
    async () => {
      const { containers } = await installed(
        "helm install job-executor deploy/helm/job-executor -n keptn --set transport=nats --set nats.url=nats://keptn-nats.keptn:4222 --set keptnApi.endpoint=http://api-gateway-nginx.keptn/api --set keptnApi.existingSecret=keptn-api-token --set jobConfig.source=keptn --set jobConfig.resourceServiceUrl=http://resource-service.keptn:8080 --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'",
        'keptn',
      );
      expect(envOf(containers[0], 'JOB_EXECUTOR_TRANSPORT')?.value).toBe('nats');
      expect(envOf(containers[0], 'PUBSUB_URL')?.value).toBe('nats://keptn-nats.keptn:4222');
      expect(envOf(containers[0], 'JOB_CONFIG_SOURCE')?.value).toBe('keptn');
      expect(envOf(containers[0], 'RESOURCE_SERVICE_URL')?.value).toBe('http://resource-service.keptn:8080');
    },
  "helm install job-executor deploy/helm/job-executor -n keptn --set distributor.enabled=true --set jobConfig.source=keptn --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'":
    async () => {
      const { containers } = await installed(
        "helm install job-executor deploy/helm/job-executor -n keptn --set distributor.enabled=true --set jobConfig.source=keptn --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'",
        'keptn',
      );
      expect(containers.map((c) => c.image)).toEqual([
        expect.stringMatching(/^registry\.example\/job-executor:/),
        expect.stringMatching(/^docker\.io\/keptn\/distributor:/),
      ]);
      expect(envOf(containers[0], 'JOB_EXECUTOR_SINK')?.value).toBe('distributor');
    },
  "helm install job-executor deploy/helm/job-executor -n jobs --create-namespace --set auth.existingSecret=job-executor-auth --set sink=http:http://receiver.example/events --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'":
    async () => {
      const { containers } = await installed(
        "helm install job-executor deploy/helm/job-executor -n jobs --create-namespace --set auth.existingSecret=job-executor-auth --set sink=http:http://receiver.example/events --set image.repository=<registry>/job-executor --set 'jobs.allowedImages={alpine:*}'",
        'jobs',
      );
      expect(envOf(containers[0], 'JOB_EXECUTOR_AUTH_TOKEN')?.valueFrom?.secretKeyRef).toEqual({
        name: 'job-executor-auth',
        key: 'auth-token',
      });
      expect(envOf(containers[0], 'JOB_EXECUTOR_SINK')?.value).toBe('http:http://receiver.example/events');
    },
  'kubectl apply -n keptn -f deploy/manifests/job-executor.yaml': async () => {
    await keptnNamespace();
    await inSession('kubectl apply -n keptn -f deploy/manifests/job-executor.yaml');
    try {
      await inSession('kubectl -n keptn rollout status deploy/job-executor --timeout=120s');
    } finally {
      await inSession('kubectl delete -n keptn -f deploy/manifests/job-executor.yaml --wait');
    }
  },
  'node bench/kubernetes.bench.mjs': async () => {
    const copy = benchCopy('bench-copy');
    await runIn(session(`cd ${copy} && BENCH_EVENTS=5 BENCH_REPS=1 node bench/kubernetes.bench.mjs`), {
      env: userEnv(),
      timeoutMs: 300_000,
    });
    expect(readdirSync(path.join(copy, 'bench/results'))).toEqual([
      expect.stringMatching(/^kubernetes-footprint-.*\.json$/),
    ]);
  },
  'BENCH_SUBJECTS=service,floor,floor+libs node bench/kubernetes.bench.mjs': async () => {
    const copy = benchCopy('bench-floor-copy');
    await runIn(
      session(
        `cd ${copy} && BENCH_EVENTS=5 BENCH_REPS=1 BENCH_SUBJECTS=service,floor,floor+libs node bench/kubernetes.bench.mjs`,
      ),
      { env: userEnv(), timeoutMs: 300_000 },
    );
    const [file] = readdirSync(path.join(copy, 'bench/results'));
    const result = JSON.parse(readFileSync(path.join(copy, 'bench/results', file ?? ''), 'utf8')) as {
      runs: { subject: string; answered: number; violations: unknown[]; kubeApiRequests: { total: number } }[];
    };
    // Each subject answered every event by Keptn's rules, and the floor's requests reached the audit log.
    expect(result.runs.map((r) => [r.subject, r.answered, r.violations])).toEqual([
      ['service', 5, []],
      ['floor', 5, []],
      ['floor+libs', 5, []],
    ]);
    for (const r of result.runs) expect(r.kubeApiRequests.total).toBeGreaterThanOrEqual(5 * 4);
  },
  'bash scripts/testenv deps': async () => {
    await run('bash scripts/testenv deps');
  },
  'scripts/testenv up': async () => {
    const { runDir } = await secondTestenv();
    expect(readdirSync(runDir)).toContain('admin.kubeconfig');
  },
  'eval "$(scripts/testenv env)"': async () => {
    const { env, runDir } = await secondTestenv();
    const { stdout } = await run('eval "$(scripts/testenv env)"\necho "$KUBECONFIG"; kubectl get nodes --no-headers', {
      env,
    });
    const [kubeconfig, ...nodes] = stdout.trimEnd().split('\n');
    expect(kubeconfig).toBe(path.join(runDir, 'admin.kubeconfig'));
    expect(nodes).toEqual([expect.stringMatching(/^kwok-node-0\s+Ready\s/)]);
  },
  'scripts/testenv status': async () => {
    const { env } = await secondTestenv();
    const { stdout } = await run('scripts/testenv status', { env });
    for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'])
      expect(stdout).toMatch(new RegExp(`^ {2}${c}\\s+running {2}pid \\d+$`, 'm'));
    expect(stdout).toMatch(/kube-apiserver \/readyz ok/);
  },
  'scripts/testenv down': async () => {
    const { env } = await secondTestenv();
    const { stderr } = await run('scripts/testenv down', { env, timeoutMs: 120_000 });
    secondUp = false;
    expect(stderr).toMatch(/down: stopped 5 component\(s\); ports .* free/);
    const after = await run('scripts/testenv status', { env }, 1);
    expect(after.stdout).toMatch(/^ {2}kube-apiserver\s+stopped$/m);
  },
  'JOB_EXECUTOR_TESTENV=external KUBECONFIG=$HOME/.kube/config npm run test:cluster': async () => {
    const home = path.join(scratch, 'home');
    mkdirSync(path.join(home, '.kube'), { recursive: true });
    cpSync(process.env.KUBECONFIG ?? '', path.join(home, '.kube/config'));
    // a filter (extra arguments go to vitest): not this file, which would run itself, and of the smoke suite the
    // tests that hold on any cluster (its log test reads what scripts/testenv's kwok serves, which it only writes
    // when it knows it runs on scripts/testenv)
    const filter = "test/cluster/testenv.smoke.test.ts -t 'Ready node|restricted|helm upgrade'";
    const { stdout, stderr } = await run(
      `JOB_EXECUTOR_TESTENV=external KUBECONFIG=$HOME/.kube/config npm run test:cluster -- ${filter}`,
      {
        env: userEnv({ HOME: home }),
        timeoutMs: 600_000,
      },
    );
    expect(stderr).toContain(`test-cluster: using the existing cluster in KUBECONFIG=${home}/.kube/config`);
    expect(stdout).toMatch(/Tests .*3 passed/);
  },
};

/** Commands of scripts/testenv itself: skipped against an external cluster (JOB_EXECUTOR_TESTENV=external). */
const TESTENV_ONLY = new Set([
  SESSION,
  'node bench/kubernetes.bench.mjs',
  'BENCH_SUBJECTS=service,floor,floor+libs node bench/kubernetes.bench.mjs',
  'scripts/testenv up',
  'eval "$(scripts/testenv env)"',
  'scripts/testenv status',
  'scripts/testenv down',
]);

describe('the README commands that need a cluster', () => {
  it('each have a check here, and every check here is of one', () => {
    const cluster = commandsRunIn('cluster', COMMANDS);
    expect(
      cluster.filter((t) => !(t in checks)),
      'cluster commands without a check in test/cluster/readme-commands.test.ts',
    ).toEqual([]);
    expect(Object.keys(checks).filter((t) => !cluster.includes(t))).toEqual([]);
  });

  // in the README's order: the walk-through is one shell session, the testenv commands one cycle
  describe.each(commandsRunIn('cluster', COMMANDS))('%s', (text) => {
    it.skipIf(EXTERNAL && TESTENV_ONLY.has(text))(
      `works as written (${DOCUMENTED_COMMANDS[text]?.how ?? ''})`,
      async () => {
        const check = checks[text];
        if (!check) throw new Error(`no check in test/cluster/readme-commands.test.ts for \`${text}\``);
        await check();
      },
      660_000,
    );
  });
});
