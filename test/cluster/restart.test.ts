import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { jobName } from '../../src/runners/kubernetes/naming.js';
import { startReceiver } from '../helpers/receiver.js';
import type { ServiceProcess } from '../helpers/service-process.js';
import { found } from '../helpers/wait.js';
import { createNamespace, deleteNamespaces, makeClients, type Clients } from './helpers/kube.js';
import { POD_COMPLETE_DELAY_ANNOTATION } from './helpers/kwok.js';
import { configDir, event, kubeServiceProcess } from './helpers/service.js';
import { CLUSTER_WAIT } from './helpers/wait.js';

/**
 * The built service (`node dist/src/cli/main.js serve --runner kubernetes`), killed with SIGKILL while its
 * Jobs run (no shutdown code runs: no claim is let go, nothing is flushed), then started again as the same
 * instance. Counted at a real HTTP receiver: every event is answered exactly once `.started` and once
 * `.finished`, and each Job is the one the first process made (same uid), adopted rather than made again.
 */
let clients: Clients;
let ns: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  clients = makeClients();
  ns = await createNamespace(clients, 'je-restart', {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
  });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await deleteNamespaces(clients, [ns]);
});

interface Answer {
  type: string;
  triggeredid: string;
  data: { status: string; result: string; message?: string };
}

describe('restart', () => {
  it('SIGKILL mid-run, started again: each event answered once .started and once .finished, its Job adopted, not made again', async () => {
    const EVENTS = 3;
    const dir = await configDir({
      'job/config.yaml': `apiVersion: v2
actions:
  - name: act
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - { name: slow, image: alpine, cmd: [sleep, "10"], annotations: { "${POD_COMPLETE_DELAY_ANNOTATION}": "10000ms" } }
`,
    });
    const receiver = await startReceiver();
    // At info level: what it says of each Job is asserted below.
    const start = async (): Promise<ServiceProcess> => {
      const svc = await kubeServiceProcess({
        config: dir,
        ns,
        sink: `http:${receiver.url}/`,
        instanceId: 'restart-test',
        args: ['--log-level', 'info'],
      });
      children.add(svc.child);
      return svc;
    };
    // Structured (the whole event as JSON) or binary mode (attributes in ce-* headers, the data as the body).
    const answers = () =>
      receiver.received.map((r): Answer => {
        if (String(r.headers['content-type']).startsWith('application/cloudevents+json'))
          return JSON.parse(r.body) as Answer;
        const header = (name: string) => decodeURIComponent(String(r.headers[`ce-${name}`] ?? ''));
        return { type: header('type'), triggeredid: header('triggeredid'), data: JSON.parse(r.body) as Answer['data'] };
      });
    const first = await start();
    const events = Array.from({ length: EVENTS }, () => event('sh.keptn.event.deployment.triggered'));
    for (const ev of events) expect((await first.post(ev)).status).toBe(202);
    const names = events.map((ev) => jobName(ev.id, 0, 0));
    // Every Job exists and its pod runs: the kill lands mid-run.
    const uids = await vi.waitFor(async () => {
      const jobs = await Promise.all(names.map((name) => clients.batch.readNamespacedJob({ name, namespace: ns })));
      return found(
        jobs.every((j) => (j.status?.active ?? 0) > 0) && jobs.map((j) => j.metadata?.uid),
        'every Job created, its pod running',
      );
    }, CLUSTER_WAIT);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(answers().map((a) => a.type)).toEqual(Array(EVENTS).fill('sh.keptn.event.deployment.started'));
    for (const name of names) {
      const job = await clients.batch.readNamespacedJob({ name, namespace: ns });
      expect(
        job.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True'),
      ).toBeFalsy();
    }

    const second = await start();
    await expect
      .poll(() => answers().filter((a) => a.type.endsWith('.finished')).length, {
        ...CLUSTER_WAIT,
        timeout: 120_000,
        message: '.finished answers after the restart',
      })
      .toBeGreaterThanOrEqual(EVENTS);
    // Room for a wrongly repeated answer to arrive before counting.
    await sleep(3000);
    for (const ev of events) {
      const mine = answers().filter((a) => a.triggeredid === ev.id);
      expect(mine.map((a) => a.type)).toEqual([
        'sh.keptn.event.deployment.started',
        'sh.keptn.event.deployment.finished',
      ]);
      const finished = mine[1]?.data;
      expect(finished).toMatchObject({ status: 'succeeded', result: 'pass' });
      // The pod's output, not the runner's notes.
      expect(finished?.message).toContain('job-executor testenv: log line 1 (served by kwok)');
      expect(finished?.message).not.toMatch(/adopted existing Job|created Job/);
    }
    // The same Jobs (uids), none made again, and the restarted service says it adopted each.
    const jobs = (await clients.batch.listNamespacedJob({ namespace: ns })).items;
    expect(jobs.map((j) => j.metadata?.uid).sort()).toEqual([...uids].sort());
    for (const name of names) expect(second.stderr()).toContain(`adopted existing Job ${ns}/${name}`);
    expect(second.stderr()).not.toContain('created Job');

    second.child.kill('SIGTERM');
    await second.exited;
    await receiver.close();
  });
});
