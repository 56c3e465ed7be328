import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createNamespace, deleteNamespaces, makeClients, type Clients } from './helpers/kube.js';
import { helm } from './helpers/helm.js';
import { kubectl } from './helpers/kubectl.js';
import { found } from '../helpers/wait.js';
import { CLUSTER_WAIT } from './helpers/wait.js';

/**
 * The Helm chart against a real API server: lint, each transport mode applied (server-side dry run, then for
 * real) into namespaces that enforce the `restricted` Pod Security Standard, every value proven to change the
 * render, the plain manifest kept in sync, and the chart's ServiceAccount used for real by the service running
 * outside the cluster with a TokenRequest token: a Job is created and answered, and it can read no Secret
 * and touch no namespace it was not given.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const CHART = path.join(ROOT, 'deploy/helm/job-executor');
const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/warn-version': 'latest',
};

let clients: Clients;
let tmp: string;
const namespaces: string[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  clients = makeClients();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'je-deploy-'));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await deleteNamespaces(clients, namespaces);
});

async function namespace(prefix: string, labels: Record<string, string> = RESTRICTED): Promise<string> {
  const ns = await createNamespace(clients, prefix, labels);
  namespaces.push(ns);
  return ns;
}

let renders = 0;
async function render(values: Record<string, unknown>, ns = 'je-render', release = 'je'): Promise<string> {
  const file = path.join(tmp, `values-${++renders}.json`);
  await writeFile(file, JSON.stringify(values));
  return (await helm(['template', release, CHART, '--namespace', ns, '-f', file])).stdout;
}

type Doc = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
const docs = (text: string): Doc[] => yaml.loadAll(text).filter((d): d is Doc => !!d && typeof d === 'object');

describe('Helm chart', () => {
  it('passes helm lint --strict, in every mode', async () => {
    for (const set of [
      [],
      ['--set', 'transport=nats'],
      ['--set', 'distributor.enabled=true'],
      ['--set', 'transport=keptn-api,keptnApi.endpoint=http://k/api'],
    ]) {
      const { stdout } = await helm(['lint', '--strict', CHART, ...set]);
      expect(stdout).toContain('0 chart(s) failed');
    }
  });

  it('refuses unknown values and mode mistakes at render time', async () => {
    await expect(render({ jobs: { denyCIDRs: ['10.0.0.0/8'] } })).rejects.toThrow(
      /additional properties 'denyCIDRs' not allowed/,
    );
    await expect(render({ jobs: { networkPolicy: { blockedCIDRs: ['not-a-cidr'] } } })).rejects.toThrow(/blockedCIDRs/);
    await expect(render({ transport: 'keptn-api' })).rejects.toThrow(/needs keptnApi.endpoint/);
    await expect(render({ transport: 'nats', distributor: { enabled: true } })).rejects.toThrow(
      /distributor.enabled needs transport: http/,
    );
  });

  const modes: Array<{ name: string; values: (ns: string, extra: string) => Record<string, unknown> }> = [
    {
      name: 'http (pushed events), network policies on',
      values: () => ({
        networkPolicy: { enabled: true },
        jobs: { networkPolicy: { enabled: true, blockedCIDRs: ['169.254.0.0/16', '10.0.0.0/8', 'fd00::/8'] } },
      }),
    },
    {
      name: 'http with the distributor sidecar, configs from Keptn',
      values: () => ({
        distributor: { enabled: true },
        jobConfig: { source: 'keptn' },
        networkPolicy: { enabled: true },
      }),
    },
    {
      name: 'keptn-api, token from a value, a second job namespace',
      values: (_ns, extra) => ({
        transport: 'keptn-api',
        keptnApi: { endpoint: 'http://api-gateway-nginx.keptn/api', token: 'secret-token' },
        jobs: { extraNamespaces: [extra], networkPolicy: { enabled: true } },
      }),
    },
    {
      name: 'nats, token from an existing Secret',
      values: () => ({ transport: 'nats', keptnApi: { existingSecret: 'keptn-api-token' }, replicaCount: 2 }),
    },
  ];

  for (const mode of modes) {
    it(`applies ${mode.name}: server-side dry run, then for real, under restricted`, async () => {
      const ns = await namespace('je-chart');
      const extra = await namespace('je-chart-x');
      const manifest = await render({ jobs: { allowedImages: ['alpine:*'] }, ...mode.values(ns, extra) }, ns);
      const dry = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], manifest);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stderr).not.toMatch(/PodSecurity|Warning/);
      const real = await kubectl(['apply', '--server-side', '-f', '-'], manifest);
      expect(real.code, real.stderr).toBe(0);
      expect(real.stderr).not.toMatch(/PodSecurity|Warning/);
      // The ReplicaSet's pods were admitted by the namespace's restricted policy and became Ready.
      const deployment = docs(manifest).find((d) => d.kind === 'Deployment') as unknown as k8s.V1Deployment;
      const want = deployment.spec?.replicas ?? 1;
      const pods = await vi.waitFor(
        async () => {
          const list = await clients.core.listNamespacedPod({
            namespace: ns,
            labelSelector: 'app.kubernetes.io/name=job-executor',
          });
          const ready = list.items.filter((p) =>
            p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          );
          return found(ready.length === want && ready, `${want} ready pod(s) of the chart in ${ns}`);
        },
        { ...CLUSTER_WAIT, timeout: 120_000 },
      );
      const spec = pods[0]?.spec;
      expect(spec?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of spec?.containers ?? []) {
        expect(c.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
      }
      expect(spec?.containers.map((c) => c.name)).toEqual(
        mode.name.includes('distributor') ? ['job-executor', 'distributor'] : ['job-executor'],
      );
      // Nothing cluster-wide unless asked for.
      expect(docs(manifest).filter((d) => d.kind.startsWith('Cluster'))).toEqual([]);
    });
  }

  it('every value changes the render (in at least one mode)', async () => {
    const values = yaml.load(await readFile(path.join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const schema = JSON.parse(await readFile(path.join(CHART, 'values.schema.json'), 'utf8')) as SchemaNode;
    const scenarios: Array<Record<string, unknown>> = [
      {},
      { transport: 'keptn-api', keptnApi: { endpoint: 'http://k/api' } },
      { distributor: { enabled: true }, jobConfig: { source: 'keptn' } },
      { transport: 'nats' },
      {
        keptnApi: { existingSecret: 'tok' },
        auth: { existingSecret: 'auth' },
        networkPolicy: { enabled: true },
        jobs: { networkPolicy: { enabled: true }, anyNamespace: true },
        metrics: { serviceMonitor: { enabled: true } },
      },
    ];
    const base = new Map<number, string>();
    const unchanged: string[] = [];
    for (const leaf of leaves(values)) {
      const mutated = mutate(leaf.path, leaf.value, schemaAt(schema, leaf.path));
      let changed = false;
      const errors: string[] = [];
      for (const [i, scenario] of scenarios.entries()) {
        if (!base.has(i)) base.set(i, await render(scenario));
        try {
          if ((await render(merge(scenario, setAt(leaf.path, mutated)))) !== base.get(i)) {
            changed = true;
            break;
          }
        } catch (e) {
          errors.push((e as Error).message.split('\n').slice(0, 3).join(' '));
        }
      }
      if (!changed)
        unchanged.push(
          `${leaf.path.join('.')} = ${JSON.stringify(mutated)}${errors.length ? ` (${errors.join('; ')})` : ''}`,
        );
    }
    expect(unchanged, 'values whose change changes nothing').toEqual([]);
  });

  it('deploy/manifests/job-executor.yaml is the chart render its header names', async () => {
    const text = await readFile(path.join(ROOT, 'deploy/manifests/job-executor.yaml'), 'utf8');
    const cmd = /^# helm (template .*)$/m.exec(text)?.[1];
    expect(cmd).toBeDefined();
    const args = (cmd ?? '').split(' ').map((a) => (a.startsWith('deploy/') ? path.join(ROOT, a) : a));
    const { stdout } = await helm(args);
    const body = text.slice(text.indexOf('\n---\n') + 1);
    expect(body, 'regenerate deploy/manifests/job-executor.yaml with the command in its header').toBe(stdout);
    const ns = await namespace('je-manifest');
    const applied = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '-n', ns, '-f', '-'],
      body.replaceAll('namespace: keptn', `namespace: ${ns}`),
    );
    expect(applied.code, applied.stderr).toBe(0);
  });

  it("the chart's ServiceAccount runs the service from outside the cluster: a Job is created and answered; no Secrets, no other namespaces", async () => {
    const release = await namespace('je-sa');
    const jobs = await namespace('je-sa-jobs');
    const other = await namespace('je-sa-other');
    await clients.core.createNamespacedSecret({
      namespace: jobs,
      body: { metadata: { name: 'task-secret' }, stringData: { TOKEN: 'hidden' } },
    });
    const config = `apiVersion: v2
actions:
  - name: hello
    events: [{ name: "sh.keptn.event.hello-world.triggered" }]
    tasks:
      - name: greet
        image: alpine:3.20
        files: [scripts/greet.sh]
        cmd: [sh]
        args: [/keptn/scripts/greet.sh]
        env:
          - { name: task-secret, valueFrom: secret }
`;
    const manifest = await render(
      {
        jobs: { namespace: jobs, allowedImages: ['alpine:*'] },
        jobConfig: { files: { 'job/config.yaml': config, 'scripts/greet.sh': 'echo hello from a file\n' } },
        logging: { level: 'debug' },
      },
      release,
    );
    const applied = await kubectl(['apply', '--server-side', '-f', '-'], manifest);
    expect(applied.code, applied.stderr).toBe(0);

    // A token for the chart's ServiceAccount, and a kubeconfig made of it alone.
    const all = docs(manifest);
    const deployment = all.find((d) => d.kind === 'Deployment') as unknown as k8s.V1Deployment;
    const saName = deployment.spec?.template.spec?.serviceAccountName as string;
    const token = (
      await clients.core.createNamespacedServiceAccountToken({
        name: saName,
        namespace: release,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      })
    ).status?.token;
    expect(token).toBeTruthy();
    const cluster = clients.kc.getCurrentCluster() as k8s.Cluster;
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: saName, token }],
      contexts: [{ name: saName, cluster: cluster.name, user: saName }],
      currentContext: saName,
    });
    const kubeconfig = path.join(tmp, 'sa.kubeconfig');
    await writeFile(kubeconfig, kc.exportConfig(), { mode: 0o600 });

    // What it may do, asked as itself.
    const asSA = { ...process.env, KUBECONFIG: kubeconfig };
    const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', ...args], undefined, asSA)).stdout.trim();
    expect(await can('create', 'jobs.batch', '-n', jobs)).toBe('yes');
    expect(await can('get', 'pods', '--subresource=log', '-n', jobs)).toBe('yes');
    expect(await can('patch', 'configmaps', '-n', jobs)).toBe('yes');
    for (const ns of [jobs, release]) {
      expect(await can('get', 'secrets', '-n', ns)).toBe('no');
      expect(await can('list', 'secrets', '-n', ns)).toBe('no');
    }
    expect(await can('create', 'jobs.batch', '-n', other)).toBe('no');
    expect(await can('list', 'configmaps', '-n', other)).toBe('no');
    expect(await can('list', 'jobs.batch', '--all-namespaces')).toBe('no');
    expect(await can('create', 'pods', '-n', jobs)).toBe('no');
    expect(await can('update', 'roles.rbac.authorization.k8s.io', '-n', jobs)).toBe('no');

    // The service, outside the cluster, with the chart's own environment (downward-API fields filled in),
    // the chart's ConfigMap as its config directory, and nothing but that token.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: kubeconfig };
    const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'job-executor');
    for (const e of container?.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef)
        env[e.name] =
          { 'metadata.namespace': release, 'metadata.name': 'je-outside-0', 'spec.nodeName': 'laptop' }[
            e.valueFrom.fieldRef.fieldPath
          ] ?? '';
    }
    const configDir = path.join(tmp, 'config');
    const cm = all.find((d) => d.kind === 'ConfigMap') as unknown as k8s.V1ConfigMap;
    for (const [key, content] of Object.entries(cm.data ?? {})) {
      const file = path.join(configDir, key.replaceAll('__', '/'));
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, content);
    }
    const port = await freePort();
    Object.assign(env, {
      JOB_CONFIG: configDir,
      JOB_EXECUTOR_HOST: '127.0.0.1',
      JOB_EXECUTOR_PORT: String(port),
      TMPDIR: tmp,
    });
    expect(env).toMatchObject({
      JOB_RUNNER: 'kubernetes',
      JOB_NAMESPACE: jobs,
      JOB_EXECUTOR_TRANSPORT: 'http',
      JOB_EXECUTOR_INSTANCE_ID: 'je-outside-0',
    });
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'dist/src/cli/main.js'), 'serve', '--runner', 'kubernetes'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await vi.waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`service exited ${child.exitCode}: ${stderr}`);
      const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return found(r?.ok, 'the service to be ready');
    }, CLUSTER_WAIT);
    const id = `f2b878d3-03c0-4e8f-bc3f-${Date.now().toString(16).padStart(12, '0')}`;
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        id,
        source: 'deploy-test',
        type: 'sh.keptn.event.hello-world.triggered',
        shkeptncontext: '2b4a6e2b-5a6f-4d7c-9c1e-8a1d7f3e2c10',
        data: { project: 'p', stage: 's', service: 'svc' },
      }),
    });
    expect(res.status).toBe(202);
    const finished = await vi.waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`service exited ${child.exitCode}: ${stderr}`);
        const lines = stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { type: string; triggeredid?: string; data: Record<string, unknown> });
        return found(
          lines.find((e) => e.type === 'sh.keptn.event.hello-world.finished' && e.triggeredid === id),
          'the .finished answer on stdout',
        );
      },
      { ...CLUSTER_WAIT, timeout: 120_000 },
    );
    expect(finished.data, stderr.slice(-4000)).toMatchObject({ status: 'succeeded', result: 'pass' });
    expect(String(finished.data.message)).toContain("Task 'greet' finished successfully!");
    // The Job it made: in the job namespace, the chart's job ServiceAccount, no token, the secret by reference.
    const list = await clients.batch.listNamespacedJob({
      namespace: jobs,
      labelSelector: `app.kubernetes.io/managed-by=${env.FULL_DEPLOYMENT_NAME ?? ''}`,
    });
    expect(list.items).toHaveLength(1);
    const pod = list.items[0]?.spec?.template.spec;
    expect(pod?.serviceAccountName).toBe(env.DEFAULT_JOB_SERVICE_ACCOUNT);
    expect(pod?.automountServiceAccountToken).toBe(false);
    expect(JSON.stringify(pod?.containers[0]?.envFrom ?? pod?.containers[0]?.env)).toContain('task-secret');
    expect(stderr).not.toMatch(/forbidden/i);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });
});

// ---------------------------------------------------------------------------------------------- helpers

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  enum?: unknown[];
  anyOf?: SchemaNode[];
}
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function leaves(v: unknown, prefix: string[] = []): Array<{ path: string[]; value: unknown }> {
  if (isMap(v) && Object.keys(v).length > 0) return Object.entries(v).flatMap(([k, c]) => leaves(c, [...prefix, k]));
  return [{ path: prefix, value: v }];
}

function schemaAt(s: SchemaNode | undefined, p: string[]): SchemaNode | undefined {
  for (const k of p)
    s = s?.properties?.[k] ?? (isMap(s?.additionalProperties) ? (s.additionalProperties as SchemaNode) : undefined);
  return s;
}

/** A different value that the schema accepts. */
const OVERRIDES: Record<string, unknown> = {
  transport: 'nats',
  sink: 'stdout',
  'keptnApi.endpoint': 'http://other/api',
  'jobConfig.resourceServiceUrl': 'http://resource-service.keptn:8080',
  'executor.publicUrl': 'http://je.example',
  'jobs.networkPolicy.blockedCIDRs': ['169.254.0.0/16', '10.0.0.0/8'],
  extraEnv: [{ name: 'JOB_CONFIG_CACHE_SECONDS', value: '5' }],
  'networkPolicy.ingressFrom': [{ podSelector: { matchLabels: { app: 'prometheus' } } }],
  tolerations: [{ operator: 'Exists' }],
  affinity: { nodeAffinity: {} },
  'jobConfig.files': { 'job/config.yaml': 'apiVersion: v2\nactions: []\n' },
};
function mutate(p: string[], v: unknown, s: SchemaNode | undefined): unknown {
  const key = p.join('.');
  if (key in OVERRIDES) return OVERRIDES[key];
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'number') return v + 1;
  if (typeof v === 'string') {
    const options = s?.enum ?? s?.anyOf?.flatMap((a) => a.enum ?? []);
    if (options?.length) return options.find((o) => o !== v);
    if (/^\d/.test(v)) return `9${v}`;
    return v === '' ? 'x-changed' : `${v}x`;
  }
  if (Array.isArray(v)) return [...v, 'x-changed'];
  if (isMap(v)) return { ...v, 'x-test': 'y' };
  return v;
}

function setAt(p: string[], value: unknown): Record<string, unknown> {
  return p.reduceRight<unknown>((acc, k) => ({ [k]: acc }), value) as Record<string, unknown>;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isMap(v) && isMap(out[k]) ? merge(out[k], v) : v;
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}
