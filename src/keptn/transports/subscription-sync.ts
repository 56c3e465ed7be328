/** A Uniform subscription as Keptn stores it (keptn-protocol.md §3.2.3). */
export interface Subscription {
  readonly id: string;
  /** False for a subscription an old control plane gave no id: it cannot be changed through the API. */
  readonly hasServerId: boolean;
  readonly event: string;
  readonly projects: readonly string[];
  readonly stages: readonly string[];
  readonly services: readonly string[];
}

/**
 * PUBSUB_TOPIC_SYNC. Keptn keeps the subscriptions of an integration's first registration and ignores those
 * of later ones, so a changed PUBSUB_TOPIC would never arrive. `add` subscribes to listed types Keptn lacks
 * and keeps the rest (they may be Bridge edits); `replace` also removes subscriptions to types no longer
 * listed; `off` leaves Keptn's list alone and only warns.
 */
export type SubscriptionSyncMode = 'add' | 'replace' | 'off';

export interface SyncPlan {
  /** Event types to subscribe to, with an empty filter. */
  readonly create: readonly string[];
  /** Subscriptions to delete: unlisted ones (`replace`) and exact duplicates of another. */
  readonly remove: readonly Subscription[];
  /** Listed types Keptn has no subscription for, left so (`off`). */
  readonly missing: readonly string[];
  /** Subscriptions to unlisted types, left so (`add`, `off`). */
  readonly extra: readonly Subscription[];
}

function sameFilter(a: Subscription, b: Subscription): boolean {
  const key = (s: Subscription) =>
    JSON.stringify([s.event, [...s.projects].sort(), [...s.stages].sort(), [...s.services].sort()]);
  return key(a) === key(b);
}

/**
 * What to change so that Keptn's subscriptions follow PUBSUB_TOPIC. Pure. Exact duplicates (same type and
 * filter; two replicas that added the same subscription at once) are reduced to the one with the smallest
 * id, so replicas agree on which to keep.
 */
export function planSubscriptionSync(
  stored: readonly Subscription[],
  topics: readonly string[],
  mode: SubscriptionSyncMode,
): SyncPlan {
  const listed = new Set(topics);
  const have = new Set(stored.map((s) => s.event));
  const absent = [...listed].filter((t) => !have.has(t));
  const unlisted = stored.filter((s) => !listed.has(s.event));
  if (mode === 'off') return { create: [], remove: [], missing: absent, extra: unlisted };
  const byId = [...stored].filter((s) => s.hasServerId).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const duplicates = byId.filter((s, i) => byId.slice(0, i).some((earlier) => sameFilter(earlier, s)));
  const removeUnlisted = mode === 'replace' ? unlisted.filter((s) => s.hasServerId) : [];
  const remove = [...new Map([...duplicates, ...removeUnlisted].map((s) => [s.id, s])).values()];
  return {
    create: absent,
    remove,
    missing: [],
    extra: mode === 'replace' ? unlisted.filter((s) => !s.hasServerId) : unlisted.filter((s) => !remove.includes(s)),
  };
}
