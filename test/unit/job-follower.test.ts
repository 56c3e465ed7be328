import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Follower, type FollowerSource } from '../../src/runners/kubernetes/job-watcher.js';

const job = (uid: string, created: string, phase = 'x'): V1Job => ({
  metadata: { name: 'j', namespace: 'ns', uid, creationTimestamp: new Date(created), annotations: { phase } },
});
const MINE = job('uid-mine', '2026-01-01T00:01:00Z', 'created');

function source(cached?: V1Job): FollowerSource & { pods: V1Pod[]; unfollowed: number } {
  return {
    pods: [],
    unfollowed: 0,
    podsLive: true,
    cachedJob: () => cached,
    podsOf() {
      return this.pods;
    },
    unfollow() {
      this.unfollowed++;
    },
  };
}
const phase = (f: Follower) => f.snapshot().job?.metadata?.annotations?.phase;
const never = new AbortController().signal;

describe('Follower: which watch events are about this task’s Job', () => {
  it('starts from the cache when it holds this Job, else from the Job as created', () => {
    expect(phase(new Follower(source(job('uid-mine', '2026-01-01T00:01:00Z', 'cached')), 'j', MINE))).toBe('cached');
    expect(phase(new Follower(source(), 'j', MINE))).toBe('created');
    // An older Job of the same name still in the cache (its deletion not seen yet) is not this one.
    expect(phase(new Follower(source(job('uid-old', '2026-01-01T00:00:00Z', 'old')), 'j', MINE))).toBe('created');
  });

  it('takes updates of this Job and its deletion, with the last state', () => {
    const f = new Follower(source(), 'j', MINE);
    f.update(job('uid-mine', '2026-01-01T00:01:00Z', 'running'), false);
    expect(f.snapshot()).toMatchObject({ gone: false });
    expect(phase(f)).toBe('running');
    f.update(job('uid-mine', '2026-01-01T00:01:00Z', 'last'), true);
    expect(f.snapshot().gone).toBe(true);
    expect(phase(f)).toBe('last');
  });

  it('ignores an older Job of the same name on its way out (updates and its deletion)', () => {
    const f = new Follower(source(), 'j', MINE);
    f.update(job('uid-old', '2026-01-01T00:00:00Z', 'old-update'), false);
    f.update(job('uid-old', '2026-01-01T00:00:00Z', 'old-deleted'), true);
    expect(f.snapshot()).toMatchObject({ gone: false });
    expect(phase(f)).toBe('created');
  });

  it('takes a newer Job of the same name (this one was replaced while the watch was away), so the ending can say so', () => {
    const f = new Follower(source(), 'j', MINE);
    f.update(job('uid-new', '2026-01-01T00:02:00Z', 'replacement'), false);
    expect(f.snapshot().job?.metadata?.uid).toBe('uid-new');
  });
});

describe('Follower: waiting for changes', () => {
  it('a change since the last snapshot resolves at once; none waits until the next one', async () => {
    const f = new Follower(source(), 'j', MINE);
    // Nothing seen yet: the first wait returns at once, so the loop looks before it waits.
    await f.changed(never, 60_000);
    f.snapshot();
    let woke = false;
    const waiting = f.changed(never, 60_000).then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    f.poke();
    await waiting;
    expect(woke).toBe(true);
    // A change that comes between two looks is not lost.
    f.snapshot();
    f.poke();
    await f.changed(never, 60_000);
  });

  it('ends at the timeout, on abort, and on close', async () => {
    const f = new Follower(source(), 'j', MINE);
    f.snapshot();
    await f.changed(never, 5);
    const stop = new AbortController();
    const aborted = f.changed(stop.signal, 60_000);
    stop.abort();
    await aborted;
    const s = source();
    const g = new Follower(s, 'j', MINE);
    g.snapshot();
    const closing = g.changed(never, 60_000);
    g.close();
    await closing;
    expect(s.unfollowed).toBe(1);
  });

  it('shows the pods the source holds and whether they are watched', () => {
    const s = source();
    s.pods = [{ metadata: { name: 'p' } }];
    expect(new Follower(s, 'j', MINE).snapshot()).toMatchObject({
      pods: [{ metadata: { name: 'p' } }],
      podsLive: true,
    });
  });
});
