/**
 * Smoke suite: proves the cluster under test is real (API server, controllers, scheduler, admission, RBAC,
 * node, logs, helm). Runs against scripts/testenv (kwok nodes) or any cluster named by KUBECONFIG.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { helm } from './helpers/helm.js';
import { defaultPodLogFile, failingPodMetadata, setPodLog } from './helpers/kwok.js';
import {
  apiMessage,
  apiStatus,
  createNamespace,
  deleteNamespaces,
  isTestenv,
  jobPods,
  makeClients,
  restrictedUser,
  uniqueName,
  waitForJobCondition,
  type Clients,
} from './helpers/kube.js';
import { found } from '../helpers/wait.js';
import { CLUSTER_WAIT } from './helpers/wait.js';

const CHART = fileURLToPath(new URL('../fixtures/charts/helloservice', import.meta.url));
const IMAGE = 'docker.io/library/busybox:1.36';

let clients: Clients;
const namespaces: string[] = [];

async function newNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const ns = await createNamespace(clients, prefix, labels);
  namespaces.push(ns);
  return ns;
}

function jobManifest(
  name: string,
  command: string[],
  template: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): k8s.V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: 600,
      template: {
        metadata: { labels: template.labels ?? {}, annotations: template.annotations ?? {} },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: IMAGE, command }],
        },
      },
    },
  };
}

async function expectApiError(promise: Promise<unknown>, status: number): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(apiStatus(err), apiMessage(err)).toBe(status);
    return apiMessage(err);
  }
  throw new Error(`expected the API call to fail with HTTP ${status}, but it succeeded`);
}

beforeAll(() => {
  clients = makeClients();
});

afterAll(async () => {
  if (clients) await deleteNamespaces(clients, namespaces);
});

describe('cluster under test', () => {
  it('has at least one Ready node', async () => {
    const nodes = await clients.core.listNode();
    const ready = nodes.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    expect(ready.length).toBeGreaterThan(0);
  });

  it('runs a Job to completion: Complete condition, succeeded pod with exit code 0', async () => {
    const ns = await newNamespace('smoke-complete');
    const name = uniqueName('hello');
    const started = Date.now();
    await clients.batch.createNamespacedJob({ namespace: ns, body: jobManifest(name, ['sh', '-c', 'echo hello']) });
    const job = await waitForJobCondition(clients, ns, name, 'Complete');
    console.log(`Job ${name} Complete after ${Date.now() - started} ms`);

    expect(job.status?.succeeded).toBe(1);
    expect(job.status?.failed ?? 0).toBe(0);
    expect(job.status?.completionTime).toBeDefined();
    const pods = await jobPods(clients, ns, name);
    expect(pods).toHaveLength(1);
    const pod = pods[0]!;
    expect(pod.status?.phase).toBe('Succeeded');
    expect(pod.spec?.nodeName).toBeTruthy();
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    expect(terminated?.exitCode).toBe(0);
    expect(terminated?.reason).toBe('Completed');

    const events = await clients.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: `involvedObject.kind=Job,involvedObject.name=${name}`,
    });
    expect(events.items.map((e) => e.reason)).toContain('SuccessfulCreate');

    if (isTestenv()) {
      // a container without its own kwok Logs object gets the catch-all log file
      const log = await clients.core.readNamespacedPodLog({
        name: pod.metadata!.name!,
        namespace: ns,
        container: 'main',
      });
      expect(log).toContain('job-executor testenv: log line 1 (served by kwok)');
      expect(defaultPodLogFile()).toMatch(/default\.log$/);
    }
  });

  it('ends a Job whose pod fails as Failed, with the reason and the container exit code', async () => {
    const ns = await newNamespace('smoke-fail');
    const name = uniqueName('failing');
    // kwok fails the pod because of the label; a real kubelet fails it because the command exits 3
    const meta = failingPodMetadata(3, 'Error', 'simulated failure: exit 3');
    await clients.batch.createNamespacedJob({ namespace: ns, body: jobManifest(name, ['sh', '-c', 'exit 3'], meta) });
    const job = await waitForJobCondition(clients, ns, name, 'Failed');

    const failed = job.status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed?.status).toBe('True');
    expect(failed?.reason).toBe('BackoffLimitExceeded');
    expect(failed?.message).toMatch(/backoff limit/i);
    expect(job.status?.failed).toBe(1);
    expect(job.status?.succeeded ?? 0).toBe(0);

    const pods = await jobPods(clients, ns, name);
    expect(pods).toHaveLength(1);
    expect(pods[0]!.status?.phase).toBe('Failed');
    const terminated = pods[0]!.status?.containerStatuses?.[0]?.state?.terminated;
    expect(terminated?.exitCode).toBe(3);
    expect(terminated?.reason).toBe('Error');
    if (isTestenv()) expect(terminated?.message).toBe('simulated failure: exit 3');
  });

  it("reads a pod's log through the API server", async () => {
    const ns = await newNamespace('smoke-logs');
    const name = uniqueName('logger');
    const marker = `hello-from-${randomBytes(6).toString('hex')}`;
    await clients.batch.createNamespacedJob({
      namespace: ns,
      body: jobManifest(name, ['sh', '-c', `echo ${marker}; echo second line`]),
    });
    const pod = await vi.waitFor(
      async () => found((await jobPods(clients, ns, name))[0], `pod of Job ${name}`),
      CLUSTER_WAIT,
    );
    const podName = pod.metadata!.name!;
    // kwok runs nothing: it serves the file we give it for this pod (a real kubelet serves the echo output)
    if (isTestenv()) await setPodLog(clients, ns, podName, [marker, 'second line']);
    await waitForJobCondition(clients, ns, name, 'Complete');

    const log = await vi.waitFor(async () => {
      const text = await clients.core.readNamespacedPodLog({ name: podName, namespace: ns, container: 'main' });
      return found(text.includes(marker) && text, `log of pod ${podName} containing ${marker}`);
    }, CLUSTER_WAIT);
    expect(log).toBe(`${marker}\nsecond line\n`);
    const tail = await clients.core.readNamespacedPodLog({
      name: podName,
      namespace: ns,
      container: 'main',
      tailLines: 1,
    });
    expect(tail).toBe('second line\n');
  });

  it('enforces Pod Security "restricted" in a labelled namespace', async () => {
    const ns = await newNamespace('smoke-psa', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    const privileged: k8s.V1Pod = {
      metadata: { name: 'privileged' },
      spec: { containers: [{ name: 'main', image: IMAGE, securityContext: { privileged: true } }] },
    };
    const message = await expectApiError(clients.core.createNamespacedPod({ namespace: ns, body: privileged }), 403);
    expect(message).toContain('violates PodSecurity "restricted:latest"');
    expect(message).toContain('privileged');

    const compliant: k8s.V1Pod = {
      metadata: { name: 'restricted-ok' },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'main',
            image: IMAGE,
            command: ['sleep', '3600'],
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    };
    await clients.core.createNamespacedPod({ namespace: ns, body: compliant });
    const running = await vi.waitFor(async () => {
      const p = await clients.core.readNamespacedPodStatus({ name: 'restricted-ok', namespace: ns });
      return found(p.status?.phase === 'Running' && p, 'compliant pod Running');
    }, CLUSTER_WAIT);
    expect(running.spec?.nodeName).toBeTruthy();
  });

  it('scales a helm-installed Deployment from 1 to 2 Running replicas with helm upgrade', async () => {
    const ns = await newNamespace('smoke-helm');
    const release = 'helloservice';
    await helm(['install', release, CHART, '--namespace', ns, '--wait', '--timeout', '2m']);
    const first = await clients.apps.readNamespacedDeployment({ name: release, namespace: ns });
    expect(first.spec?.replicas).toBe(1);
    expect(first.spec?.template.spec?.containers[0]?.image).toBe('docker.io/keptnexamples/helloservice:0.1.1');
    expect(first.status?.readyReplicas).toBe(1);

    await helm(['upgrade', release, CHART, '--namespace', ns, '--set', 'replicaCount=2', '--wait', '--timeout', '2m']);
    const dep = await vi.waitFor(async () => {
      const d = await clients.apps.readNamespacedDeployment({ name: release, namespace: ns });
      return found(
        d.status?.readyReplicas === 2 && d.status.updatedReplicas === 2 && d,
        'Deployment with 2 ready replicas',
      );
    }, CLUSTER_WAIT);
    expect(dep.spec?.replicas).toBe(2);
    const pods = await vi.waitFor(async () => {
      const list = await clients.core.listNamespacedPod({
        namespace: ns,
        labelSelector: `app.kubernetes.io/name=helloservice,app.kubernetes.io/instance=${release}`,
      });
      const live = list.items.filter((p) => !p.metadata?.deletionTimestamp);
      return found(
        live.length === 2 && live.every((p) => p.status?.phase === 'Running') && live,
        '2 Running helloservice pods',
      );
    }, CLUSTER_WAIT);
    expect(pods).toHaveLength(2);
    const { stdout } = await helm(['status', release, '--namespace', ns, '-o', 'json']);
    const status = JSON.parse(stdout) as { version: number; info: { status: string } };
    expect(status.version).toBe(2);
    expect(status.info.status).toBe('deployed');
  });

  it('keeps a user bound to one namespace out of Jobs in another', async () => {
    const own = await newNamespace('smoke-rbac-own');
    const other = await newNamespace('smoke-rbac-other');
    await clients.batch.createNamespacedJob({ namespace: other, body: jobManifest(uniqueName('secret'), ['true']) });
    const user = await restrictedUser(clients, own);
    await clients.rbac.createNamespacedRole({
      namespace: own,
      body: {
        metadata: { name: 'job-reader' },
        rules: [{ apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await clients.rbac.createNamespacedRoleBinding({
      namespace: own,
      body: {
        metadata: { name: 'job-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'job-reader' },
        subjects: [user.subject],
      },
    });
    const userBatch = makeClients(user.kc).batch;
    // RBAC is served from an informer cache: wait until the binding is visible
    const ownJobs = await vi.waitFor(() => userBatch.listNamespacedJob({ namespace: own }), CLUSTER_WAIT);
    expect(ownJobs.items).toEqual([]);

    const message = await expectApiError(userBatch.listNamespacedJob({ namespace: other }), 403);
    expect(message).toContain('cannot list resource "jobs" in API group "batch" in the namespace');
    expect(message).toContain(other);
    await expectApiError(userBatch.listJobForAllNamespaces(), 403);
    await expectApiError(
      userBatch.createNamespacedJob({ namespace: own, body: jobManifest(uniqueName('nope'), ['true']) }),
      403,
    );
  });
});
