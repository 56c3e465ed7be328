import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KeptnApiClient } from '../../src/keptn/api-client.js';
import type { KeptnEvent } from '../../src/keptn/event.js';
import { KeptnApiTransport, SDK_DISTRIBUTOR_VERSION } from '../../src/keptn/transports/keptn-api.js';
import type { SubscriptionSyncMode } from '../../src/keptn/transports/subscription-sync.js';
import { KeptnDouble, type Integration } from '../fixtures/keptn-double.js';

const A = 'sh.keptn.event.action.triggered';
const T = 'sh.keptn.event.test.triggered';
const D = 'sh.keptn.event.deployment.triggered';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** The transport on its own, against the double: what Keptn sees of the registration and its subscriptions. */
describe('Uniform registration and PUBSUB_TOPIC against the control-plane double', { timeout: 30_000 }, () => {
  let double: KeptnDouble;
  let open: KeptnApiTransport[] = [];

  beforeAll(async () => {
    double = await new KeptnDouble({ token: 't' }).start();
  });
  afterEach(async () => {
    await Promise.all(open.map((t) => t.close()));
    open = [];
    expect(double.violations).toEqual([]);
  });
  afterAll(async () => {
    await double.stop();
  });

  const start = async (host: string, topics: string[], subscriptionSync?: SubscriptionSyncMode) => {
    const lines: LogLine[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString('utf8')) as LogLine);
          done();
        },
      }),
    );
    const submitted: KeptnEvent[] = [];
    const transport = new KeptnApiTransport({
      api: new KeptnApiClient({
        baseUrl: double.api,
        token: double.token,
        timeoutMs: 5000,
        endpointSetting: 'KEPTN_API_ENDPOINT',
      }),
      intake: {
        submit: async (event) => {
          submitted.push(event);
          return { status: 'duplicate' };
        },
      },
      registration: {
        name: 'job-executor-service',
        namespace: 'keptn-jes',
        hostname: host,
        integrationVersion: '1.2.3',
        location: 'control-plane',
      },
      topics,
      ...(subscriptionSync ? { subscriptionSync } : {}),
      pollIntervalMs: 50,
      heartbeatIntervalMs: 100,
      maxBackoffMs: 500,
      logger,
    });
    open.push(transport);
    await transport.ready;
    const integration = [...double.integrations.values()].find((i) => i.metadata.hostname === host) as Integration;
    return { transport, lines, submitted, integration };
  };
  const stop = async (t: KeptnApiTransport) => {
    await t.close();
    open = open.filter((x) => x !== t);
  };
  const events = (i: Integration) => i.subscriptions.map((s) => s.event).sort();
  const warnings = (lines: LogLine[]) => lines.filter((l) => l.level === 40);

  it("registers with the go-sdk's distributorversion (so Bridge lets users edit subscriptions) and its own version apart", async () => {
    const { integration } = await start('node-version', [A]);
    expect(integration.metadata).toMatchObject({ distributorversion: '0.15.0', integrationversion: '1.2.3' });
    expect(SDK_DISTRIBUTOR_VERSION).toBe('0.15.0');
  });

  it('the double keeps the stored subscriptions on a second registration, as the shipyard-controller does', async () => {
    const first = await start('node-keep', [A], 'off');
    await stop(first.transport);
    const again = await start('node-keep', [A, T], 'off');
    expect(again.integration.registrations).toBe(2);
    expect(events(again.integration)).toEqual([A]);
    // And says so, naming the type that is not polled and what to do.
    expect(warnings(again.lines)).toEqual([
      expect.objectContaining({ missing: [T], msg: expect.stringMatching(/NOT polled.*PUBSUB_TOPIC_SYNC=add/) }),
    ]);
  });

  it('add (the default): a changed PUBSUB_TOPIC reaches Keptn; subscriptions it no longer lists stay, with a warning; a Bridge filter is kept', async () => {
    const first = await start('node-add', [A, T]);
    // A Bridge edit narrows the action subscription.
    const action = first.integration.subscriptions.find((s) => s.event === A);
    if (action) action.filter.projects = ['fulltour'];
    await stop(first.transport);

    const again = await start('node-add', [A, D]);
    expect(events(again.integration)).toEqual([D, A, T].sort());
    expect(again.integration.subscriptions.find((s) => s.event === A)?.filter.projects).toEqual(['fulltour']);
    expect(warnings(again.lines)).toEqual([
      expect.objectContaining({
        notInPubsubTopic: [T],
        msg: expect.stringMatching(/kept and polled.*PUBSUB_TOPIC_SYNC=replace/),
      }),
    ]);
    // The new subscription is polled: its event reaches the executor.
    const t = double.trigger(D, { project: 'p', stage: 's', service: 'svc' });
    await expect
      .poll(() => again.submitted.some((e) => e.id === t.id), {
        timeout: 20_000,
        message: 'the deployment event to be handed over',
      })
      .toBe(true);
    expect(again.submitted.find((e) => e.id === t.id)?.data.temporaryData).toMatchObject({
      distributor: { subscriptionID: again.integration.subscriptions.find((s) => s.event === D)?.id },
    });
  });

  it('replace: Keptn ends up with exactly the PUBSUB_TOPIC types, and the service stops polling the dropped one', async () => {
    const first = await start('node-replace', [A, T]);
    await stop(first.transport);
    const again = await start('node-replace', [A, D], 'replace');
    expect(events(again.integration)).toEqual([D, A].sort());
    expect(warnings(again.lines)).toEqual([]);
    const pollsFor = (type: string) => double.requests.filter((r) => r.url.includes(`/event/triggered/${type}`)).length;
    const before = pollsFor(T);
    const ofA = pollsFor(A);
    await expect.poll(() => pollsFor(A), { timeout: 20_000, message: 'more polls' }).toBeGreaterThanOrEqual(ofA + 3);
    expect(pollsFor(T)).toBe(before);
  });

  it('two replicas on one node adding the same subscription at once end with one of it', async () => {
    const first = await start('node-race', [A]);
    await stop(first.transport);
    const [x, y] = await Promise.all([start('node-race', [A, D]), start('node-race', [A, D])]);
    await expect
      .poll(() => events(x.integration).filter((e) => e === D).length, {
        timeout: 20_000,
        message: 'the duplicates to be cleaned up',
      })
      .toBe(1);
    expect(events(y.integration)).toEqual([D, A].sort());
  });

  it('a control plane that refuses subscription changes: the service keeps polling what Keptn has and says so', async () => {
    const first = await start('node-refuse', [A]);
    await stop(first.transport);
    // Only the subscription calls fail (403, as for a token without the right): the rest works.
    double.failSubscriptionChanges(403);
    try {
      const again = await start('node-refuse', [A, D]);
      await expect
        .poll(() => again.lines.some((l) => l.level === 50), {
          timeout: 20_000,
          message: 'the service to give up on the sync',
        })
        .toBe(true);
      expect(again.lines.filter((l) => l.level === 50)).toEqual([
        expect.objectContaining({ msg: expect.stringMatching(/could not be made to follow PUBSUB_TOPIC/) }),
      ]);
      expect(events(again.integration)).toEqual([A]);
      const pings = again.integration.pings;
      await expect
        .poll(() => again.integration.pings, { timeout: 20_000, message: 'heartbeats to go on' })
        .toBeGreaterThanOrEqual(pings + 3);
      expect(again.lines.filter((l) => l.level === 50)).toHaveLength(1);
    } finally {
      double.allowSubscriptionChanges();
    }
  });
});
