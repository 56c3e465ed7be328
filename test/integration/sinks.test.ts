import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/executor/outbox.js';
import { buildFinished, buildStarted } from '../../src/keptn/responses.js';
import { createSinks } from '../../src/keptn/sinks/create.js';
import { loadSettings } from '../../src/settings/settings.js';
import { startReceiver } from '../helpers/receiver.js';
import { keptnEvent, silentLogger } from '../helpers/service.js';

const ev = keptnEvent('sh.keptn.event.deployment.triggered');
const outbox = (sinkFlag: string, env: Record<string, string> = {}, maxAttempts = 5) =>
  new Outbox(createSinks(loadSettings({ sink: sinkFlag }, env)), {
    maxAttempts,
    baseDelayMs: 20,
    maxDelayMs: 100,
    logger: silentLogger,
  });

describe('sinks', () => {
  it('keptn-api: POST {endpoint}/v1/event with x-token, the event as JSON', async () => {
    const api = await startReceiver();
    const ob = outbox('keptn-api', { KEPTN_API_ENDPOINT: `${api.url}/api`, KEPTN_API_TOKEN: 'tok' });
    const r = await ob.send('run', buildStarted(ev, 'job-executor-service'));
    expect(r.delivered).toBe(true);
    const [req] = api.received;
    expect(req?.url).toBe('/api/v1/event');
    expect(req?.headers['x-token']).toBe('tok');
    expect(JSON.parse(req?.body ?? '{}')).toMatchObject({
      type: 'sh.keptn.event.deployment.started',
      triggeredid: ev.id,
      shkeptncontext: ev.shkeptncontext,
    });
    await api.close();
  });

  it('distributor: a structured CloudEvent to PUBSUB_URL', async () => {
    const dist = await startReceiver();
    const ob = outbox('distributor', { PUBSUB_URL: `${dist.url}/event` });
    await ob.send('run', buildStarted(ev, 's'));
    expect(dist.received[0]?.url).toBe('/event');
    expect(dist.received[0]?.headers['content-type']).toBe('application/cloudevents+json');
    expect(JSON.parse(dist.received[0]?.body ?? '{}').specversion).toBe('1.0');
    await dist.close();
  });

  it('retries with backoff and keeps .finished behind .started', async () => {
    const flaky = await startReceiver({ failFirst: 3 });
    const ob = outbox(`http:${flaky.url}`);
    const started = ob.send('run', buildStarted(ev, 's'));
    const finished = ob.send('run', buildFinished(ev, 's', { status: 'succeeded', result: 'pass', message: '' }));
    const [a, b] = await Promise.all([started, finished]);
    expect(a).toMatchObject({ delivered: true, attempts: 4 });
    expect(b).toMatchObject({ delivered: true, attempts: 1 });
    expect(flaky.received.map((r) => r.headers['ce-type'])).toEqual([
      'sh.keptn.event.deployment.started',
      'sh.keptn.event.deployment.finished',
    ]);
    await flaky.close();
  });

  it('gives up on a permanent refusal at once and says so', async () => {
    const refusing = await startReceiver({ status: 400 });
    const r = await outbox(`http:${refusing.url}`).send('run', buildStarted(ev, 's'));
    expect(r.delivered).toBe(false);
    expect(r.error).toMatch(/answered 400/);
    expect(refusing.received).toHaveLength(1);
    await refusing.close();
  });

  it('file: appends JSON lines', async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'je-sink-')), 'answers.jsonl');
    const ob = outbox(`file:${file}`);
    await ob.send('r', buildStarted(ev, 's'));
    await ob.send('r', buildFinished(ev, 's', { status: 'succeeded', result: 'pass', message: 'ok' }));
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines.map((l) => l.type)).toEqual([
      'sh.keptn.event.deployment.started',
      'sh.keptn.event.deployment.finished',
    ]);
  });

  it('names a bad sink', () => {
    expect(() => createSinks(loadSettings({ sink: 'carrier-pigeon' }, {}))).toThrow(
      '--sink carrier-pigeon: unknown sink',
    );
    expect(() => createSinks(loadSettings({ sink: 'keptn-api' }, {}))).toThrow(
      '--sink keptn-api needs KEPTN_API_ENDPOINT',
    );
  });
});
