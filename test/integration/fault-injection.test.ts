import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { answerOf } from '../helpers/answers.js';
import { startReceiver } from '../helpers/receiver.js';
import { keptnEvent, tempTree } from '../helpers/service.js';
import { processesMatching, startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';

/** mulberry32: a small seeded generator, so a failing sequence of faults can be replayed exactly. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 20261201;
const EVENTS = 200;
const TAG = `0.${process.pid}${Date.now() % 1000}`;

let svc: ServiceProcess | undefined;
afterAll(() => svc?.child.kill('SIGKILL'));

describe('fault injection: kills, stops, restarts and receiver outages', () => {
  it(`${EVENTS} events (seed ${SEED}): every event that got .started has exactly one .finished, none has two .started, no task is left running`, async () => {
    const rand = random(SEED);
    const receiver = await startReceiver();
    const dir = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - name: work
    events: [{ name: sh.keptn.event.test.triggered }]
    tasks:
      - name: step
        image: alpine:3
        cmd: ["/bin/sleep", "${TAG}"]
`,
    });
    const work = await mkdtemp(path.join(os.tmpdir(), 'je-fault-'));
    const args = [
      '--config',
      path.join(dir, 'job/config.yaml'),
      '--allowed-images',
      'alpine:*',
      '--sink',
      `http:${receiver.url}`,
      '--concurrency',
      '4',
      '--queue-size',
      '1000',
      '--work-dir',
      work,
      '--shutdown-grace',
      '1',
      '--delivery-attempts',
      '30',
    ];
    svc = await startServiceProcess(args);
    const events = Array.from({ length: EVENTS }, () => keptnEvent('sh.keptn.event.test.triggered'));
    const faults = { kill: 0, term: 0, outage: 0 };

    const restart = async (how: 'SIGKILL' | 'SIGTERM') => {
      const old = svc as ServiceProcess;
      old.child.kill(how);
      await old.exited;
      svc = await startServiceProcess(args);
    };
    // A sender keeps offering an event until it is taken (Keptn's API does; the distributor retries).
    const offer = (event: (typeof events)[number]) =>
      vi.waitFor(
        async () => {
          const res = await (svc as ServiceProcess).post(event);
          if (res.status !== 202) throw new Error(`event ${event.id} was never taken: ${res.status}`);
        },
        { timeout: 20_000, interval: 50 },
      );

    for (let i = 0; i < EVENTS; i += 10) {
      await Promise.all(events.slice(i, i + 10).map(offer));
      const dice = rand();
      if (dice < 0.15) {
        faults.kill++;
        await restart('SIGKILL');
      } else if (dice < 0.25) {
        faults.term++;
        await restart('SIGTERM');
      } else if (dice < 0.4) {
        faults.outage++;
        receiver.setDown(true);
        await sleep(200 + rand() * 800);
        receiver.setDown(false);
      } else {
        await sleep(rand() * 300);
      }
    }
    expect(faults.kill + faults.term).toBeGreaterThan(2);

    const byEvent = () => {
      const out = new Map<string, { started: Set<string>; finished: Set<string> }>();
      for (const r of receiver.received) {
        const a = answerOf(r);
        const e = out.get(a.triggeredid) ?? { started: new Set<string>(), finished: new Set<string>() };
        (a.type.endsWith('.started') ? e.started : e.finished).add(a.id);
        out.set(a.triggeredid, e);
      }
      return out;
    };
    await expect
      .poll(() => [...byEvent()].filter(([, e]) => e.started.size > 0 && e.finished.size === 0).map(([id]) => id), {
        timeout: 120_000,
        interval: 200,
        message: 'events with a .started and no .finished',
      })
      .toEqual([]);
    const answers = byEvent();
    const twoStarted = [...answers].filter(([, e]) => e.started.size > 1).map(([id]) => id);
    const twoFinished = [...answers].filter(([, e]) => e.finished.size > 1).map(([id]) => id);
    expect(twoStarted, 'events with two .started').toEqual([]);
    expect(twoFinished, 'events with two .finished').toEqual([]);
    const started = [...answers.values()].filter((e) => e.started.size === 1).length;
    expect(started).toBeGreaterThan(EVENTS / 2);
    svc.child.kill('SIGTERM');
    await svc.exited;
    svc = undefined;
    await expect
      .poll(() => processesMatching(`sleep ${TAG}`).length, { timeout: 10_000, message: 'task processes left' })
      .toBe(0);
    await receiver.close();
  }, 300_000);
});
