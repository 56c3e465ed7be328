import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KubernetesRunner } from '../../src/runners/kubernetes/kubernetes-runner.js';
import { jobName } from '../../src/runners/kubernetes/naming.js';
import {
  createNamespace,
  deleteNamespaces,
  jobPods,
  makeClients,
  restrictedUser,
  type Clients,
} from './helpers/kube.js';
import {
  FAIL_ANNOTATIONS,
  FAIL_LABEL,
  HOLD_LABEL,
  POD_COMPLETE_DELAY_ANNOTATION,
  POD_COMPLETE_MESSAGE_ANNOTATION,
  criLine,
  defaultPodLogFile,
} from './helpers/kwok.js';
import { configDir, event, kubeService, runToEnd, kubeServiceProcess } from './helpers/service.js';
import { found } from '../helpers/wait.js';
import type { ServiceProcess } from '../helpers/service-process.js';
import { CLUSTER_WAIT } from './helpers/wait.js';

/**
 * The Kubernetes runner against a real API server and job controller (kwok completes the pods), in namespaces
 * that enforce the `restricted` Pod Security Standard: every Job created here was admitted under it.
 */
let clients: Clients;
const namespaces: string[] = [];
async function restrictedNamespace(): Promise<string> {
  const ns = await createNamespace(clients, 'je-run', {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
  });
  namespaces.push(ns);
  return ns;
}

beforeAll(() => {
  clients = makeClients();
});
/** Services started as processes: stopped even when a test fails half-way. */
const children = new Set<ChildProcess>();
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await deleteNamespaces(clients, namespaces);
});

const config = (tasks: string, type = 'sh.keptn.event.deployment.triggered') => `apiVersion: v2
actions:
  - name: act
    events: [{ name: "${type}" }]
    tasks:
${tasks}
`;

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

describe('Kubernetes runner', () => {
  it('hello world: a Job runs, is followed to Complete and answered succeeded/pass with its log', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(
        '      - { name: "Greet the world", image: "alpine:3.20", cmd: [echo], args: ["Hello World"] }',
      ),
    });
    const { service, sink } = await kubeService(dir, ns);
    const ev = event('sh.keptn.event.deployment.triggered');
    const run = await runToEnd(service, ev);
    expect(run.status).toBe('succeeded');
    expect(sink.events.map((e) => e.type)).toEqual([
      'sh.keptn.event.deployment.started',
      'sh.keptn.event.deployment.finished',
    ]);
    const fin = sink.events[1];
    expect(fin?.data).toMatchObject({
      status: 'succeeded',
      result: 'pass',
      project: 'proj',
      stage: 'dev',
      service: 'svc',
    });
    expect(fin?.data.message).toContain("Task 'Greet the world' finished successfully!\n\nLogs:\n");
    expect(fin?.data.message).toContain('job-executor testenv: log line 1 (served by kwok)');
    // The answer's logs are the pod's own output; the runner's note is in the run store, apart from it.
    expect(fin?.data.message).not.toContain('created Job');
    const name = jobName(ev.id, 0, 0);
    expect(run.tasks[0]?.logs.filter((l) => l.stream === 'system').map((l) => l.text)).toContain(
      `created Job ${ns}/${name}`,
    );
    const output = run.tasks[0]?.logs.filter((l) => l.stream === 'stdout').map((l) => l.text) ?? [];
    expect(output[0]).toBe('job-executor testenv: log line 1 (served by kwok)');
    for (const line of output) expect(line).toMatch(/^job-executor testenv: log line \d+ \(served by kwok\)$/);
    const job = await clients.batch.readNamespacedJob({ name, namespace: ns });
    expect(job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')).toBe(true);
    expect(job.spec?.backoffLimit).toBe(0);
    expect(job.metadata?.labels).toMatchObject({
      'keptn.sh/project': 'proj',
      'keptn.sh/jes-task': 'Greet_the_world',
      'keptn.sh/event-id': ev.id,
    });
    const pod = job.spec?.template.spec;
    expect(pod?.automountServiceAccountToken).toBe(false);
    expect(pod?.containers[0]?.securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    await service.executor.close(1000);
  });

  it('environment: event values, strings, a Secret by reference and the built-ins, in order', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(`      - name: env
        image: alpine
        cmd: [env]
        env:
          - { name: E2E-jsonPathLabel, value: "$.data.labels.jsonPathLabel", valueFrom: event }
          - { name: E2E-EVENT, value: "$.data.additionalData", valueFrom: event, as: json }
          - { name: e2e-kubernetes-secret, valueFrom: secret }
          - { name: E2E_DATA_DIR, value: /tmp/data, valueFrom: string }`),
    });
    await clients.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'e2e-kubernetes-secret' }, stringData: { 'E2E-Secret': 'secret-kubernetes-variable' } },
    });
    const { service, sink } = await kubeService(dir, ns);
    const ev = event('sh.keptn.event.deployment.triggered', {
      labels: { 'e2e-label': 'EXAMPLE_LABEL', jsonPathLabel: 'JSON_PATH_LABEL_VALUE' },
      additionalData: { jsonPathArray: ['<not-displayed>', '<displayed>'] },
    });
    await runToEnd(service, ev);
    const job = await clients.batch.readNamespacedJob({ name: jobName(ev.id, 0, 0), namespace: ns });
    const c = job.spec?.template.spec?.containers[0];
    expect(c?.env?.map((e) => `${e.name}=${e.value}`)).toEqual([
      'E2E-jsonPathLabel=JSON_PATH_LABEL_VALUE',
      'E2E-EVENT={"jsonPathArray":["\\u003cnot-displayed\\u003e","\\u003cdisplayed\\u003e"]}',
      'E2E_DATA_DIR=/tmp/data',
      'KEPTN_PROJECT=proj',
      'KEPTN_STAGE=dev',
      'KEPTN_SERVICE=svc',
      'LABELS_E2E_LABEL=EXAMPLE_LABEL',
      'LABELS_JSONPATHLABEL=JSON_PATH_LABEL_VALUE',
      'KEPTN_OUTPUT=/dev/termination-log',
    ]);
    // The secret's values never pass through the service: the pod refers to the Secret.
    expect(c?.envFrom).toEqual([{ secretRef: { name: 'e2e-kubernetes-secret' } }]);
    expect(JSON.stringify(sink.events)).not.toContain('secret-kubernetes-variable');
    await service.executor.close(1000);
  });

  it('files: delivered under /keptn with their paths, from ConfigMaps owned by the Job, split to fit', async () => {
    const ns = await restrictedNamespace();
    const files: Record<string, Buffer> = {
      'small.file': randomBytes(1024),
      'folder/file.py': Buffer.from('print("hello")\n'),
      'folder/big.file': randomBytes(767 * 1024),
      'other/big2.file': randomBytes(500 * 1024),
    };
    const dir = await configDir({
      ...files,
      'job/config.yaml': config(
        '      - { name: files, image: alpine, cmd: [find, /keptn, -type, f], files: [small.file, folder, other/big2.file] }',
      ),
    });
    const { service } = await kubeService(dir, ns);
    const ev = event('sh.keptn.event.deployment.triggered');
    const run = await runToEnd(service, ev);
    expect(run.status).toBe('succeeded');
    const name = jobName(ev.id, 0, 0);
    const job = await clients.batch.readNamespacedJob({ name, namespace: ns });
    const mounts = job.spec?.template.spec?.containers[0]?.volumeMounts ?? [];
    const cms = (await clients.core.listNamespacedConfigMap({ namespace: ns })).items.filter((c) =>
      c.metadata?.name?.startsWith(`${name}-files-`),
    );
    expect(cms.length).toBeGreaterThan(1); // 767 KiB + 500 KiB do not fit in one
    for (const cm of cms)
      expect(cm.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Job', name, uid: job.metadata?.uid });
    const delivered: Record<string, string> = {};
    for (const m of mounts.filter((m) => m.subPath)) {
      const cm = cms.find(
        (c) => c.metadata?.name === job.spec?.template.spec?.volumes?.find((v) => v.name === m.name)?.configMap?.name,
      );
      const key = m.subPath as string;
      const content =
        cm?.data?.[key] !== undefined
          ? Buffer.from(cm.data[key] as string)
          : Buffer.from(cm?.binaryData?.[key] ?? '', 'base64');
      delivered[m.mountPath] = createHash('sha1').update(content).digest('hex');
    }
    const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
    expect(delivered).toEqual({
      '/keptn/small.file': sha1(files['small.file'] as Buffer),
      '/keptn/folder/big.file': sha1(files['folder/big.file'] as Buffer),
      '/keptn/folder/file.py': sha1(files['folder/file.py'] as Buffer),
      '/keptn/other/big2.file': sha1(files['other/big2.file'] as Buffer),
    });
    // Cleanup: deleting the Job (as the TTL controller does) collects its ConfigMaps too.
    await clients.batch.deleteNamespacedJob({ name, namespace: ns, propagationPolicy: 'Background' });
    await expect
      .poll(
        async () =>
          (await clients.core.listNamespacedConfigMap({ namespace: ns })).items
            .filter((c) => c.metadata?.name?.startsWith(`${name}-files-`))
            .map((c) => c.metadata?.name),
        {
          ...CLUSTER_WAIT,
          message: 'ConfigMaps left after their Job',
        },
      )
      .toEqual([]);
    await service.executor.close(1000);
  });

  it('config layering: the service, stage and project levels create different Jobs', async () => {
    const ns = await restrictedNamespace();
    const cfg = (text: string) => config(`      - { name: greet, image: alpine, cmd: [echo, "${text}"] }`);
    const dir = await configDir({
      'proj/dev/svc/job/config.yaml': cfg('Hallo Welt'),
      'proj/dev/job/config.yaml': cfg('Buon Giorno'),
      'proj/job/config.yaml': cfg('Hello World'),
    });
    const { service } = await kubeService(dir, ns);
    for (const [scope, text] of [
      [{ service: 'svc' }, 'Hallo Welt'],
      [{ service: 'other' }, 'Buon Giorno'],
      [{ stage: 'prod' }, 'Hello World'],
    ] as const) {
      const ev = event('sh.keptn.event.deployment.triggered', scope);
      await runToEnd(service, ev);
      const job = await clients.batch.readNamespacedJob({ name: jobName(ev.id, 0, 0), namespace: ns });
      expect(job.spec?.template.spec?.containers[0]?.command).toEqual(['echo', text]);
    }
    await service.executor.close(1000);
  });

  it('ttlSecondsAfterFinished: at least 60 s, 21600 by default', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(`      - { name: short, image: alpine, cmd: ["true"], ttlSecondsAfterFinished: 5 }
      - { name: default, image: alpine, cmd: ["true"] }`),
    });
    const { service } = await kubeService(dir, ns);
    const ev = event('sh.keptn.event.deployment.triggered');
    await runToEnd(service, ev);
    const ttl = async (i: number) =>
      (await clients.batch.readNamespacedJob({ name: jobName(ev.id, 0, i), namespace: ns })).spec
        ?.ttlSecondsAfterFinished;
    expect([await ttl(0), await ttl(1)]).toEqual([60, 21600]);
    await service.executor.close(1000);
  });

  it('task deadline: maxPollDuration becomes activeDeadlineSeconds; the answer names it and the Job is deleted', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(
        `      - { name: sleeper, image: alpine, cmd: [sleep, "3600"], maxPollDuration: 3, labels: { "${HOLD_LABEL}": "true" } }`,
      ),
    });
    const { service, sink } = await kubeService(dir, ns);
    const ev = event('sh.keptn.event.deployment.triggered');
    const run = await runToEnd(service, ev);
    expect(run.status).toBe('failed');
    expect(sink.events[1]?.data).toMatchObject({ status: 'errored', result: 'fail' });
    expect(sink.events[1]?.data.message).toContain(
      "Task 'sleeper' failed: task exceeded maxPollDuration of 3s (the Job's activeDeadlineSeconds); the Job was deleted",
    );
    await expect
      .poll(
        () =>
          clients.batch.readNamespacedJob({ name: jobName(ev.id, 0, 0), namespace: ns }).then(
            () => 'there',
            () => 'gone',
          ),
        { ...CLUSTER_WAIT, message: 'the timed-out Job' },
      )
      .toBe('gone');
    await service.executor.close(1000);
  });

  it('a container that cannot start is answered then, not at the deadline: the reason names it, and the Job is deleted', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(
        `      - { name: pull, image: alpine, cmd: ["true"], maxPollDuration: 3600, labels: { "${HOLD_LABEL}": "true" } }`,
      ),
    });
    const { service, sink } = await kubeService(dir, ns);
    const ev = event('sh.keptn.event.deployment.triggered');
    const submitted = await service.executor.submit(ev);
    if (submitted.status !== 'accepted') throw new Error(submitted.status);
    const name = jobName(ev.id, 0, 0);
    const pod = await vi.waitFor(
      async () =>
        found(
          (await jobPods(clients, ns, name)).find((p) => p.status?.phase === 'Running')?.metadata?.name,
          'the running pod',
        ),
      CLUSTER_WAIT,
    );
    // What the kubelet reports for an image it cannot pull (kwok leaves a held pod as it is told).
    await clients.core.patchNamespacedPodStatus(
      {
        name: pod,
        namespace: ns,
        body: {
          status: {
            phase: 'Pending',
            containerStatuses: [
              {
                name: 'task',
                image: 'alpine',
                imageID: '',
                ready: false,
                restartCount: 0,
                state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "alpine"' } },
              },
            ],
          },
        },
      },
      mergePatch,
    );
    const run = await submitted.done;
    expect(run.tasks[0]?.status).toBe('failed');
    expect(sink.events[1]?.data).toMatchObject({ status: 'errored', result: 'fail' });
    expect(sink.events[1]?.data.message).toContain(
      `Task 'pull' failed: container task of pod ${pod} cannot start: ImagePullBackOff: Back-off pulling image "alpine"; the Job was deleted`,
    );
    await expect
      .poll(
        () =>
          clients.batch.readNamespacedJob({ name, namespace: ns }).then(
            () => 'there',
            () => 'gone',
          ),
        { ...CLUSTER_WAIT, message: 'the Job' },
      )
      .toBe('gone');
    await service.executor.close(1000);
  });

  it('a Job deleted while it runs is answered failed, saying so', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(
        `      - { name: doomed, image: alpine, cmd: ["true"], labels: { "${HOLD_LABEL}": "true" } }`,
      ),
    });
    const { service, sink } = await kubeService(dir, ns);
    const ev = event('sh.keptn.event.deployment.triggered');
    const submitted = await service.executor.submit(ev);
    if (submitted.status !== 'accepted') throw new Error(submitted.status);
    const name = jobName(ev.id, 0, 0);
    await expect
      .poll(async () => (await jobPods(clients, ns, name)).map((p) => p.status?.phase), {
        ...CLUSTER_WAIT,
        message: 'phases of the pods',
      })
      .toContain('Running');
    await clients.batch.deleteNamespacedJob({ name, namespace: ns, propagationPolicy: 'Background' });
    const run = await submitted.done;
    expect(run.tasks[0]?.status).toBe('failed');
    expect(sink.events[1]?.data.message).toContain(
      `Task 'doomed' failed: Job ${ns}/${name} was deleted before it finished`,
    );
    await service.executor.close(1000);
  });

  it("without permission to watch pods (the chart's rules: get and list), the pods are listed instead and the task is answered; the watch starts once allowed", async () => {
    const ns = await restrictedNamespace();
    const user = await restrictedUser(clients, ns);
    const rules = [
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    ];
    await clients.rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: 'je' }, rules } });
    await clients.rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'je' },
        subjects: [user.subject],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'je' },
      },
    });
    const kubeconfig = path.join(await configDir({}), 'user.kubeconfig');
    writeFileSync(kubeconfig, user.kc.exportConfig());
    const dir = await configDir({
      'job/config.yaml': config('      - { name: listed, image: alpine, cmd: ["true"] }'),
    });
    const before = process.env.KUBECONFIG;
    process.env.KUBECONFIG = kubeconfig;
    let made;
    try {
      made = await kubeService(dir, ns);
    } finally {
      process.env.KUBECONFIG = before;
    }
    const { service, sink } = made;
    const run = await runToEnd(service, event('sh.keptn.event.deployment.triggered'));
    expect(run.status).toBe('succeeded');
    expect(sink.events[1]?.data.message).toContain('job-executor testenv: log line 1 (served by kwok)');
    // Only the Job watch is up; the pod watch was refused, and is tried again (with a growing delay) ...
    const watcher = (service.runner as KubernetesRunner).watcher;
    expect(watcher.connections).toBe(1);
    // ... so once the permission is granted, the pods are watched.
    rules[1] = { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] };
    await clients.rbac.replaceNamespacedRole({ name: 'je', namespace: ns, body: { metadata: { name: 'je' }, rules } });
    await expect
      .poll(() => watcher.connections, { ...CLUSTER_WAIT, message: 'watches connected (the pod watch, once allowed)' })
      .toBe(2);
    await service.executor.close(1000);
  });

  it('a failing pod answers errored/fail with the reason, the exit code, the events and the logs', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(`      - name: broken
        image: alpine
        cmd: ["false"]
        labels: { "${FAIL_LABEL}": "true" }
        annotations: { "${FAIL_ANNOTATIONS.exitCode}": "3", "${FAIL_ANNOTATIONS.reason}": "Error", "${FAIL_ANNOTATIONS.message}": "disk full" }
      - { name: never, image: alpine, cmd: ["true"] }`),
    });
    const { service, sink } = await kubeService(dir, ns);
    const ev = event('sh.keptn.event.deployment.triggered');
    const run = await runToEnd(service, ev);
    expect(run.tasks[0]?.exitCode).toBe(3);
    const message = String(sink.events[1]?.data.message);
    expect(sink.events[1]?.data).toMatchObject({ status: 'errored', result: 'fail' });
    expect(message).toMatch(
      /Task 'broken' failed: job .* failed\. container task of pod .* exit code 3 \(Reason: Error, Message: disk full\)/,
    );
    expect(message).toContain('job-executor testenv: log line 1 (served by kwok)');
    expect(message).toMatch(
      /Kubernetes event on je-.*: BackoffLimitExceeded: Job has reached the specified backoff limit/,
    );
    expect(message).toContain("Task 'never' was not run");
    await service.executor.close(1000);
  });

  it('the termination message is $KEPTN_OUTPUT: a JSON object there is merged into the .finished data', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(`      - name: report
        image: alpine
        cmd: [sh, -c, 'echo {"deploymentURIsLocal":["http://svc.proj-dev"]} > $KEPTN_OUTPUT']
        annotations: { "${POD_COMPLETE_MESSAGE_ANNOTATION}": '{"deploymentURIsLocal":["http://svc.proj-dev"]}' }`),
    });
    const { service, sink } = await kubeService(dir, ns);
    await runToEnd(service, event('sh.keptn.event.deployment.triggered'));
    expect(sink.events[1]?.data).toMatchObject({ result: 'pass', deploymentURIsLocal: ['http://svc.proj-dev'] });
    await service.executor.close(1000);
  });

  it('a refused image creates nothing', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(
        '      - { name: ok, image: alpine, cmd: ["true"] }\n      - { name: miner, image: evil/miner, cmd: ["true"] }',
      ),
    });
    const { service, sink } = await kubeService(dir, ns);
    await runToEnd(service, event('sh.keptn.event.deployment.triggered'));
    expect(sink.events[1]?.data.message).toMatch(
      /^Forbidden: Image evil\/miner does not match configured image allowlist/,
    );
    expect((await clients.batch.listNamespacedJob({ namespace: ns })).items).toEqual([]);
    await service.executor.close(1000);
  });

  it('redelivery adopts the existing Job instead of failing on "already exists"', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({ 'job/config.yaml': config('      - { name: once, image: alpine, cmd: ["true"] }') });
    const first = await kubeService(dir, ns, { 'instance-id': 'a' });
    const ev = event('sh.keptn.event.deployment.triggered');
    await runToEnd(first.service, ev);
    // A second instance with no memory of the first one, and the claim gone (as after the retention time).
    await clients.core.deleteCollectionNamespacedConfigMap({
      namespace: ns,
      labelSelector: 'job-executor.keptn.sh/claim=true',
    });
    const second = await kubeService(dir, ns, { 'instance-id': 'b' });
    const run = await runToEnd(second.service, ev);
    expect(run.status).toBe('succeeded');
    expect(run.tasks[0]?.logs.filter((l) => l.stream === 'system').map((l) => l.text)).toContain(
      `adopted existing Job ${ns}/${jobName(ev.id, 0, 0)}`,
    );
    const finished = second.sink.events.find((e) => e.type.endsWith('.finished'));
    expect(finished?.data.message).not.toContain('adopted existing Job');
    expect((await clients.batch.listNamespacedJob({ namespace: ns })).items).toHaveLength(1);
    await first.service.executor.close(1000);
    await second.service.executor.close(1000);
  });

  it('two instances, one event: one Job, one .started, one .finished', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({ 'job/config.yaml': config('      - { name: once, image: alpine, cmd: ["true"] }') });
    const a = await kubeService(dir, ns, { 'instance-id': 'replica-a' });
    const b = await kubeService(dir, ns, { 'instance-id': 'replica-b' });
    const ev = event('sh.keptn.event.deployment.triggered');
    const [ra, rb] = await Promise.all([a.service.executor.submit(ev), b.service.executor.submit(ev)]);
    expect([ra.status, rb.status].sort()).toEqual(['accepted', 'duplicate']);
    const winner = ra.status === 'accepted' ? ra : rb;
    if (winner.status === 'accepted') await winner.done;
    const answers = [...a.sink.events, ...b.sink.events].filter((e) => e.triggeredid === ev.id).map((e) => e.type);
    expect(answers).toEqual(['sh.keptn.event.deployment.started', 'sh.keptn.event.deployment.finished']);
    expect((await clients.batch.listNamespacedJob({ namespace: ns })).items).toHaveLength(1);
    await a.service.executor.close(1000);
    await b.service.executor.close(1000);
  });

  // SIGKILL and a restart of the same instance: test/cluster/restart.test.ts.
  it.each([
    [
      'stopped (SIGTERM) mid-run: it leaves the Job running and another instance takes the run over',
      'SIGTERM',
      'replica-1',
      'replica-2',
    ],
  ] as const)('%s, and the run is answered exactly once', async (_name, signal, firstId, secondId) => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(
        `      - { name: slow, image: alpine, cmd: [sleep, "8"], annotations: { "${POD_COMPLETE_DELAY_ANNOTATION}": "8000ms" } }`,
      ),
    });
    const answers = path.join(dir, 'answers.jsonl');
    const start = async (instanceId: string): Promise<ServiceProcess> => {
      const svc = await kubeServiceProcess({
        config: dir,
        ns,
        sink: `file:${answers}`,
        instanceId,
        args: ['--shutdown-grace', '1'],
      });
      children.add(svc.child);
      return svc;
    };
    let svc = await start(firstId);
    const ev = event('sh.keptn.event.deployment.triggered');
    expect((await svc.post(ev)).status).toBe(202);
    await vi.waitFor(
      () => clients.batch.readNamespacedJob({ name: jobName(ev.id, 0, 0), namespace: ns }),
      CLUSTER_WAIT,
    );
    svc.child.kill(signal);
    await svc.exited;
    const before = existsSync(answers) ? readFileSync(answers, 'utf8').trim().split('\n') : [];
    expect(before.map((l) => (JSON.parse(l) as { type: string }).type)).toEqual(['sh.keptn.event.deployment.started']);
    // Not stopped with the service: the Job is still there, not finished.
    const job = await clients.batch.readNamespacedJob({ name: jobName(ev.id, 0, 0), namespace: ns });
    expect(job.status?.conditions?.some((c) => c.type === 'Complete' || c.type === 'Failed')).toBeFalsy();
    svc = await start(secondId);
    const lines = await vi.waitFor(
      () => {
        const l = readFileSync(answers, 'utf8')
          .trim()
          .split('\n')
          .map((x) => JSON.parse(x) as { type: string; triggeredid: string; data: { status: string } });
        return found(l.some((e) => e.type.endsWith('.finished')) && l, 'the .finished after the restart');
      },
      { ...CLUSTER_WAIT, timeout: 90_000 },
    );
    // Give a wrongly duplicated answer time to show up before counting.
    await sleep(3000);
    const all = readFileSync(answers, 'utf8')
      .trim()
      .split('\n')
      .map((x) => JSON.parse(x) as { type: string; triggeredid: string; data: { status: string } });
    expect(all.filter((e) => e.triggeredid === ev.id).map((e) => e.type)).toEqual([
      'sh.keptn.event.deployment.started',
      'sh.keptn.event.deployment.finished',
    ]);
    expect(lines.find((e) => e.type.endsWith('.finished'))?.data.status).toBe('succeeded');
    expect((await clients.batch.listNamespacedJob({ namespace: ns })).items).toHaveLength(1);
    svc.child.kill('SIGTERM');
    await svc.exited;
  });
});

describe('logs', () => {
  it('streams log lines while the pod runs, before the Job completes', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({
      'job/config.yaml': config(
        `      - { name: chatty, image: alpine, cmd: [sh, -c, "echo one; sleep 10; echo two"], annotations: { "${POD_COMPLETE_DELAY_ANNOTATION}": "10000ms" } }`,
      ),
    });
    // kwok serves this file as every pod's log and follows what is appended to it. The stream opens as soon as
    // the pod runs, before a test could point that one pod at a file of its own, so the line is appended here
    // (and taken out again: the other tests read this file too).
    const file = defaultPodLogFile();
    const original = readFileSync(file, 'utf8');
    const defaults = original
      .trim()
      .split('\n')
      .map((l) => l.replace(/^\S+ stdout F /, ''));
    const { service } = await kubeService(dir, ns);
    try {
      const ev = event('sh.keptn.event.deployment.triggered');
      const submitted = await service.executor.submit(ev);
      if (submitted.status !== 'accepted') throw new Error(submitted.status);
      const name = jobName(ev.id, 0, 0);
      const run = service.store.get(submitted.runId);
      const stdout = () => run?.tasks[0]?.logs.filter((l) => l.stream === 'stdout').map((l) => l.text) ?? [];
      await expect
        .poll(() => stdout().length, { ...CLUSTER_WAIT, message: 'log lines in the run store while the Job runs' })
        .toBe(defaults.length);
      const notDone = async () => {
        const job = await clients.batch.readNamespacedJob({ name, namespace: ns });
        return job.status?.conditions?.some((c) => c.type === 'Complete') ?? false;
      };
      expect(await notDone()).toBe(false);
      appendFileSync(file, criLine('live line, appended later'));
      await expect
        .poll(stdout, { ...CLUSTER_WAIT, message: 'the log in the run store while the Job runs' })
        .toContain('live line, appended later');
      expect(await notDone()).toBe(false);
      const done = await submitted.done;
      expect(done.status).toBe('succeeded');
      // Read whole at the end too, and no line twice.
      expect(stdout()).toEqual([...defaults, 'live line, appended later']);
    } finally {
      writeFileSync(file, original);
      await service.executor.close(1000);
    }
  });
});

describe('watching', () => {
  it('follows many Jobs through one watch connection', async () => {
    const ns = await restrictedNamespace();
    const dir = await configDir({ 'job/config.yaml': config('      - { name: quick, image: alpine, cmd: ["true"] }') });
    const { service } = await kubeService(dir, ns, { concurrency: '20', 'queue-size': '100' });
    const runs = await Promise.all(
      Array.from({ length: 20 }, () => service.executor.submit(event('sh.keptn.event.deployment.triggered'))),
    );
    const runner = service.runner as KubernetesRunner;
    // One Job watch and one pod watch for the namespace, however many Jobs.
    await expect
      .poll(() => runner.watcher.connections, { ...CLUSTER_WAIT, message: 'the Job and pod watches connected' })
      .toBe(2);
    for (const r of runs) if (r.status === 'accepted') expect((await r.done).status).toBe('succeeded');
    expect((await clients.batch.listNamespacedJob({ namespace: ns })).items).toHaveLength(20);
    expect(runner.watcher.opened).toEqual({ jobs: 1, pods: 1 });
    await service.executor.close(1000);
  });
});
