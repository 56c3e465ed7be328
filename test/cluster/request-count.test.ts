import { existsSync, openSync, readSync, fstatSync, closeSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { found } from '../helpers/wait.js';
import { createNamespace, deleteNamespaces, makeClients, type Clients } from './helpers/kube.js';
import { POD_COMPLETE_DELAY_ANNOTATION } from './helpers/kwok.js';
import { configDir, event, kubeService } from './helpers/service.js';
import { CLUSTER_WAIT } from './helpers/wait.js';

/**
 * What a run costs the API server, counted by the API server itself: scripts/testenv writes the requests of
 * its user `audited` (and only those) to an audit log, and the service here runs with that user's kubeconfig.
 * A count, not a time: a change that adds a call per event (or a second watch) fails this test.
 *
 * Per event: the claim's create and its one patch when answered (a run whose Job is made in the claims'
 * namespace needs no patch for `.started`), the Job's create and one read of its log (a task shorter than the
 * live-log delay is read once, at its end; its pods come from the shared watch). Per namespace: one list and one
 * watch of Jobs and of pods. JES 0.3.0 made 5.5 per event on the same test (issue 11).
 */

const AUDITED = process.env.TESTENV_AUDITED_KUBECONFIG;
const AUDIT_LOG = process.env.TESTENV_AUDIT_LOG;
const available = Boolean(AUDITED && AUDIT_LOG && existsSync(AUDITED) && existsSync(AUDIT_LOG));
const EVENTS = 10;
/** The claims' heartbeat period (src/service.ts createRunner). */
const RENEW_MS = 10_000;

interface AuditEvent {
  readonly auditID: string;
  readonly verb: string;
  readonly user?: { readonly username?: string };
  readonly objectRef?: {
    readonly resource?: string;
    readonly subresource?: string;
    readonly namespace?: string;
    readonly name?: string;
  };
}

function size(file: string): number {
  const fd = openSync(file, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/** The audited requests logged after `offset`, one per request (a watch logs two stages under one auditID). */
function auditSince(file: string, offset: number): AuditEvent[] {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(fstatSync(fd).size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    const byId = new Map<string, AuditEvent>();
    for (const line of buf.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      const e = JSON.parse(line) as AuditEvent;
      byId.set(e.auditID, e);
    }
    return [...byId.values()].filter((e) => e.user?.username === 'audited');
  } finally {
    closeSync(fd);
  }
}

const key = (e: AuditEvent) =>
  `${e.verb} ${e.objectRef?.resource ?? '?'}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`;

let clients: Clients;
const namespaces: string[] = [];
beforeAll(() => {
  clients = makeClients();
});
afterAll(async () => {
  await deleteNamespaces(clients, namespaces);
});

describe.skipIf(!available)('Kubernetes API requests per event (testenv audit log)', () => {
  it(`${EVENTS} events, one Job each: 4 requests per event, plus one list and one watch of Jobs and of pods`, async () => {
    const ns = await createNamespace(clients, 'je-count');
    namespaces.push(ns);
    const dir = await configDir({
      'job/config.yaml': `apiVersion: v2
actions:
  - name: act
    events: [{ name: sh.keptn.event.deployment.triggered }]
    tasks:
      - { name: quick, image: alpine, cmd: ["true"], annotations: { "${POD_COMPLETE_DELAY_ANNOTATION}": "200ms" } }
`,
    });
    const offset = size(AUDIT_LOG as string);
    const before = process.env.KUBECONFIG;
    process.env.KUBECONFIG = AUDITED;
    let made;
    try {
      made = await kubeService(dir, ns);
    } finally {
      process.env.KUBECONFIG = before;
    }
    const { service, sink } = made;
    const started = Date.now();
    const submitted = await Promise.all(
      Array.from({ length: EVENTS }, () => service.executor.submit(event('sh.keptn.event.deployment.triggered'))),
    );
    const runs = await Promise.all(
      submitted.map((s) => (s.status === 'accepted' ? s.done : Promise.reject(new Error(s.status)))),
    );
    expect(runs.map((r) => r.status)).toEqual(Array(EVENTS).fill('succeeded'));
    expect(sink.events.filter((e) => e.type.endsWith('.finished'))).toHaveLength(EVENTS);
    await service.executor.close(1000);
    const elapsed = Date.now() - started;

    // The end of the service's requests in the log: one more request of the audited user, after them.
    const sentinel = `je-count-sentinel-${Date.now()}`;
    const audited = new k8s.KubeConfig();
    audited.loadFromFile(AUDITED as string);
    await audited
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedConfigMap({ name: sentinel, namespace: ns })
      .catch(() => undefined);
    const logged = await vi.waitFor(() => {
      const all = auditSince(AUDIT_LOG as string, offset);
      return found(all.some((e) => e.objectRef?.name === sentinel) && all, 'the sentinel request in the audit log');
    }, CLUSTER_WAIT);
    const requests = logged.filter((e) => e.objectRef?.name !== sentinel && e.objectRef?.namespace === ns);
    expect(logged.filter((e) => e.objectRef?.name !== sentinel && e.objectRef?.namespace !== ns)).toEqual([]);

    // The instance's heartbeat goes with the time it holds claims (one write per 10 s), not with the events.
    const heartbeat = requests.filter((e) => e.objectRef?.name?.startsWith('je-holder-'));
    expect(heartbeat.length).toBeLessThanOrEqual(1 + Math.floor(elapsed / RENEW_MS));
    const counts: Record<string, number> = {};
    for (const e of requests.filter((r) => !heartbeat.includes(r))) counts[key(e)] = (counts[key(e)] ?? 0) + 1;
    expect(counts).toEqual({
      'create configmaps': EVENTS,
      'patch configmaps': EVENTS,
      'create jobs': EVENTS,
      'get pods/log': EVENTS,
      'list jobs': 1,
      'watch jobs': 1,
      'list pods': 1,
      'watch pods': 1,
    });
    const perEvent = requests.length / EVENTS;
    expect(perEvent).toBeLessThanOrEqual(5.5);
  });
});
