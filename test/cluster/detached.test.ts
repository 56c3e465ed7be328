import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, startServer } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { CollectingSink } from '../helpers/service.js';
import { openSse } from '../helpers/sse.js';
import { createNamespace, deleteNamespaces, makeClients, type Clients } from './helpers/kube.js';
import { HOLD_LABEL } from './helpers/kwok.js';
import { configDir, event } from './helpers/service.js';

let clients: Clients;
const namespaces: string[] = [];
beforeAll(() => {
  clients = makeClients();
});
afterAll(async () => {
  await deleteNamespaces(clients, namespaces);
});

describe('a run the service lets go of at shutdown (Kubernetes runner)', () => {
  it('is final as detached: the live stream ends with it, metrics count it, nothing is answered', async () => {
    const ns = await createNamespace(clients, 'je-detach');
    namespaces.push(ns);
    const dir = await configDir({
      'job/config.yaml': `apiVersion: v2
actions:
  - name: act
    events: [{ name: sh.keptn.event.deployment.triggered }]
    tasks:
      - { name: long, image: alpine, cmd: [sleep, "3600"], labels: { "${HOLD_LABEL}": "true" } }
`,
    });
    const settings = loadSettings(
      {
        config: dir,
        runner: 'kubernetes',
        'job-namespace': ns,
        'allowed-images': 'alpine',
        'managed-by': `je-${ns}`,
        port: '0',
        'shutdown-grace': '1',
        'instance-id': `detach-${ns}`,
      },
      {},
    );
    const sink = new CollectingSink();
    const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const service = await createService(settings, logger, { sinks: [sink] });
    const server = await startServer(settings, logger, service);
    const ev = event('sh.keptn.event.deployment.triggered');
    const submitted = await service.executor.submit(ev);
    if (submitted.status !== 'accepted') throw new Error(submitted.status);
    const stream = await openSse(`http://127.0.0.1:${server.port}/api/runs/${submitted.runId}/events`);
    // The snapshot may already say running; else a later `run` message does.
    const statuses = () =>
      stream.messages
        .filter((m) => m.event === 'run' || m.event === 'snapshot')
        .map((m) => (JSON.parse(m.data) as { status: string }).status);
    await expect.poll(statuses, { timeout: 30_000, message: 'run statuses on the live stream' }).toContain('running');
    const metricsBefore = await service.metrics.text();
    await server.close();
    await stream.done;
    const end = stream.messages.find((m) => m.event === 'end');
    expect(end && JSON.parse(end.data)).toMatchObject({ id: submitted.runId, status: 'detached' });
    const run = await submitted.done;
    expect(run.status).toBe('detached');
    expect(run.finishedAt).toBeDefined();
    expect(sink.events.map((e) => e.type)).toEqual(['sh.keptn.event.deployment.started']);
    expect(metricsBefore).toMatch(/job_executor_runs_total\{outcome="detached"\} 0/);
    expect(await service.metrics.text()).toMatch(/job_executor_runs_total\{outcome="detached"\} 1/);
  }, 90_000);
});
