import { describe, expect, it } from 'vitest';
import { planSubscriptionSync, type Subscription } from '../../src/keptn/transports/subscription-sync.js';

const sub = (id: string, event: string, projects: string[] = []): Subscription => ({
  id,
  hasServerId: true,
  event,
  projects,
  stages: [],
  services: [],
});
const A = 'sh.keptn.event.action.triggered';
const T = 'sh.keptn.event.test.triggered';
const D = 'sh.keptn.event.deployment.triggered';

describe('PUBSUB_TOPIC_SYNC: what the service changes in the subscriptions Keptn keeps', () => {
  const stored = [sub('1', A, ['fulltour']), sub('2', T)];

  it('add: subscribes to listed types Keptn lacks, keeps unlisted ones (they may be Bridge edits) and reports them', () => {
    const plan = planSubscriptionSync(stored, [A, D], 'add');
    expect(plan.create).toEqual([D]);
    expect(plan.remove).toEqual([]);
    expect(plan.extra.map((s) => s.event)).toEqual([T]);
  });

  it('replace: also removes subscriptions to unlisted types; a listed one keeps its Bridge filter', () => {
    const plan = planSubscriptionSync(stored, [A, D], 'replace');
    expect(plan.create).toEqual([D]);
    expect(plan.remove.map((s) => s.id)).toEqual(['2']);
    expect(plan.extra).toEqual([]);
  });

  it('off: changes nothing and names both differences', () => {
    const plan = planSubscriptionSync(stored, [A, D], 'off');
    expect([plan.create, plan.remove]).toEqual([[], []]);
    expect(plan.missing).toEqual([D]);
    expect(plan.extra.map((s) => s.event)).toEqual([T]);
  });

  it('nothing to do when Keptn holds exactly the listed types, whatever their filters', () => {
    for (const mode of ['add', 'replace', 'off'] as const) {
      expect(planSubscriptionSync(stored, [T, A, A], mode)).toEqual({ create: [], remove: [], missing: [], extra: [] });
    }
  });

  it('exact duplicates (two replicas added the same at once) shrink to the one with the smallest id; different filters are not duplicates', () => {
    const twice = [sub('b', D), sub('a', D), sub('c', D, ['p'])];
    expect(planSubscriptionSync(twice, [D], 'add').remove.map((s) => s.id)).toEqual(['b']);
    expect(planSubscriptionSync([...twice].reverse(), [D], 'replace').remove.map((s) => s.id)).toEqual(['b']);
  });

  it('a subscription without a server id (old control plane) cannot be deleted and is only reported', () => {
    const old = { ...sub(T, T), hasServerId: false };
    const plan = planSubscriptionSync([old], [A], 'replace');
    expect(plan.remove).toEqual([]);
    expect(plan.extra).toEqual([old]);
    expect(plan.create).toEqual([A]);
  });
});
