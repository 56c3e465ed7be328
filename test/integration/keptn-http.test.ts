import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resourceEncoding } from '../../src/config/sources/create.js';
import type { RunningServer } from '../../src/service.js';
import { KeptnDouble } from '../fixtures/keptn-double.js';
import { silentLogger, testServer } from '../helpers/service.js';

function jobConfig(marker: string): string {
  return `apiVersion: v2
actions:
  - name: "Deploy using helm"
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - name: "Run helm"
        files: [ /charts ]
        image: "alpine/helm:3.9.0"
        cmd: ["sh", "-c", "echo {{id}} >> ${marker}; ls /keptn/charts; cat '/keptn/charts/my values.yaml'"]
`;
}

const SCOPE = { project: 'fulltour', stage: 'qa', service: 'helloservice' };

describe(
  'HTTP push with Keptn: the distributor sidecar and the API gateway, played by the double',
  { timeout: 60_000 },
  () => {
    let double: KeptnDouble;
    let dir: string;
    let server: RunningServer | undefined;

    beforeAll(async () => {
      double = await new KeptnDouble({ token: 'tok' }).start();
      dir = await mkdtemp(path.join(os.tmpdir(), 'je-keptn-http-'));
    });
    afterEach(async () => {
      await server?.close();
      server = undefined;
      expect(double.violations).toEqual([]);
    });
    afterAll(async () => {
      await double.stop();
    });

    const start = async (flags: Record<string, string>, logger: Logger = silentLogger) => {
      ({ server } = await testServer({ 'config-source': 'keptn', 'allowed-images': '*', ...flags }, { logger }));
      return `http://127.0.0.1:${server.port}/`;
    };

    const runs = async (marker: string) =>
      (await readFile(marker, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

    it('distributor: pushed event, config and files through its proxy (single-encoded URIs), answers to its /event', async () => {
      const marker = path.join(dir, 'distributor.txt');
      double.addResource(SCOPE, 'job/config.yaml', jobConfig(marker));
      double.addResource(SCOPE, 'charts/helloservice.tgz', 'tgz');
      double.addResource(SCOPE, 'charts/my values.yaml', 'replicaCount: 1');
      const url = await start({
        'resource-service-url': `${double.url}/distributor/resource-service`,
        'resource-uri-encoding': 'single',
        sink: 'distributor',
        'pubsub-url': `${double.url}/distributor/event`,
      });
      const t = double.trigger('sh.keptn.event.deployment.triggered', {
        ...SCOPE,
        configurationChange: { values: { image: 'podtato:v1' } },
      });
      expect(await double.push(t, url)).toBe(202);
      await expect
        .poll(() => double.task(t.id)?.open, { timeout: 20_000, message: 'the task to complete' })
        .toBe(false);
      const finished = double.received.find((e) => e.triggeredid === t.id && e.type.endsWith('.finished'));
      expect(finished, String(finished?.data.message)).toMatchObject({
        via: 'distributor',
        data: { status: 'succeeded', result: 'pass' },
      });
      expect(String(finished?.data.message)).toContain('helloservice.tgz\nmy values.yaml\nreplicaCount: 1');
      expect(await runs(marker)).toEqual([t.id]);
    });

    it('API gateway: double-encoded URIs, answers to /v1/event with x-token; a redelivered push runs once', async () => {
      const marker = path.join(dir, 'gateway.txt');
      double.addResource(SCOPE, 'job/config.yaml', jobConfig(marker));
      const url = await start({ 'keptn-api-endpoint': double.api, 'keptn-api-token': double.token, sink: 'keptn-api' });
      const t = double.trigger('sh.keptn.event.deployment.triggered', SCOPE);
      expect(await double.push(t, url)).toBe(202);
      // The distributor retries a push it thinks failed: same id, answered once.
      expect(await double.push(t, url)).toBe(202);
      await expect
        .poll(() => double.task(t.id)?.open, { timeout: 20_000, message: 'the task to complete' })
        .toBe(false);
      expect(double.task(t.id)).toMatchObject({ started: 1, finished: 1 });
      expect(double.received.find((e) => e.triggeredid === t.id)?.via).toBe('api');
      expect(await runs(marker)).toEqual([t.id]);
    });

    it('a wrong token is named in the error the service logs; the answer to the push says where to look (the config cannot be read)', async () => {
      const lines: string[] = [];
      const logger = pino(
        { level: 'info' },
        new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString('utf8')), done()) }),
      );
      const url = await start({ 'keptn-api-endpoint': double.api, 'keptn-api-token': 'wrong', sink: 'stdout' }, logger);
      const t = double.trigger('sh.keptn.event.deployment.triggered', SCOPE);
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({ ...t, datacontenttype: 'application/json' }),
      });
      const body = (await res.json()) as { status: string; message: string };
      expect(body.status).toBe('ignored');
      expect(body.message).toMatch(/fulltour\/qa\/helloservice.*see the service log/);
      expect(lines.filter((l) => l.includes(t.id)).join('')).toMatch(/answered 401.*check KEPTN_API_TOKEN/);
      // Leave no open task behind for the rule check of other tests.
      const task = double.task(t.id);
      if (task) task.open = false;
    });

    it('`auto` encoding: single for the distributor proxy on localhost:8081, double elsewhere', () => {
      expect(resourceEncoding('auto', 'http://localhost:8081/resource-service')).toBe('single');
      expect(resourceEncoding('auto', 'http://api-gateway-nginx.keptn/api/resource-service')).toBe('double');
      expect(resourceEncoding('auto', 'http://resource-service:8080')).toBe('double');
      expect(resourceEncoding('single', 'http://resource-service:8080')).toBe('single');
    });
  },
);
