import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesClaims, type KubernetesClaimsOptions } from '../../src/runners/kubernetes/claims.js';
import { LABEL } from '../../src/runners/kubernetes/job-spec.js';
import { kubeApi, type KubeApi } from '../../src/runners/kubernetes/kube-client.js';
import { runKey } from '../../src/runners/kubernetes/naming.js';
import { createNamespace, deleteNamespaces, makeClients, type Clients } from './helpers/kube.js';
import { event } from './helpers/service.js';

/**
 * Run claims against the real API server, with short times: an instance proves it is alive with one heartbeat
 * (not a write per claim), lets go of everything at shutdown with one write, and a run's `.started` is shown by
 * its Job or, failing one within the grace time, by the claim itself. What a taker after a crash relies on.
 */

const STALE_MS = 3000;
let clients: Clients;
let api: KubeApi;
let ns: string;
const made: KubernetesClaims[] = [];
const managedBy = `je-claims-${Date.now().toString(36)}`;

function claims(identity: string, o: Partial<KubernetesClaimsOptions> = {}): KubernetesClaims {
  const c = new KubernetesClaims({
    api,
    namespace: ns,
    managedBy,
    identity,
    renewMs: 200,
    staleMs: STALE_MS,
    retentionMs: 600_000,
    startedGraceMs: 300,
    logger: pino({ level: 'silent' }),
    ...o,
  });
  made.push(c);
  return c;
}

const claimOf = (id: string) => clients.core.readNamespacedConfigMap({ name: `${runKey(id)}-claim`, namespace: ns });

beforeAll(async () => {
  clients = makeClients();
  api = kubeApi();
  ns = await createNamespace(clients, 'je-claims');
});
afterAll(async () => {
  for (const c of made) await c.close().catch(() => undefined);
  api.close();
  await deleteNamespaces(clients, [ns]);
});

describe('Kubernetes run claims', () => {
  it('a holder that is alive keeps its claim past the stale time: its heartbeat says so, not a write per claim', async () => {
    const a = claims('holder-a');
    const ev = event('sh.keptn.event.test.triggered');
    expect(await a.claim(ev)).toBe('claimed');
    const renewedAtClaim = (await claimOf(ev.id)).metadata?.annotations?.['job-executor.keptn.sh/renewed'];
    await sleep(STALE_MS + 1500);
    const b = claims('holder-b');
    expect((await b.takeOver()).map((t) => t.event.id)).not.toContain(ev.id);
    expect(await b.claim(ev)).toBe('taken');
    // The claim itself was not written to while held.
    expect((await claimOf(ev.id)).metadata?.annotations?.['job-executor.keptn.sh/renewed']).toBe(renewedAtClaim);
    const beat = await clients.core.listNamespacedConfigMap({
      namespace: ns,
      labelSelector: `${LABEL.managedBy}=${managedBy},job-executor.keptn.sh/claim=holder`,
    });
    expect(beat.items.map((c) => c.metadata?.annotations?.['job-executor.keptn.sh/holder'])).toContain('holder-a');
  });

  it('a holder that stops renewing (it crashed) loses its claim after the stale time, to one taker', async () => {
    const gone = claims('holder-gone', { renewMs: 3_600_000 });
    const ev = event('sh.keptn.event.test.triggered');
    expect(await gone.claim(ev)).toBe('claimed');
    await sleep(STALE_MS + 1000);
    const [b, c] = [claims('taker-b'), claims('taker-c')];
    const [byB, byC] = await Promise.all([b.takeOver(), c.takeOver()]);
    const taken = [...byB, ...byC].filter((t) => t.event.id === ev.id);
    expect(taken).toHaveLength(1);
    expect(taken[0]?.startedDelivered).toBe(false);
  });

  it('at shutdown the claims still held are let go at once; a restart under the same name keeps its new claims', async () => {
    const a = claims('holder-restarts');
    const before = event('sh.keptn.event.test.triggered');
    expect(await a.claim(before)).toBe('claimed');
    await a.close();
    const b = claims('taker-after-close');
    expect((await b.takeOver()).map((t) => t.event.id)).toContain(before.id);
    // The same instance started again: what it claims now is its own, released or not before.
    const again = claims('holder-restarts');
    const after = event('sh.keptn.event.test.triggered');
    expect(await again.claim(after)).toBe('claimed');
    expect((await claims('taker-later').takeOver()).map((t) => t.event.id)).not.toContain(after.id);
  });

  it('.started: shown by the run’s Job in the claims’ namespace (no write), else recorded in the claim after the grace time', async () => {
    const a = claims('holder-started', { renewMs: 3_600_000 });
    const noJob = event('sh.keptn.event.test.triggered');
    const withJob = event('sh.keptn.event.test.triggered');
    for (const ev of [noJob, withJob]) {
      expect(await a.claim(ev)).toBe('claimed');
      await a.started(ev);
    }
    a.jobMade(withJob, ns);
    await clients.batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: {
          name: `${runKey(withJob.id)}-000-001`,
          labels: { [LABEL.managedBy]: managedBy, [LABEL.runKey]: runKey(withJob.id) },
        },
        spec: {
          suspend: true,
          template: { spec: { restartPolicy: 'Never', containers: [{ name: 'task', image: 'alpine' }] } },
        },
      },
    });
    await sleep(1000);
    expect((await claimOf(noJob.id)).metadata?.annotations?.['job-executor.keptn.sh/started-delivered']).toBe('true');
    expect((await claimOf(withJob.id)).metadata?.annotations?.['job-executor.keptn.sh/started-delivered']).toBe(
      'false',
    );
    await sleep(STALE_MS);
    const taken = await claims('taker-started').takeOver();
    expect(
      Object.fromEntries(
        taken.filter((t) => [noJob.id, withJob.id].includes(t.event.id)).map((t) => [t.event.id, t.startedDelivered]),
      ),
    ).toEqual({
      [noJob.id]: true,
      [withJob.id]: true,
    });
  });

  it('a run in another namespace is not proven by its Job: its claim records .started', async () => {
    const a = claims('holder-elsewhere', { renewMs: 3_600_000 });
    const ev = event('sh.keptn.event.test.triggered');
    expect(await a.claim(ev)).toBe('claimed');
    await a.started(ev);
    a.jobMade(ev, 'some-other-namespace');
    await sleep(1000);
    expect((await claimOf(ev.id)).metadata?.annotations?.['job-executor.keptn.sh/started-delivered']).toBe('true');
  });

  it('answered: one write, and the claim is no longer taken over', async () => {
    const a = claims('holder-answers', { renewMs: 3_600_000 });
    const ev = event('sh.keptn.event.test.triggered');
    expect(await a.claim(ev)).toBe('claimed');
    await a.started(ev);
    await a.answered(ev);
    const cm = await claimOf(ev.id);
    expect(cm.metadata?.labels?.['job-executor.keptn.sh/state']).toBe('answered');
    // Answered before the grace time: .started needs no write of its own.
    expect(cm.metadata?.annotations?.['job-executor.keptn.sh/started-delivered']).toBe('false');
    await sleep(STALE_MS + 500);
    expect((await claims('taker-answered').takeOver()).map((t) => t.event.id)).not.toContain(ev.id);
    expect(await claims('late-replica').claim(ev)).toBe('taken');
  });
});
