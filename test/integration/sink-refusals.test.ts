import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbox } from '../../src/executor/outbox.js';
import { KeptnApiClient } from '../../src/keptn/api-client.js';
import { buildFinished, buildStarted, type OutgoingEvent } from '../../src/keptn/responses.js';
import { CloudEventsHttpSink, DistributorSink, KeptnApiSink } from '../../src/keptn/sinks/http-sinks.js';
import { AnswerTooLargeError, PermanentDeliveryError, type Sink } from '../../src/keptn/sinks/sink.js';
import { KeptnErrorLogObserver } from '../../src/keptn/transports/keptn-api.js';
import { NatsConnectionHolder, NatsSink } from '../../src/keptn/transports/nats.js';
import { KeptnDouble, type TriggeredEvent } from '../fixtures/keptn-double.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { startReceiver } from '../helpers/receiver.js';
import { keptnEvent, silentLogger } from '../helpers/service.js';

const SCOPE = { project: 'p', stage: 's', service: 'svc' };
const KIB_64 = 64 * 1024;

/** The task's `.finished` with a message that makes the whole event exactly `bytes` long as JSON. */
function finishedOfSize(t: TriggeredEvent, bytes: number): OutgoingEvent {
  const event = keptnEvent(t.type, t.data, { id: t.id, shkeptncontext: t.shkeptncontext });
  const base = buildFinished(event, 'job-executor-service', { status: 'succeeded', result: 'pass', message: '' });
  const pad = bytes - Buffer.byteLength(JSON.stringify(base));
  if (pad < 0) throw new Error('event too small to pad');
  return buildFinished(event, 'job-executor-service', {
    status: 'succeeded',
    result: 'pass',
    message: 'x'.repeat(pad),
    id: base.id,
  });
}

const startedFor = (t: TriggeredEvent) =>
  buildStarted(keptnEvent(t.type, t.data, { id: t.id, shkeptncontext: t.shkeptncontext }), 'job-executor-service');

async function refusal(sink: Sink, event: OutgoingEvent): Promise<Error | undefined> {
  try {
    await sink.send(event, new AbortController().signal);
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

const outbox = (sinks: Sink[], extra: Partial<ConstructorParameters<typeof Outbox>[1]> = {}) =>
  new Outbox(sinks, { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 40, logger: silentLogger, ...extra });

describe(
  'answers refused for their size, as Keptn refuses them (the double follows keptn-protocol.md §3.1/§3.2.2)',
  { timeout: 30_000 },
  () => {
    let double: KeptnDouble;
    beforeAll(async () => {
      double = await new KeptnDouble({ token: 'tok' }).start();
    });
    afterAll(async () => {
      await double.stop();
    });

    it('keptn-api: 64 KiB passes, one byte more is a 400 "request body too large", which the sink reports as too large (not retried)', async () => {
      const t = double.trigger('sh.keptn.event.test.triggered', SCOPE);
      const sink = new KeptnApiSink(double.api, double.token);
      expect(await refusal(sink, startedFor(t))).toBeUndefined();
      const tooBig = await refusal(sink, finishedOfSize(t, KIB_64 + 1));
      expect(tooBig).toBeInstanceOf(AnswerTooLargeError);
      expect(tooBig?.message).toMatch(/answered 400: .*request body too large.*65537 bytes/);
      expect((tooBig as AnswerTooLargeError).size).toBe(KIB_64 + 1);
      expect(double.refusedForSize.at(-1)).toMatchObject({
        via: 'api',
        bytes: KIB_64 + 1,
        status: 400,
        type: 'sh.keptn.event.test.finished',
      });
      expect(double.task(t.id)).toMatchObject({ finished: 0, open: true });
      expect(await refusal(sink, finishedOfSize(t, KIB_64))).toBeUndefined();
      expect(double.task(t.id)).toMatchObject({ started: 1, finished: 1, open: false });
      expect(double.violations).toEqual([]);
    });

    it("the 66 807-byte .finished of issue 13 is not lost: the outbox sends a shortened one after the API's refusal", async () => {
      const t = double.trigger('sh.keptn.event.test.triggered', SCOPE);
      const ob = outbox([new KeptnApiSink(double.api, double.token)]);
      await ob.send('r', startedFor(t));
      const big = finishedOfSize(t, 66_807);
      const r = await ob.send('r', big, {
        shrink: (e) =>
          JSON.stringify(e).length > KIB_64 ? { ...e, data: { ...e.data, message: 'shortened' } } : undefined,
      });
      expect(r).toMatchObject({ delivered: true });
      expect(double.task(t.id)).toMatchObject({ started: 1, finished: 1, open: false });
      expect(double.task(t.id)?.answers.at(-1)?.data.message).toBe('shortened');
      expect(double.violations).toEqual([]);
    });

    it('distributor at its default limit: a bare 500 that closes the connection, reported as too large', async () => {
      const t = double.trigger('sh.keptn.event.test.triggered', SCOPE);
      const sink = new DistributorSink(`${double.url}/distributor/event`);
      expect(await refusal(sink, startedFor(t))).toBeUndefined();
      const e = await refusal(sink, finishedOfSize(t, 66_807));
      expect(e).toBeInstanceOf(AnswerTooLargeError);
      expect(e?.message).toMatch(/answered 500 to a 66807-byte answer.*API_PROXY_MAX_PAYLOAD_BYTES_KB/);
      expect(double.refusedForSize.at(-1)).toMatchObject({ via: 'distributor', bytes: 66_807, status: 500 });
      expect(await refusal(sink, finishedOfSize(t, 1000))).toBeUndefined();
      expect(double.task(t.id)).toMatchObject({ started: 1, finished: 1, open: false });
    });

    it("distributor with a raised limit (JES's 128 KiB) in front of the API: the API's refusal arrives as a bare 500, still too large; a bare 500 for a small answer is retried", async () => {
      const raised = await new KeptnDouble({ token: 'tok', distributorMaxBytes: 128 * 1024 }).start();
      try {
        const t = raised.trigger('sh.keptn.event.test.triggered', SCOPE);
        const sink = new DistributorSink(`${raised.url}/distributor/event`);
        expect(await refusal(sink, startedFor(t))).toBeUndefined();
        const e = await refusal(sink, finishedOfSize(t, 100_000));
        expect(e).toBeInstanceOf(AnswerTooLargeError);
        expect(raised.refusedForSize.at(-1)).toMatchObject({ via: 'distributor', bytes: 100_000 });
        // The API refuses a small event (no source): the distributor's bare 500 is then an ordinary failure.
        const small = await refusal(sink, { ...startedFor(t), source: '' });
        expect(small).toBeInstanceOf(Error);
        expect(small).not.toBeInstanceOf(PermanentDeliveryError);
      } finally {
        await raised.stop();
      }
    });

    it('a failing log ingestion does not fail an errored .finished that Keptn received; a working one gets the entry', async () => {
      const t = double.trigger('sh.keptn.event.test.triggered', SCOPE);
      const api = new KeptnApiClient({
        baseUrl: double.api,
        token: double.token,
        timeoutMs: 5000,
        endpointSetting: 'KEPTN_API_ENDPOINT',
      });
      const reg = await api.request<{ id: string }>('POST', '/controlPlane/v1/uniform/registration', {
        body: { name: 'je', metadata: { hostname: 'h', kubernetesmetadata: { namespace: 'n' } }, subscriptions: [] },
      });
      const ob = outbox([new KeptnApiSink(double.api, double.token)], {
        observers: [new KeptnErrorLogObserver(api, () => reg.id)],
      });
      const event = keptnEvent(t.type, t.data, { id: t.id, shkeptncontext: t.shkeptncontext });
      double.failLogIngestion(500);
      try {
        expect(await ob.send('r', startedFor(t))).toMatchObject({ delivered: true });
        const r = await ob.send(
          'r',
          buildFinished(event, 'je', { status: 'errored', result: 'fail', message: 'no job/config.yaml' }),
        );
        expect(r).toMatchObject({ delivered: true });
        expect(ob.sideFailures).toBe(1);
        expect(double.task(t.id)).toMatchObject({ finished: 1, open: false });
        expect(double.logs.filter((l) => l.triggeredid === t.id)).toEqual([]);
      } finally {
        double.restoreLogIngestion();
      }
      const u = double.trigger('sh.keptn.event.test.triggered', SCOPE);
      const ev2 = keptnEvent(u.type, u.data, { id: u.id, shkeptncontext: u.shkeptncontext });
      await ob.send('s', startedFor(u));
      expect(
        await ob.send('s', buildFinished(ev2, 'je', { status: 'errored', result: 'fail', message: 'boom' })),
      ).toMatchObject({ delivered: true });
      expect(double.logs.filter((l) => l.triggeredid === u.id)).toEqual([
        expect.objectContaining({ integrationid: reg.id, message: 'boom', task: 'test' }),
      ]);
      expect(double.violations).toEqual([]);
    });

    it('the double records a second .started for one .triggered', async () => {
      const t = double.trigger('sh.keptn.event.test.triggered', SCOPE);
      const sink = new KeptnApiSink(double.api, double.token);
      await sink.send(startedFor(t), new AbortController().signal);
      await sink.send(startedFor(t), new AbortController().signal);
      expect(double.violations).toEqual([expect.stringMatching(/a second \.started for this \.triggered/)]);
      double.violations.length = 0;
    });
  },
);

describe('permanent refusals are not retried; ce-* headers are percent-encoded', () => {
  it('413 from any receiver is too large; 404 is permanent (one request); 429 and 503 are retried', async () => {
    const ev = startedFor({ ...new KeptnDouble().trigger('sh.keptn.event.test.triggered', SCOPE) });
    for (const [status, kind, requests] of [
      [413, AnswerTooLargeError, 1],
      [404, PermanentDeliveryError, 1],
      [429, Error, 3],
      [503, Error, 3],
    ] as const) {
      const receiver = await startReceiver({ status });
      const r = await outbox([new CloudEventsHttpSink(receiver.url)], { maxAttempts: 3 }).send('r', ev);
      expect(r.delivered).toBe(false);
      expect(receiver.received).toHaveLength(requests);
      const e = await refusal(new CloudEventsHttpSink(receiver.url), ev);
      expect(e).toBeInstanceOf(kind);
      if (kind === Error) expect(e).not.toBeInstanceOf(PermanentDeliveryError);
      await receiver.close();
    }
  });

  it('a header Node cannot send (a token with a line break) fails at once, permanently, and sends nothing', async () => {
    const receiver = await startReceiver();
    const ev = startedFor(new KeptnDouble().trigger('sh.keptn.event.test.triggered', SCOPE));
    const r = await outbox([new KeptnApiSink(`${receiver.url}/api`, 'tok\r\nx-evil: 1')]).send('r', ev);
    expect(r).toMatchObject({ delivered: false, attempts: 1 });
    expect(r.error).toMatch(/Invalid character in header content/);
    expect(receiver.received).toEqual([]);
    await receiver.close();
  });

  it('binary mode: non-ASCII, CR/LF, space, quote and percent in attributes arrive percent-encoded (UTF-8) and decode back; the body keeps é', async () => {
    const headers: IncomingHttpHeaders[] = [];
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let b = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (b += c));
      req.on('end', () => {
        headers.push(req.headers);
        bodies.push(b);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const ev: OutgoingEvent = {
      ...startedFor(new KeptnDouble().trigger('sh.keptn.event.test.triggered', SCOPE)),
      id: 'id-é-😀',
      shkeptncontext: 'ctx\r\nset-cookie: x',
      triggeredid: 'a "b" 100%',
      data: { project: 'é', stage: 's', service: 'svc' },
    };
    await new CloudEventsHttpSink(url).send(ev, new AbortController().signal);
    await new Promise<void>((r) => server.close(() => r()));
    const h = headers[0] ?? {};
    expect(h['ce-id']).toBe('id-%C3%A9-%F0%9F%98%80');
    expect(h['ce-shkeptncontext']).toBe('ctx%0D%0Aset-cookie:%20x');
    expect(h['ce-triggeredid']).toBe('a%20%22b%22%20100%25');
    expect(h['set-cookie']).toBeUndefined();
    for (const key of ['id', 'shkeptncontext', 'triggeredid'] as const)
      expect(decodeURIComponent(String(h[`ce-${key}`]))).toBe(ev[key]);
    expect(h['ce-type']).toBe('sh.keptn.event.test.started');
    expect(h['content-type']).toBe('application/json');
    expect(JSON.parse(bodies[0] ?? '{}')).toEqual({ project: 'é', stage: 's', service: 'svc' });
  });
});

describe('NATS: an answer over the server max_payload', { timeout: 30_000 }, () => {
  it('is reported as too large, not retried; one that fits is published', async () => {
    const nats = await startNatsServer();
    const holder = new NatsConnectionHolder({ url: nats.url, name: 'test', logger: silentLogger });
    const sink = new NatsSink(holder);
    try {
      const t = new KeptnDouble().trigger('sh.keptn.event.test.triggered', SCOPE);
      // nats-server's default max_payload is 1 MB.
      const e = await refusal(sink, finishedOfSize(t, 1024 * 1024 + 1));
      expect(e).toBeInstanceOf(AnswerTooLargeError);
      expect(e?.message).toMatch(/1048577 bytes, over the server's max_payload of 1048576 bytes/);
      expect(await refusal(sink, finishedOfSize(t, KIB_64))).toBeUndefined();
    } finally {
      await sink.close();
      await nats.stop();
    }
  });
});
