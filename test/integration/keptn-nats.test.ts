import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempTree, testServer, type TestServer } from '../helpers/service.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';

interface Published {
  readonly subject: string;
  readonly event: {
    type: string;
    triggeredid?: string;
    shkeptncontext: string;
    source: string;
    data: Record<string, unknown>;
  };
}

describe('NATS transport against a real nats-server: two replicas in one queue group', () => {
  let nats: NatsServer;
  let observer: NatsConnection;
  const seen: Published[] = [];
  let marker: string;
  let replicas: TestServer[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    observer = await connect({ servers: nats.url });
    // Sees everything on Keptn's subjects, like the mongodb-datastore does (sh.keptn.event.>).
    observer.subscribe('sh.keptn.event.>', {
      callback: (_err, msg) => {
        try {
          seen.push({
            subject: msg.subject,
            event: JSON.parse(Buffer.from(msg.data).toString('utf8')) as Published['event'],
          });
        } catch {
          // The test's own garbage message.
        }
      },
    });
    await observer.flush();
    const work = await mkdtemp(path.join(os.tmpdir(), 'je-nats-'));
    marker = path.join(work, 'runs.txt');
    const config = await tempTree({
      'job/config.yaml': `apiVersion: v2
actions:
  - name: count
    events: [{ name: "sh.keptn.event.nats-task.triggered" }]
    tasks:
      - name: count
        image: alpine
        cmd: ["sh", "-c", "echo {{id}} >> ${marker}; echo handled {{data.n}}"]
`,
    });
    for (let i = 0; i < 2; i++) {
      replicas.push(
        await testServer({
          transport: 'nats',
          'pubsub-url': nats.url,
          // A wildcard subject, as in-cluster subscriptions may use.
          'pubsub-topic': 'sh.keptn.event.*.triggered',
          config,
          'allowed-images': '*',
          concurrency: '4',
        }),
      );
    }
    await Promise.all(
      replicas.map((r) => r.service.intake.transport?.ready ?? Promise.reject(new Error('no NATS transport'))),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.server.close()));
    replicas = [];
    await observer?.close();
    await nats?.stop();
  });

  it('50 events published: each runs exactly once, on one of the two replicas, and both take a share', async () => {
    const n = 50;
    const triggered = Array.from({ length: n }, (_, i) => ({
      specversion: '1.0',
      id: randomUUID(),
      source: 'shipyard-controller',
      type: 'sh.keptn.event.nats-task.triggered',
      time: new Date().toISOString(),
      contenttype: 'application/json',
      shkeptncontext: randomUUID(),
      data: { project: 'p', stage: 's', service: 'svc', n: i },
    }));
    for (const e of triggered) observer.publish(e.type, Buffer.from(JSON.stringify(e)));
    await observer.flush();

    const answersOf = (kind: string) => seen.filter((p) => p.subject === `sh.keptn.event.nats-task.${kind}`);
    await expect
      .poll(() => answersOf('finished').length, { timeout: 90_000, interval: 100, message: '.finished answers' })
      .toBeGreaterThanOrEqual(n);

    // Exactly once: every event id once in the marker, one .started and one .finished each.
    const runs = (await readFile(marker, 'utf8')).split('\n').filter((l) => l !== '');
    expect(runs.sort()).toEqual(triggered.map((e) => e.id).sort());
    for (const kind of ['started', 'finished']) {
      const answers = answersOf(kind);
      expect(answers).toHaveLength(n);
      expect(answers.every((a) => a.event.type === a.subject)).toBe(true);
      expect(answers.map((a) => a.event.triggeredid).sort()).toEqual(triggered.map((e) => e.id).sort());
    }
    for (const t of triggered) {
      const fin = answersOf('finished').find((a) => a.event.triggeredid === t.id);
      expect(fin?.event).toMatchObject({
        shkeptncontext: t.shkeptncontext,
        source: 'job-executor-service',
        data: { project: 'p', stage: 's', service: 'svc', status: 'succeeded', result: 'pass' },
      });
      expect(String(fin?.event.data.message)).toContain(`handled ${t.data.n}`);
    }
    // The queue group shared the work.
    const perReplica = replicas.map((r) => r.service.store.list(1000).length);
    expect(perReplica.reduce((a, b) => a + b, 0)).toBe(n);
    expect(Math.min(...perReplica)).toBeGreaterThan(0);
  }, 120_000);

  it('a message that is not a Keptn event is skipped and the replicas keep serving', async () => {
    observer.publish('sh.keptn.event.nats-task.triggered', Buffer.from('not json'));
    observer.publish(
      'sh.keptn.event.nats-task.triggered',
      Buffer.from(JSON.stringify({ type: 'sh.keptn.event.nats-task.triggered', data: {} })),
    );
    const id = randomUUID();
    observer.publish(
      'sh.keptn.event.nats-task.triggered',
      Buffer.from(
        JSON.stringify({
          specversion: '1.0',
          id,
          source: 'test',
          type: 'sh.keptn.event.nats-task.triggered',
          shkeptncontext: randomUUID(),
          data: { project: 'p', stage: 's', service: 'svc', n: 'after' },
        }),
      ),
    );
    await expect
      .poll(() => seen.some((p) => p.subject.endsWith('.finished') && p.event.triggeredid === id), {
        timeout: 30_000,
        message: 'the good event to be answered',
      })
      .toBe(true);
    for (const r of replicas) expect((await r.http.get('/healthz')).status).toBe(200);
  }, 40_000);
});
