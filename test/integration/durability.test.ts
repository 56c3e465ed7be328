import { mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { answerOf, answersByEvent } from '../helpers/answers.js';
import { startReceiver } from '../helpers/receiver.js';
import { createService } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { keptnEvent, runEvent, silentLogger, tempTree, testService } from '../helpers/service.js';
import {
  killContainer,
  processesMatching,
  startServiceProcess,
  type ServiceProcess,
} from '../helpers/service-process.js';

const MARK = `${process.pid}${Date.now() % 100000}`;

function config(seconds: string, extra = ''): string {
  return `apiVersion: v2
actions:
  - name: slow
    events:
      - name: sh.keptn.event.test.triggered
    tasks:
      - name: sleeper
        image: alpine:3
        cmd: ["/bin/sleep", "${seconds}"]
${extra}`;
}

/** An in-process service whose answers go where `--sink` says (testService collects them instead). */
async function serviceWithSinks(config: string, flags: Record<string, string>) {
  const work = await mkdtemp(path.join(os.tmpdir(), 'je-dur-'));
  const settings = loadSettings({ config, 'allowed-images': '*', 'work-dir': work, ...flags }, {});
  return createService(settings, silentLogger);
}

const running: ServiceProcess[] = [];
afterEach(() => {
  for (const s of running.splice(0)) s.child.kill('SIGKILL');
});

describe('every .started gets exactly one .finished', () => {
  it('SIGTERM with runs still queued: each of them is answered, errored, naming why', async () => {
    const receiver = await startReceiver();
    const dir = await tempTree({ 'job/config.yaml': config('3') });
    const work = await mkdtemp(path.join(os.tmpdir(), 'je-dur-'));
    const svc = await startServiceProcess([
      '--config',
      path.join(dir, 'job/config.yaml'),
      '--allowed-images',
      'alpine:*',
      '--sink',
      `http:${receiver.url}`,
      '--concurrency',
      '2',
      '--shutdown-grace',
      '1',
      '--work-dir',
      work,
    ]);
    running.push(svc);
    const events = Array.from({ length: 8 }, () => keptnEvent('sh.keptn.event.test.triggered'));
    for (const e of events) expect((await svc.post(e)).status).toBe(202);
    await expect
      .poll(() => receiver.received.length, { timeout: 10_000, message: 'answers at the receiver' })
      .toBeGreaterThanOrEqual(8);
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    const answers = answersByEvent(receiver.received);
    for (const e of events) {
      const a = answers.get(e.id);
      expect(a?.started.size, `.started of ${e.id}`).toBe(1);
      expect(a?.finished.size, `.finished of ${e.id}`).toBe(1);
    }
    const messages = events.map((e) => [...(answers.get(e.id)?.finished.values() ?? [])][0]?.data.message as string);
    expect(messages.filter((m) => m.includes('not run: the service stopped before the run started'))).toHaveLength(6);
    expect(messages.filter((m) => m.includes('cancelled'))).toHaveLength(2);
    await receiver.close();
  });

  it('SIGKILL mid-run, then a restart: each open run is answered once, its processes are stopped, a redelivery is not run again', async () => {
    const receiver = await startReceiver();
    const tag = `3${MARK}`;
    const dir = await tempTree({ 'job/config.yaml': config(tag) });
    const work = await mkdtemp(path.join(os.tmpdir(), 'je-dur-'));
    const args = [
      '--config',
      path.join(dir, 'job/config.yaml'),
      '--allowed-images',
      'alpine:*',
      '--sink',
      `http:${receiver.url}`,
      '--concurrency',
      '2',
      '--work-dir',
      work,
    ];
    const first = await startServiceProcess(args);
    running.push(first);
    const events = Array.from({ length: 3 }, () => keptnEvent('sh.keptn.event.test.triggered'));
    for (const e of events) expect((await first.post(e)).status).toBe(202);
    await expect
      .poll(() => receiver.received.length, { timeout: 10_000, message: 'answers at the receiver' })
      .toBeGreaterThanOrEqual(3);
    await expect
      .poll(() => processesMatching(`sleep ${tag}`).length, { timeout: 20_000, message: 'tasks running' })
      .toBe(2);
    // As an OOM kill of the whole container would: the service and its process launcher at once (the
    // launcher alone would stop the tasks when the service goes; here nothing is left to do it).
    await killContainer(first);
    // The tasks outlive both: their process groups are their own.
    expect(processesMatching(`sleep ${tag}`)).toHaveLength(2);

    const second = await startServiceProcess(args);
    running.push(second);
    await expect
      .poll(() => receiver.received.length, { timeout: 10_000, message: 'answers at the receiver' })
      .toBeGreaterThanOrEqual(6);
    await expect
      .poll(() => processesMatching(`sleep ${tag}`), { timeout: 20_000, message: 'orphaned tasks still running' })
      .toEqual([]);
    const answers = answersByEvent(receiver.received);
    for (const e of events) {
      expect(answers.get(e.id)?.started.size).toBe(1);
      expect(answers.get(e.id)?.finished.size).toBe(1);
      const finished = [...(answers.get(e.id)?.finished.values() ?? [])][0];
      expect(finished?.data).toMatchObject({ status: 'errored', result: 'fail' });
    }
    const messages = events.map((e) => [...(answers.get(e.id)?.finished.values() ?? [])][0]?.data.message as string);
    expect(messages.filter((m) => m.includes("the service restarted while task 'sleeper' ran"))).toHaveLength(2);
    expect(messages.filter((m) => m.includes('the service restarted before the run started'))).toHaveLength(1);

    // Keptn's API keeps offering an event until it is finished; a copy after the restart is recognised.
    const again = await second.post(events[0]);
    expect(await again.json()).toMatchObject({ status: 'duplicate' });
    await sleep(300);
    expect(receiver.received).toHaveLength(6);
    expect(second.logs().some((l) => l.msg === 'took over runs left unanswered' && l.runs === 3)).toBe(true);
    await receiver.close();
  });

  it('a receiver that refuses an answer for its size gets a shortened one, never none', async () => {
    const receiver = await startReceiver({ maxBodyBytes: 6000 });
    const service = await serviceWithSinks(
      (await tempTree({
        'c.yaml': `apiVersion: v2
actions:
  - name: noisy
    events: [{ name: sh.keptn.event.test.triggered }]
    tasks:
      - name: talk
        image: alpine:3
        cmd: ["/bin/sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line $i of a noisy task; i=$((i+1)); done"]
`,
      })) + '/c.yaml',
      { sink: `http:${receiver.url}` },
    );
    const event = keptnEvent('sh.keptn.event.test.triggered');
    const run = await runEvent(service, event);
    const finished = run.answers.find((a) => a.type.endsWith('.finished'));
    expect(finished?.status).toBe('delivered');
    expect(receiver.refused.length).toBeGreaterThan(0);
    const got = receiver.received.map(answerOf).find((a) => a.type.endsWith('.finished'));
    expect(got?.data.message).toContain('the receiver refused this answer as too large');
    expect(got?.data).toMatchObject({ status: 'succeeded', result: 'pass' });
    expect(got?.id).toBe(finished?.id);
    await service.executor.close(1000);
    await receiver.close();
  });

  it('.started that cannot be delivered: no task runs and no lone .finished follows', async () => {
    const receiver = await startReceiver({ failFirst: 1000 });
    const marker = path.join(await mkdtemp(path.join(os.tmpdir(), 'je-mark-')), 'ran');
    const service = await serviceWithSinks(
      (await tempTree({
        'c.yaml': `apiVersion: v2
actions:
  - name: once
    events: [{ name: sh.keptn.event.test.triggered }]
    tasks:
      - name: touch
        image: alpine:3
        cmd: ["/usr/bin/touch", "${marker}"]
`,
      })) + '/c.yaml',
      { sink: `http:${receiver.url}`, 'delivery-attempts': '2' },
    );
    const run = await runEvent(service, keptnEvent('sh.keptn.event.test.triggered'));
    expect(run.status).toBe('errored');
    expect(run.error).toMatch(/\.started could not be delivered/);
    expect(run.finishedAt).toBeDefined();
    expect(run.answers.map((a) => [a.type.split('.').pop(), a.status])).toEqual([['started', 'failed']]);
    expect(run.tasks).toEqual([]);
    expect(existsSync(marker)).toBe(false);
    await service.executor.close(1000);
    await receiver.close();
  });

  it('a .finished kept back by an outage is sent again once the receiver is back, with the same id', async () => {
    const receiver = await startReceiver();
    const service = await serviceWithSinks(
      (await tempTree({ 'job/config.yaml': config('0.2') })) + '/job/config.yaml',
      {
        sink: `http:${receiver.url}`,
        'delivery-attempts': '2',
      },
    );
    const event = keptnEvent('sh.keptn.event.test.triggered');
    const submitted = await service.executor.submit(event);
    expect(submitted.status).toBe('accepted');
    await expect
      .poll(() => receiver.received.length, { timeout: 10_000, message: 'answers at the receiver' })
      .toBeGreaterThanOrEqual(1);
    receiver.setDown(true);
    const run = submitted.status === 'accepted' ? await submitted.done : undefined;
    expect(run?.answers.find((a) => a.type.endsWith('.finished'))?.status).toBe('failed');
    receiver.setDown(false);
    await service.executor.resume();
    await expect
      .poll(() => receiver.received.length, { timeout: 10_000, message: 'answers at the receiver' })
      .toBeGreaterThanOrEqual(2);
    const answers = answersByEvent(receiver.received).get(event.id);
    expect(answers?.finished.size).toBe(1);
    expect([...(answers?.finished.keys() ?? [])][0]).toBe(run?.answers.find((a) => a.type.endsWith('.finished'))?.id);
    await service.executor.close(1000);
    await receiver.close();
  });
});

describe('ALWAYS_SEND_FINISHED_EVENT answers only what the service subscribed to by name', () => {
  it("a wildcard subscription brings other services' tasks: those are left alone", async () => {
    const dir = await tempTree({ 'proj/job/config.yaml': config('0') });
    const { service, sink } = await testService(dir, {
      'always-send-finished': true,
      'pubsub-topic': 'sh.keptn.event.*.triggered,sh.keptn.event.deploy.triggered',
    });
    const other = await service.executor.submit(keptnEvent('sh.keptn.event.get-action.triggered', { project: 'nope' }));
    expect(other).toMatchObject({ status: 'ignored', reason: 'no-config' });
    const named = await service.executor.submit(keptnEvent('sh.keptn.event.deploy.triggered', { project: 'nope' }));
    expect(named.status).toBe('accepted');
    if (named.status === 'accepted') await named.done;
    expect(sink.events.map((e) => [e.type, e.data.status])).toEqual([
      ['sh.keptn.event.deploy.started', 'succeeded'],
      ['sh.keptn.event.deploy.finished', 'errored'],
    ]);
    await service.executor.close(1000);
  });
});
