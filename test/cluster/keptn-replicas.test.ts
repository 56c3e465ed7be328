import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, startServer, type RunningServer } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { KeptnDouble } from '../fixtures/keptn-double.js';
import { createNamespace, deleteNamespaces, makeClients, type Clients } from './helpers/kube.js';
import { configDir } from './helpers/service.js';
import { CLUSTER_WAIT } from './helpers/wait.js';

/**
 * Keptn API mode with two replicas on the Kubernetes runner: both poll the same open `.triggered` events; the
 * run claims in the cluster make each event run once (one Job) and be answered once, which Keptn's rules in
 * the double check (a second `.started`/`.finished` pair would show up as an extra answer).
 */
let clients: Clients;
let ns: string;
let double: KeptnDouble;
const servers: RunningServer[] = [];
const EVENTS = 50;

beforeAll(async () => {
  clients = makeClients();
  ns = await createNamespace(clients, 'je-replicas', { 'pod-security.kubernetes.io/enforce': 'restricted' });
  double = await new KeptnDouble({ token: 'replica-token' }).start();
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await double?.stop();
  await deleteNamespaces(clients, [ns]);
});

describe('two replicas polling the Keptn API', () => {
  it(`run each of ${EVENTS} events once: one Job, one .started, one .finished`, async () => {
    const dir = await configDir({
      'job/config.yaml': `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: deploy, image: alpine, cmd: ["true"] }]
`,
    });
    for (const replica of ['replica-a', 'replica-b']) {
      const settings = loadSettings(
        {
          port: '0',
          config: dir,
          runner: 'kubernetes',
          'job-namespace': ns,
          'managed-by': `je-${ns}`,
          'instance-id': replica,
          transport: 'keptn-api',
          'keptn-api-endpoint': double.api,
          'keptn-api-token': double.token,
          'pubsub-topic': 'sh.keptn.event.deployment.triggered',
          'poll-interval-ms': '200',
          'allowed-images': 'alpine',
          concurrency: '20',
        },
        {},
      );
      const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
      servers.push(await startServer(settings, logger, await createService(settings, logger)));
    }
    const triggered = Array.from({ length: EVENTS }, (_, i) =>
      double.trigger('sh.keptn.event.deployment.triggered', { project: 'proj', stage: 'dev', service: `svc-${i}` }),
    );
    await expect
      .poll(() => triggered.filter((t) => double.task(t.id)?.open !== false).map((t) => t.id), {
        ...CLUSTER_WAIT,
        timeout: 240_000,
        interval: 500,
        message: 'tasks still open in the double',
      })
      .toEqual([]);
    // Late duplicates would arrive after completion: give them a moment, then count.
    await sleep(3000);
    expect(double.violations).toEqual([]);
    for (const t of triggered) {
      const task = double.task(t.id);
      expect(
        task?.answers.map((a) => a.type),
        t.data.service as string,
      ).toEqual(['sh.keptn.event.deployment.started', 'sh.keptn.event.deployment.finished']);
      expect(task?.answers[1]?.data).toMatchObject({ status: 'succeeded', result: 'pass' });
    }
    const jobs = (await clients.batch.listNamespacedJob({ namespace: ns })).items;
    expect(jobs).toHaveLength(EVENTS);
  });
});
