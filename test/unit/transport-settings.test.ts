import { describe, expect, it } from 'vitest';
import { createConfigSource } from '../../src/config/sources/create.js';
import { namedTopics, natsUrl, planIntake, registrationInfo } from '../../src/keptn/transports/create.js';
import { loadSettings } from '../../src/settings/settings.js';
import { silentLogger } from '../helpers/service.js';

const plan = (flags: Record<string, string>) => planIntake(loadSettings(flags, {}), silentLogger);

describe('transport settings', () => {
  it('HTTP push is the default; answers go to stdout unless a sink is named', () => {
    const p = plan({});
    expect(p.kind).toBe('http');
    expect(p.sinks().map((s) => s.name)).toEqual(['stdout']);
  });

  it('keptn-api answers through the Keptn API and files errors in its log ingestion; it needs the endpoint and concrete types', () => {
    const p = plan({ transport: 'keptn-api', 'keptn-api-endpoint': 'http://api-gateway-nginx.keptn/api' });
    // The error log is a side delivery (an observer), not a sink: its failure cannot fail an answer.
    expect(p.sinks().map((s) => s.name)).toEqual(['keptn-api']);
    expect(p.observers().map((o) => o.name)).toEqual(['keptn-log']);
    expect(plan({}).observers()).toEqual([]);
    expect(plan({ transport: 'nats' }).observers()).toEqual([]);
    expect(() => plan({ transport: 'keptn-api' })).toThrow(/--transport keptn-api needs KEPTN_API_ENDPOINT/);
    expect(() =>
      plan({
        transport: 'keptn-api',
        'keptn-api-endpoint': 'http://x/api',
        'pubsub-topic': 'sh.keptn.event.*.triggered',
      }),
    ).toThrow(/PUBSUB_TOPIC .*concrete event types only; replace sh\.keptn\.event\.\*\.triggered/);
  });

  it('PUBSUB_URL is the NATS server with --transport nats (default nats://keptn-nats:4222) and the distributor otherwise', () => {
    expect(natsUrl(loadSettings({ transport: 'nats' }, {}))).toBe('nats://keptn-nats:4222');
    expect(() => plan({ transport: 'nats', 'pubsub-url': 'http://localhost:8081/event' })).toThrow(
      /PUBSUB_URL .*NATS server.*distributor endpoint/,
    );
    expect(() => plan({ sink: 'distributor', 'pubsub-url': 'nats://keptn-nats:4222' }).sinks()).toThrow(
      /--sink distributor: PUBSUB_URL .*http:\/\/ event endpoint/,
    );
    expect(
      plan({ sink: 'distributor' })
        .sinks()
        .map((s) => s.name),
    ).toEqual(['distributor:http://localhost:8081/event']);
    expect(() => plan({ sink: 'nats' }).sinks()).toThrow(/--sink nats needs --transport nats/);
  });

  it('the types subscribed to by name are the PUBSUB_TOPIC entries without NATS wildcards, for every transport', () => {
    expect([
      ...namedTopics([
        'sh.keptn.event.test.triggered',
        'sh.keptn.event.*.triggered',
        'sh.keptn.>',
        'sh.keptn.event.action.triggered',
      ]),
    ]).toEqual(['sh.keptn.event.test.triggered', 'sh.keptn.event.action.triggered']);
    const topics = { 'pubsub-topic': 'sh.keptn.event.test.triggered,sh.keptn.event.*.finished' };
    expect([...plan(topics).subscribedByName()]).toEqual(['sh.keptn.event.test.triggered']);
    expect([...plan({ ...topics, transport: 'nats' }).subscribedByName()]).toEqual(['sh.keptn.event.test.triggered']);
    // keptn-api polls concrete types only, so every listed type is by name.
    const api = plan({
      transport: 'keptn-api',
      'keptn-api-endpoint': 'http://x/api',
      'pubsub-topic': 'sh.keptn.event.test.triggered,sh.keptn.event.action.triggered',
    });
    expect([...api.subscribedByName()].sort()).toEqual([
      'sh.keptn.event.action.triggered',
      'sh.keptn.event.test.triggered',
    ]);
  });

  it('registration metadata comes from K8S_* with safe defaults (name, namespace and hostname are mandatory for Keptn)', () => {
    const r = registrationInfo(
      loadSettings(
        {},
        { K8S_NAMESPACE: 'keptn-jes', K8S_POD_NAME: 'pod-1', K8S_NODE_NAME: 'node-a', K8S_DEPLOYMENT_NAME: 'je' },
      ),
    );
    expect(r).toMatchObject({
      name: 'job-executor-service',
      namespace: 'keptn-jes',
      hostname: 'node-a',
      podName: 'pod-1',
      deploymentName: 'je',
      location: 'control-plane',
    });
    expect(r.integrationVersion).toMatch(/^\d+\.\d+\.\d+/);
    const d = registrationInfo(loadSettings({}, {}));
    expect(d.namespace.length).toBeGreaterThan(0);
    expect(d.hostname.length).toBeGreaterThan(0);
  });

  it('--config-source keptn needs a resource service or the API endpoint', async () => {
    await expect(createConfigSource(loadSettings({ 'config-source': 'keptn' }, {}), silentLogger)).rejects.toThrow(
      /needs RESOURCE_SERVICE_URL .* or KEPTN_API_ENDPOINT/,
    );
    const s = await createConfigSource(
      loadSettings({ 'config-source': 'keptn' }, { CONFIGURATION_SERVICE: 'resource-service:8080' }),
      silentLogger,
    );
    expect(s.describe()).toBe('keptn resource service http://resource-service:8080 (double-encoded URIs)');
  });
});
