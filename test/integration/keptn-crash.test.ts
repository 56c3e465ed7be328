import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KeptnDouble } from '../fixtures/keptn-double.js';
import {
  killContainer,
  processesMatching,
  startServiceProcess,
  type ServiceProcess,
} from '../helpers/service-process.js';

const SCOPE = { project: 'fulltour', stage: 'production', service: 'helloservice' };
const TAG = `4${process.pid}`;

/** vi.waitFor with a message that says what was missing. */
function until(what: string, check: () => boolean, timeout = 30_000): Promise<void> {
  return vi.waitFor(
    () => {
      if (!check()) throw new Error(`still waiting for ${what}`);
    },
    { timeout, interval: 50 },
  );
}

let double: KeptnDouble;
const services: ServiceProcess[] = [];
beforeAll(async () => {
  double = await new KeptnDouble().start();
});
afterAll(async () => {
  for (const s of services) s.child.kill('SIGKILL');
  await double.stop();
});

describe('a crash with the Keptn API transport (the event stays open in Keptn and is polled again)', () => {
  it('SIGKILL mid-run, then a restart: Keptn sees one .started and one .finished per task, no second .started', async () => {
    double.addResource(
      SCOPE,
      'job/config.yaml',
      `apiVersion: v2
actions:
  - name: slow
    events: [{ name: sh.keptn.event.action.triggered }]
    tasks:
      - { name: sleeper, image: alpine:3, cmd: ["/bin/sleep", "${TAG}"] }
`,
    );
    const work = await mkdtemp(path.join(os.tmpdir(), 'je-keptn-crash-'));
    const args = [
      '--transport',
      'keptn-api',
      '--keptn-api-endpoint',
      double.api,
      '--keptn-api-token',
      double.token,
      '--config-source',
      'keptn',
      '--pubsub-topic',
      'sh.keptn.event.action.triggered',
      '--poll-interval-ms',
      '100',
      '--heartbeat-interval-ms',
      '250',
      '--allowed-images',
      'alpine:*',
      '--work-dir',
      work,
      '--k8s-node-name',
      'node-1',
      '--k8s-namespace',
      'keptn',
    ];
    const first = await startServiceProcess(args);
    services.push(first);
    const tasks = [
      double.trigger('sh.keptn.event.action.triggered', SCOPE),
      double.trigger('sh.keptn.event.action.triggered', SCOPE),
    ];
    await until('both tasks started in Keptn', () => tasks.every((t) => double.task(t.id)?.started === 1));
    await until('both task processes running', () => processesMatching(`sleep ${TAG}`).length === 2);
    // The whole container at once: the service and its process launcher.
    await killContainer(first);

    const second = await startServiceProcess(args);
    services.push(second);
    await until('both tasks closed in Keptn', () => tasks.every((t) => double.task(t.id)?.open === false));
    // Let the poller go round a few more times: an event offered again must not be answered again.
    await sleep(600);
    for (const t of tasks) {
      expect(double.task(t.id)).toMatchObject({ started: 1, finished: 1, open: false });
      const finished = double.task(t.id)?.answers.find((a) => a.type.endsWith('.finished'));
      expect(finished?.data).toMatchObject({ status: 'errored', result: 'fail' });
      expect(String(finished?.data.message)).toContain("the service restarted while task 'sleeper' ran");
    }
    expect(double.violations).toEqual([]);
    await until('no task process left', () => processesMatching(`sleep ${TAG}`).length === 0, 10_000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 90_000);
});
