import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KeptnApiClient } from '../../src/keptn/api-client.js';
import { KeptnApiTransport } from '../../src/keptn/transports/keptn-api.js';
import { KeptnDouble, type ReceivedEvent } from '../fixtures/keptn-double.js';
import { silentLogger, testServer, type TestServer } from '../helpers/service.js';
import { found } from '../helpers/wait.js';

/** The seed's remediation action and test task (keptn-protocol.md §1.2), run by the local runner. */
function jobConfig(marker: string, word: string): string {
  return `apiVersion: v2
actions:
  - name: "Remediation: Scaling with Helm"
    events:
      - name: "sh.keptn.event.action.triggered"
        jsonpath: { property: "$.data.action.action", match: "scale" }
    tasks:
      - name: "Scale with Helm"
        files: [ /charts ]
        env:
          - { name: REPLICA_COUNT, value: "$.data.action.value", valueFrom: event }
        image: "alpine/helm:3.9.0"
        cmd: ["sh", "-c", "echo {{id}} >> ${marker}; echo config ${word} scales $(KEPTN_SERVICE) to $REPLICA_COUNT; cat /keptn/charts/helloservice.txt{{#if data.sleep}}; sleep {{data.sleep}}{{/if}}"]
  - name: "Run tests using locust"
    events: [{ name: "sh.keptn.event.test.triggered" }]
    tasks:
      - name: "Run locust"
        files: [ locust/basic.py ]
        image: "locustio/locust:2.8.6"
        cmd: ["sh", "-c", "echo {{id}} >> ${marker}; cat /keptn/locust/basic.py"]
`;
}

const SCOPE = { project: 'fulltour', stage: 'production', service: 'helloservice' };
const TOPICS = 'sh.keptn.event.action.triggered,sh.keptn.event.test.triggered';

function startService(double: KeptnDouble, flags: Record<string, string> = {}): Promise<TestServer> {
  return testServer({
    transport: 'keptn-api',
    'keptn-api-endpoint': double.api,
    'keptn-api-token': double.token,
    'config-source': 'keptn',
    'config-cache-seconds': '0',
    'pubsub-topic': TOPICS,
    'k8s-namespace': 'keptn-jes',
    'k8s-node-name': 'node-1',
    'k8s-pod-name': 'job-executor-abc',
    'k8s-deployment-name': 'job-executor',
    'poll-interval-ms': '100',
    'heartbeat-interval-ms': '250',
    'allowed-images': '*',
    'shutdown-grace': '20',
    ...flags,
  });
}

async function lines(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

const polls = (double: KeptnDouble) =>
  double.requests.filter((r) => r.url.includes('/controlPlane/v1/event/triggered/')).length;

function answers(double: KeptnDouble, triggeredId: string): { started: ReceivedEvent[]; finished: ReceivedEvent[] } {
  const mine = double.received.filter((e) => e.triggeredid === triggeredId);
  return {
    started: mine.filter((e) => e.type.endsWith('.started')),
    finished: mine.filter((e) => e.type.endsWith('.finished')),
  };
}

async function completed(double: KeptnDouble, triggeredId: string, timeoutMs = 30_000) {
  return vi.waitFor(
    () =>
      found(double.task(triggeredId)?.open === false && double.task(triggeredId), `task ${triggeredId} to complete`),
    { timeout: timeoutMs },
  );
}

// Generous: the machine running the suite is shared, and several of these wait for polls and backoffs.
describe('Keptn API transport (remote execution plane) against the control-plane double', { timeout: 60_000 }, () => {
  let double: KeptnDouble;
  let dir: string;
  let marker: string;
  let running: TestServer[] = [];

  beforeAll(async () => {
    double = await new KeptnDouble({ token: 'keptn-token' }).start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'je-keptn-marker-'));
  });
  afterEach(async () => {
    // A failed test may have left the API down; the services' answers need it to close quickly.
    double.endOutage();
    await double.goOnline();
    await Promise.all(running.map((r) => r.server.close()));
    running = [];
    // Every test ends with Keptn's rules kept: a breach anywhere fails the test that caused it.
    expect(double.violations).toEqual([]);
  }, 60_000);
  afterAll(async () => {
    await double.stop();
  });

  const start = async (flags: Record<string, string> = {}) => {
    const r = await startService(double, flags);
    running.push(r);
    return r;
  };

  it('registers, keeps the registration alive, and runs a polled action.triggered once with config and files at the event commit', async () => {
    marker = path.join(dir, 'happy.txt');
    double.addResource(SCOPE, 'charts/helloservice.txt', 'chart v1');
    double.addResource(SCOPE, 'job/config.yaml', jobConfig(marker, 'v1'));
    const triggered = double.trigger('sh.keptn.event.action.triggered', {
      ...SCOPE,
      action: { name: 'scale', action: 'scale', description: 'Scale up', value: '2' },
      problem: { problemTitle: 'http_response_time_seconds_main_page_sum' },
    });
    // A later push to the stage branch must not change what this event runs: it is pinned to its commit.
    double.addResource(SCOPE, 'job/config.yaml', jobConfig(marker, 'v2'));
    double.addResource(SCOPE, 'charts/helloservice.txt', 'chart v2');

    await start();
    const task = await completed(double, triggered.id);
    expect(task.started).toBe(1);
    expect(task.finished).toBe(1);
    const { started, finished } = answers(double, triggered.id);
    expect(started[0]).toMatchObject({
      type: 'sh.keptn.event.action.started',
      shkeptncontext: triggered.shkeptncontext,
      source: 'job-executor-service',
      via: 'api',
    });
    expect(finished[0]?.data).toMatchObject({ ...SCOPE, status: 'succeeded', result: 'pass' });
    expect(String(finished[0]?.data.message)).toContain("Task 'Scale with Helm' finished successfully!");
    expect(String(finished[0]?.data.message)).toContain('config v1 scales helloservice to 2');
    expect(String(finished[0]?.data.message)).toContain('chart v1');

    const integration = [...double.integrations.values()][0];
    expect(integration).toMatchObject({ name: 'job-executor-service' });
    expect(integration?.metadata).toMatchObject({
      hostname: 'node-1',
      location: 'control-plane',
      kubernetesmetadata: { namespace: 'keptn-jes', podname: 'job-executor-abc', deploymentname: 'job-executor' },
    });
    // The go-sdk's distributorversion, so Bridge lets users edit the subscriptions; the package version apart.
    expect(integration?.metadata).toMatchObject({
      distributorversion: '0.15.0',
      integrationversion: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    expect(integration?.subscriptions.map((s) => s.event)).toEqual(TOPICS.split(','));
    await expect
      .poll(() => integration?.pings ?? 0, { timeout: 20_000, message: 'a few heartbeats' })
      .toBeGreaterThanOrEqual(3);

    // Polling keeps returning an event while it runs; it ran once all the same.
    expect(await lines(marker)).toEqual([triggered.id]);
    const pollsThen = polls(double);
    await expect
      .poll(() => polls(double), { timeout: 20_000, message: 'more polls' })
      .toBeGreaterThanOrEqual(pollsThen + 5);
    expect(await lines(marker)).toEqual([triggered.id]);

    // Config: service level at the commit; the project level is never asked with a commit (not on its branch).
    const resourceGets = double.requests.filter((r) => r.url.includes('/resource-service/'));
    expect(
      resourceGets.some((r) =>
        r.url.includes(
          `/service/helloservice/resource/job%252Fconfig.yaml?gitCommitID=${triggered.gitcommitid as string}`,
        ),
      ),
    ).toBe(true);
    expect(
      resourceGets.filter((r) => /\/project\/fulltour\/resource/.test(r.url) && r.url.includes('gitCommitID')),
    ).toEqual([]);
  });

  it('test.triggered: test.start/test.end in the answer, config from the stage level when the service has none', async () => {
    marker = path.join(dir, 'test.txt');
    const scope = { project: 'fulltour', stage: 'qa', service: 'helloservice' };
    double.addResource({ project: 'fulltour', stage: 'qa' }, 'job/config.yaml', jobConfig(marker, 'qa'));
    double.addResource(scope, 'locust/basic.py', 'from locust import HttpUser');
    const triggered = double.trigger('sh.keptn.event.test.triggered', scope);
    await start();
    await completed(double, triggered.id);
    const fin = answers(double, triggered.id).finished[0];
    expect(fin?.data).toMatchObject({
      status: 'succeeded',
      result: 'pass',
      test: { start: expect.stringMatching(/Z$/), end: expect.stringMatching(/Z$/) },
    });
    expect(String(fin?.data.message)).toContain('from locust import HttpUser');
  });

  it('a missing config, an invalid one and an unknown commit are logged to Keptn once and left unanswered; the service keeps serving', async () => {
    marker = path.join(dir, 'missing.txt');
    const r = await start();
    await vi.waitFor(
      () => found(double.integrations.size > 0 && [...double.integrations.values()][0]?.pings, 'registration'),
      { timeout: 20_000 },
    );
    const none = double.trigger('sh.keptn.event.action.triggered', {
      project: 'noconfig',
      stage: 'production',
      service: 'svc',
      action: { action: 'scale' },
    });
    double.addResource(
      { project: 'broken', stage: 'production', service: 'svc' },
      'job/config.yaml',
      'apiVersion: v2\nactions:\n  - name: x\n    events: [{ name: "sh.keptn.event.action.triggered" }]\n    tasks: [{ name: t, imag: alpine }]\n',
    );
    const invalid = double.trigger('sh.keptn.event.action.triggered', {
      project: 'broken',
      stage: 'production',
      service: 'svc',
      action: { action: 'scale' },
    });
    double.addResource(
      { project: 'pinned', stage: 'production', service: 'svc' },
      'job/config.yaml',
      jobConfig(marker, 'pinned'),
    );
    const unknownCommit = double.trigger(
      'sh.keptn.event.action.triggered',
      { project: 'pinned', stage: 'production', service: 'svc', action: { action: 'scale' } },
      { gitcommitid: 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef' },
    );

    const logFor = (id: string) => double.logs.filter((l) => l.triggeredid === id);
    await expect
      .poll(() => [none, invalid, unknownCommit].filter((t) => logFor(t.id).length === 0).map((t) => t.id), {
        timeout: 20_000,
        message: 'events still without an error log',
      })
      .toEqual([]);
    expect(logFor(none.id)[0]).toMatchObject({
      integrationid: [...double.integrations.keys()][0],
      task: 'action',
      shkeptncontext: none.shkeptncontext,
    });
    expect(logFor(none.id)[0]?.message).toMatch(
      /no job\/config\.yaml in Keptn's resource service for noconfig\/production\/svc/,
    );
    expect(logFor(invalid.id)[0]?.message).toMatch(
      /actions\[0\]\.tasks\[0\]\.imag: unknown key \(did you mean "image"\?\)/,
    );
    expect(logFor(unknownCommit.id)[0]?.message).toMatch(/at commit deadbeef/);
    // Logged once, not at every poll.
    const pollsThen = polls(double);
    await expect
      .poll(() => polls(double), { timeout: 20_000, message: 'more polls' })
      .toBeGreaterThanOrEqual(pollsThen + 10);
    expect(logFor(none.id)).toHaveLength(1);
    for (const t of [none, invalid, unknownCommit]) expect(answers(double, t.id).started).toEqual([]);

    // Still serving: health, and a good event right after.
    expect((await r.http.get('/healthz')).status).toBe(200);
    double.addResource({ project: 'pinned', stage: 'production', service: 'svc' }, 'charts/helloservice.txt', 'chart');
    const good = double.trigger('sh.keptn.event.action.triggered', {
      project: 'pinned',
      stage: 'production',
      service: 'svc',
      action: { action: 'scale', value: '3' },
    });
    await completed(double, good.id);
  });

  it('ALWAYS_SEND_FINISHED_EVENT: a missing config is answered .started + errored .finished, and the error reaches the log ingestion', async () => {
    await start({ 'always-send-finished': 'true', 'k8s-node-name': 'node-always' });
    const t = double.trigger('sh.keptn.event.action.triggered', {
      project: 'nowhere',
      stage: 'production',
      service: 'svc',
      action: { action: 'scale' },
    });
    await completed(double, t.id);
    const { started, finished } = answers(double, t.id);
    expect(started).toHaveLength(1);
    expect(finished[0]?.data).toMatchObject({
      status: 'errored',
      result: 'fail',
      message: expect.stringContaining('no job/config.yaml'),
    });
    await expect
      .poll(() => double.logs.some((l) => l.triggeredid === t.id), { timeout: 20_000, message: 'the error log' })
      .toBe(true);
  });

  it('a failing log ingestion does not fail the errored .finished Keptn received (the error log is a side delivery)', async () => {
    const r = await start({ 'always-send-finished': 'true', 'k8s-node-name': 'node-logfail' });
    double.failLogIngestion(500);
    try {
      const t = double.trigger('sh.keptn.event.action.triggered', {
        project: 'nowhere-else',
        stage: 'production',
        service: 'svc',
        action: { action: 'scale' },
      });
      await completed(double, t.id);
      expect(answers(double, t.id).finished[0]?.data).toMatchObject({ status: 'errored', result: 'fail' });
      const run = await vi.waitFor(
        () =>
          found(
            r.service.store.list(50).find((x) => x.event.id === t.id && x.finishedAt !== undefined),
            'the run to close',
          ),
        { timeout: 20_000 },
      );
      expect(run.answers.map((a) => [a.type, a.status])).toEqual([
        ['sh.keptn.event.action.started', 'delivered'],
        ['sh.keptn.event.action.finished', 'delivered'],
      ]);
      expect(double.logs.filter((l) => l.triggeredid === t.id)).toEqual([]);
    } finally {
      double.restoreLogIngestion();
    }
  });

  it("a noisy task's .finished reaches Keptn within api-service's 64 KiB limit (issue 13: 66 807 bytes were refused and lost)", async () => {
    const scope = { project: 'noisy', stage: 'production', service: 'svc' };
    double.addResource(
      scope,
      'job/config.yaml',
      `apiVersion: v2
actions:
  - name: noisy
    events: [{ name: "sh.keptn.event.action.triggered" }]
    tasks:
      - name: noisy
        image: alpine
        cmd: ["sh", "-c", "seq 1 4000 | sed 's/$/ 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz/'"]
`,
    );
    await start({ 'k8s-node-name': 'node-noisy' });
    const t = double.trigger('sh.keptn.event.action.triggered', { ...scope, action: { action: 'scale' } });
    const task = await completed(double, t.id);
    expect([task.started, task.finished]).toEqual([1, 1]);
    const fin = answers(double, t.id).finished[0];
    expect(fin?.data).toMatchObject({ status: 'succeeded', result: 'pass' });
    // The tail of the output is kept: the end of a log says most about a run.
    expect(String(fin?.data.message)).toContain('4000 0123456789abcdefghijklmnopqrstuvwxyz');
    expect(
      double.refusedForSize.filter((x) => x.type === 'sh.keptn.event.action.finished' && x.bytes > 64 * 1024).length,
    ).toBeLessThanOrEqual(1);
  });

  it('503s and an unreachable API: polling and answers back off and recover; nothing is lost and nothing runs twice', async () => {
    marker = path.join(dir, 'outage.txt');
    const scope = { project: 'outage', stage: 'production', service: 'svc' };
    double.addResource(scope, 'charts/helloservice.txt', 'chart');
    double.addResource(scope, 'job/config.yaml', jobConfig(marker, 'outage'));
    const r = await start({ 'k8s-node-name': 'node-outage' });
    await vi.waitFor(
      () =>
        found(
          [...double.integrations.values()].find((i) => i.metadata.hostname === 'node-outage')?.pings,
          'registration',
        ),
      { timeout: 20_000 },
    );

    // 503 for every call while events are waiting.
    double.outage(503);
    const during = [1, 2, 3].map((n) =>
      double.trigger('sh.keptn.event.action.triggered', { ...scope, action: { action: 'scale', value: String(n) } }),
    );
    const failedBefore = double.requests.filter((q) => q.status === 503).length;
    await expect
      .poll(() => double.requests.filter((q) => q.status === 503).length, {
        timeout: 20_000,
        message: 'the service to meet several 503s',
      })
      .toBeGreaterThanOrEqual(failedBefore + 6);
    double.endOutage();
    for (const t of during) await completed(double, t.id);

    // Unreachable while a task runs: its .finished waits in the outbox and arrives when the API is back.
    const slow = double.trigger('sh.keptn.event.action.triggered', {
      ...scope,
      action: { action: 'scale', value: '9' },
      sleep: '1',
    });
    // Offline once the task's process runs (its files were fetched; that is the first thing it does).
    await expect.poll(() => lines(marker), { timeout: 20_000, message: 'the slow task to run' }).toContain(slow.id);
    await double.goOffline();
    // The task is over; its .finished waits in the outbox (the run is `answering` until it is delivered).
    await expect
      .poll(() => r.service.store.list(50).find((run) => run.event.id === slow.id)?.status, {
        timeout: 20_000,
        message: 'the task to end on the service side',
      })
      .toBe('answering');
    expect((await r.http.get('/healthz')).status).toBe(200);
    await double.goOnline();
    await completed(double, slow.id, 60_000);
    await expect
      .poll(() => r.service.store.list(50).find((run) => run.event.id === slow.id)?.status, {
        timeout: 20_000,
        message: 'the run to close once answered',
      })
      .toBe('succeeded');

    expect((await lines(marker)).sort()).toEqual([...during.map((t) => t.id), slow.id].sort());
    for (const t of [...during, slow]) {
      const a = answers(double, t.id);
      expect([a.started.length, a.finished.length]).toEqual([1, 1]);
    }
  }, 90_000);

  it('a poller restarted mid-run hands the still-open event over again and the executor answers it as a duplicate', async () => {
    marker = path.join(dir, 'restart-poller.txt');
    const scope = { project: 'restart', stage: 'production', service: 'svc' };
    double.addResource(scope, 'charts/helloservice.txt', 'chart');
    double.addResource(scope, 'job/config.yaml', jobConfig(marker, 'restart'));
    const r = await start({ 'k8s-node-name': 'node-restart' });
    const t = double.trigger('sh.keptn.event.action.triggered', {
      ...scope,
      action: { action: 'scale', value: '1' },
      sleep: '2',
    });
    await expect.poll(() => double.task(t.id)?.started, { timeout: 20_000, message: '.started' }).toBe(1);

    // A second poller against the same executor: it sees the open event and offers it again.
    const submitted: string[] = [];
    r.service.executor.on('submitted', (result, event) => event.id === t.id && submitted.push(result.status));
    const poller = new KeptnApiTransport({
      api: new KeptnApiClient({
        baseUrl: double.api,
        token: double.token,
        timeoutMs: 5000,
        endpointSetting: 'KEPTN_API_ENDPOINT',
      }),
      intake: r.service.executor,
      registration: {
        name: 'job-executor-service',
        namespace: 'keptn-jes',
        hostname: 'node-restart',
        integrationVersion: 'test',
        location: 'control-plane',
      },
      topics: ['sh.keptn.event.action.triggered'],
      pollIntervalMs: 100,
      heartbeatIntervalMs: 250,
      maxBackoffMs: 1000,
      logger: silentLogger,
    });
    try {
      await expect
        .poll(() => submitted, { timeout: 20_000, message: 'the restarted poller to offer the event' })
        .toContain('duplicate');
    } finally {
      await poller.close();
    }
    await completed(double, t.id);
    expect(await lines(marker)).toEqual([t.id]);
  });

  it('a service restarted while a task runs: the graceful stop answers it, the new instance does not run it again', async () => {
    marker = path.join(dir, 'restart-service.txt');
    const scope = { project: 'restart2', stage: 'production', service: 'svc' };
    double.addResource(scope, 'charts/helloservice.txt', 'chart');
    double.addResource(scope, 'job/config.yaml', jobConfig(marker, 'restart2'));
    const first = await start({ 'k8s-node-name': 'node-restart2' });
    const t = double.trigger('sh.keptn.event.action.triggered', {
      ...scope,
      action: { action: 'scale', value: '1' },
      sleep: '1',
    });
    await expect.poll(() => double.task(t.id)?.started, { timeout: 20_000, message: '.started' }).toBe(1);
    await first.server.close();
    running = running.filter((x) => x !== first);
    expect(double.task(t.id)?.open).toBe(false);

    await start({ 'k8s-node-name': 'node-restart2' });
    const pollsThen = polls(double);
    await expect
      .poll(() => polls(double), { timeout: 20_000, message: 'the new instance to poll' })
      .toBeGreaterThanOrEqual(pollsThen + 10);
    expect(await lines(marker)).toEqual([t.id]);
    expect(answers(double, t.id).started).toHaveLength(1);
  });

  it('registers again when the control plane forgot the integration, and follows subscription filters edited in Bridge', async () => {
    marker = path.join(dir, 'filters.txt');
    await start({ 'k8s-node-name': 'node-filters' });
    const integration = await vi.waitFor(
      () =>
        found(
          [...double.integrations.values()].find((i) => i.metadata.hostname === 'node-filters' && i.pings > 0),
          'registration',
        ),
      { timeout: 20_000 },
    );
    double.forgetIntegrations();
    const again = await vi.waitFor(() => found(double.integrations.get(integration.id), 'a new registration'), {
      timeout: 20_000,
    });
    // Bridge narrows the action subscription to another project.
    for (const s of again.subscriptions) s.filter.projects = ['elsewhere'];
    const pings = again.pings;
    await expect
      .poll(() => again.pings, { timeout: 20_000, message: 'the edit to be fetched by a heartbeat' })
      .toBeGreaterThanOrEqual(pings + 2);
    const scope = { project: 'filtered', stage: 'production', service: 'svc' };
    double.addResource(scope, 'charts/helloservice.txt', 'chart');
    double.addResource(scope, 'job/config.yaml', jobConfig(marker, 'filtered'));
    const t = double.trigger('sh.keptn.event.action.triggered', { ...scope, action: { action: 'scale', value: '1' } });
    const pollsThen = polls(double);
    await expect
      .poll(() => polls(double), { timeout: 20_000, message: 'more polls' })
      .toBeGreaterThanOrEqual(pollsThen + 10);
    expect(double.requests.filter((q) => q.url.includes('project=elsewhere')).length).toBeGreaterThan(0);
    expect(double.task(t.id)?.started).toBe(0);
    // Close the task so later tests are not polled for it.
    for (const s of again.subscriptions) s.filter.projects = [];
    await completed(double, t.id);
  });
});
