import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { V1Job } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createService, startServer, type RunningServer } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { KeptnDouble, type TriggeredEvent } from '../fixtures/keptn-double.js';
import { helm, helmBinary } from './helpers/helm.js';
import { makeClients, type Clients } from './helpers/kube.js';
import { found } from '../helpers/wait.js';
import { CLUSTER_WAIT } from './helpers/wait.js';

/**
 * The seed scenario (keptn-protocol.md §1): Keptn's remediation sequence, played by the control-plane double,
 * sends `action.triggered` with `action = {action: "scale", value: "2"}`, then `test.triggered`; the service,
 * configured with the seed's unchanged job/config.yaml (job-config/fulltour/production/helloservice), answers
 * both. helm and locust really run, through the local runner: helm against this cluster (kwok pods do not run
 * commands), locust (Debian's python3-locust) headless against a small HTTP server standing in for
 * helloservice. The same events through the Kubernetes runner create the equivalent Jobs.
 */

const SEED = 'job-config/fulltour/production/helloservice';
const PROJECT = 'fulltour';
const STAND_IN = 'helloservice.fulltour-production';
let clients: Clients;
let double: KeptnDouble;
let standIn: Server;
const standInHits: string[] = [];
let hostsBefore: string | undefined;
let service: RunningServer | undefined;

/** Keptn's data for `action.triggered` (§1.3 step 4), then `test.triggered` (step 6): merged, as the controller builds it. */
function sequenceData(): Record<string, unknown> {
  return {
    project: PROJECT,
    stage: 'production',
    service: 'helloservice',
    labels: {},
    problem: { problemTitle: 'http_response_time_seconds_main_page_sum' },
    action: { name: 'scale', action: 'scale', description: 'Scale up', value: '2' },
    'get-action': { actionIndex: 1 },
    result: 'pass',
    status: 'succeeded',
  };
}

async function readyReplicas(namespace: string): Promise<number> {
  const d = await clients.apps.readNamespacedDeployment({ name: 'helloservice', namespace });
  return d.status?.readyReplicas ?? 0;
}

beforeAll(async () => {
  clients = makeClients();
  for (const stage of ['qa', 'production']) {
    const ns = `${PROJECT}-${stage}`;
    await clients.core.deleteNamespace({ name: ns }).catch(() => undefined);
    // In a hook, where expect.poll is not available.
    await vi.waitFor(
      async () =>
        found(
          await clients.core.readNamespace({ name: ns }).then(
            () => false,
            () => true,
          ),
          `namespace ${ns} gone`,
        ),
      { ...CLUSTER_WAIT, timeout: 120_000 },
    );
    await helm([
      'install',
      'helloservice',
      'test/fixtures/charts/helloservice',
      '-n',
      ns,
      '--create-namespace',
      '--wait',
      '--timeout',
      '120s',
    ]);
  }
  expect([await readyReplicas('fulltour-qa'), await readyReplicas('fulltour-production')]).toEqual([1, 1]);

  // locust gets the seed's `--host http://helloservice.fulltour-production`: make that name this machine
  // for the test (root, as in CI), and answer on port 80.
  hostsBefore = readFileSync('/etc/hosts', 'utf8');
  writeFileSync('/etc/hosts', `${hostsBefore.trimEnd()}\n127.0.0.1 ${STAND_IN} # job-executor self-healing test\n`);
  standIn = createServer((req, res) => {
    standInHits.push(`${req.method} ${req.url}`);
    res.end('Hello from the helloservice stand-in\n');
  });
  await new Promise<void>((resolve, reject) => standIn.once('error', reject).listen(80, '127.0.0.1', resolve));
  double = await new KeptnDouble({ token: 'scenario-token' }).start();
}, 300_000);

afterAll(async () => {
  await service?.close();
  if (hostsBefore !== undefined) writeFileSync('/etc/hosts', hostsBefore);
  await new Promise<void>((r) => (standIn ? standIn.close(() => r()) : r()));
  await double?.stop();
  for (const stage of ['qa', 'production'])
    await clients.core
      .deleteNamespace({ name: `${PROJECT}-${stage}`, propagationPolicy: 'Background' })
      .catch(() => undefined);
});

async function play(ev: TriggeredEvent, target: string): Promise<void> {
  expect(await double.push(ev, target)).toBe(202);
  await expect
    .poll(() => double.task(ev.id)?.open, { ...CLUSTER_WAIT, timeout: 180_000, message: `${ev.type} answered` })
    .toBe(false);
}

describe('the self-healing scenario, end to end', () => {
  it('scales production to 2 replicas with helm, leaves qa at 1, and load-tests it with locust', async () => {
    // The seed's config and files, unchanged but for a shorter locust run (the seed's runs a minute).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'je-seed-'));
    cpSync(SEED, path.join(dir, PROJECT, 'production', 'helloservice'), { recursive: true });
    writeFileSync(
      path.join(dir, PROJECT, 'production', 'helloservice', 'locust', 'locust.conf'),
      'headless = true\nusers = 2\nspawn-rate = 2\nrun-time = 3s\n',
    );
    const bin = path.dirname(helmBinary());
    const settings = loadSettings(
      {
        config: dir,
        port: '0',
        sink: 'keptn-api',
        'allowed-images': 'alpine/helm:3.9.0,locustio/locust:2.8.6',
        'pass-env': 'PATH,HOME,KUBECONFIG',
        'work-dir': mkdtempSync(path.join(os.tmpdir(), 'je-seed-work-')),
      },
      { KEPTN_API_ENDPOINT: double.api, KEPTN_API_TOKEN: double.token, PATH: `${bin}:${process.env.PATH ?? ''}` },
    );
    process.env.PATH = `${bin}:${process.env.PATH ?? ''}`;
    const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    service = await startServer(settings, logger, await createService(settings, logger));
    const target = `http://127.0.0.1:${service.port}/`;

    const action = double.trigger('sh.keptn.event.action.triggered', sequenceData());
    await play(action, target);
    const test = double.trigger('sh.keptn.event.test.triggered', sequenceData(), {
      shkeptncontext: action.shkeptncontext,
    });
    await play(test, target);

    expect(double.violations).toEqual([]);
    const answers = (id: string) => double.task(id)?.answers.map((a) => ({ type: a.type, data: a.data })) ?? [];
    const [actionStarted, actionFinished] = answers(action.id);
    expect(actionStarted?.type).toBe('sh.keptn.event.action.started');
    expect(actionFinished?.type).toBe('sh.keptn.event.action.finished');
    expect(actionFinished?.data).toMatchObject({
      project: 'fulltour',
      stage: 'production',
      service: 'helloservice',
      status: 'succeeded',
      result: 'pass',
    });
    expect(actionFinished?.data.message).toMatch(
      /^Task 'Scale with Helm' finished successfully!\n\nLogs:\nRelease "helloservice" has been upgraded/,
    );

    const [, testFinished] = answers(test.id);
    expect(testFinished?.type).toBe('sh.keptn.event.test.finished');
    expect(testFinished?.data).toMatchObject({ status: 'succeeded', result: 'pass' });
    const times = testFinished?.data.test as { start: string; end: string };
    expect(Date.parse(times.end) - Date.parse(times.start)).toBeGreaterThanOrEqual(2000);
    expect(testFinished?.data.message).toMatch(/Aggregated/);
    expect(standInHits.length).toBeGreaterThan(0);

    await expect
      .poll(() => readyReplicas('fulltour-production'), {
        ...CLUSTER_WAIT,
        timeout: 120_000,
        message: 'ready pods in production',
      })
      .toBe(2);
    expect(await readyReplicas('fulltour-qa')).toBe(1);
  });

  it('through the Kubernetes runner, the same events create the equivalent Jobs', async () => {
    const ns = 'fulltour-production';
    await clients.core
      .createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'jes-deploy-using-helm' } } })
      .catch(() => undefined);
    const settings = loadSettings(
      {
        config: 'job-config',
        runner: 'kubernetes',
        'job-namespace': ns,
        'managed-by': 'je-self-healing',
        'allowed-images': 'alpine/helm:3.9.0,locustio/locust:2.8.6',
        sink: 'keptn-api',
      },
      { KEPTN_API_ENDPOINT: double.api, KEPTN_API_TOKEN: double.token },
    );
    const svc = await createService(settings, pino({ level: 'silent' }));
    for (const type of ['sh.keptn.event.action.triggered', 'sh.keptn.event.test.triggered']) {
      const ev = double.trigger(type, sequenceData());
      const r = await svc.executor.submit(JSON.parse(JSON.stringify(ev)) as never);
      if (r.status !== 'accepted') throw new Error(r.status);
      await r.done;
    }
    const jobs = (
      await clients.batch.listNamespacedJob({
        namespace: ns,
        labelSelector: 'app.kubernetes.io/managed-by=je-self-healing',
      })
    ).items;
    const byTask: Record<string, V1Job> = Object.fromEntries(
      jobs.map((j) => [j.metadata?.labels?.['keptn.sh/jes-task'] ?? '', j]),
    );
    const scale = byTask.Scale_with_Helm?.spec?.template.spec;
    expect(scale?.serviceAccountName).toBe('jes-deploy-using-helm');
    expect(scale?.containers[0]).toMatchObject({
      image: 'alpine/helm:3.9.0',
      command: ['helm'],
      args: [
        'upgrade',
        '-n',
        '$(KEPTN_PROJECT)-$(KEPTN_STAGE)',
        '$(KEPTN_SERVICE)',
        '/keptn/charts/$(KEPTN_SERVICE).tgz',
        '--set',
        'replicaCount=$(REPLICA_COUNT)',
      ],
    });
    expect(scale?.containers[0]?.env).toEqual(
      expect.arrayContaining([
        { name: 'REPLICA_COUNT', value: '2' },
        { name: 'KEPTN_PROJECT', value: 'fulltour' },
      ]),
    );
    expect(scale?.containers[0]?.volumeMounts?.map((m) => m.mountPath)).toContain('/keptn/charts/helloservice.tgz');
    const locust = byTask.Run_locust?.spec?.template.spec?.containers[0];
    expect(locust).toMatchObject({ image: 'locustio/locust:2.8.6', command: ['locust'] });
    expect(locust?.args).toContain('http://$(KEPTN_SERVICE).$(KEPTN_PROJECT)-$(KEPTN_STAGE)');
    expect(locust?.volumeMounts?.map((m) => m.mountPath)).toEqual([
      '/keptn',
      '/keptn/locust/basic.py',
      '/keptn/locust/locust.conf',
    ]);
    // The chart file delivered is the one in the config source.
    const cm = (await clients.core.listNamespacedConfigMap({ namespace: ns })).items.find((c) =>
      c.metadata?.name?.startsWith(`${byTask.Scale_with_Helm?.metadata?.name}-files-`),
    );
    expect(
      Buffer.from(cm?.binaryData?.f0 ?? '', 'base64').equals(readFileSync(`${SEED}/charts/helloservice.tgz`)),
    ).toBe(true);
    await svc.executor.close(1000);
  });
});
