import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiMessage, apiStatus, type KubeApi } from './kube-client.js';
import { ListWatch } from './list-watch.js';

/** The Job and its pods as the watches last saw them. */
export interface JobSnapshot {
  /** The Job's latest state (its last one when it was deleted); undefined until seen. */
  readonly job: k8s.V1Job | undefined;
  /** The Job was deleted after it was seen. */
  readonly gone: boolean;
  readonly pods: k8s.V1Pod[];
  /** The pods come from a live watch; false while the pod watch is down or not allowed (RBAC), then read them yourself. */
  readonly podsLive: boolean;
}

/** One task's view of its Job. */
export interface JobFollow {
  snapshot(): JobSnapshot;
  /** The pods as last seen, without counting as a look (a change since the last snapshot still wakes `changed`). */
  pods(): k8s.V1Pod[];
  /** Resolves at the first change after the last snapshot (at once if there was one), after `timeoutMs`, or on abort. */
  changed(signal: AbortSignal, timeoutMs: number): Promise<void>;
  close(): void;
}

/** The longest a timer may be in Node (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const created = (o: k8s.KubernetesObject | undefined) => new Date(o?.metadata?.creationTimestamp ?? 0).getTime();

/** What a follower needs of its namespace's watches. */
export interface FollowerSource {
  cachedJob(name: string): k8s.V1Job | undefined;
  podsOf(job: string): k8s.V1Pod[];
  readonly podsLive: boolean;
  unfollow(f: Follower): void;
}

/** One task's view of its Job, kept up to date by the namespace's watches (exported for its unit test). */
export class Follower implements JobFollow {
  private version = 0;
  private seen = -1;
  private wake: (() => void) | undefined;
  job: k8s.V1Job | undefined;
  gone = false;

  constructor(
    private readonly owner: FollowerSource,
    readonly name: string,
    /** The Job this task made or adopted: another of the same name is told apart by its uid. */
    private readonly mine: k8s.V1Job,
  ) {
    const cached = owner.cachedJob(name);
    this.job = cached && this.accepts(cached) ? cached : mine;
  }

  /**
   * An object of another uid is an older Job of this name on its way out (ignored), or a newer one that replaced
   * this task's Job while the watch was down (taken: the ending then says so).
   */
  accepts(job: k8s.V1Job): boolean {
    const uid = this.mine.metadata?.uid;
    return !uid || job.metadata?.uid === uid || created(job) > created(this.mine);
  }

  update(job: k8s.V1Job, deleted: boolean): void {
    if (deleted && this.mine.metadata?.uid && job.metadata?.uid !== this.mine.metadata.uid) return;
    if (!this.accepts(job)) return;
    this.job = job;
    this.gone = deleted;
    this.poke();
  }

  poke(): void {
    this.version++;
    this.wake?.();
  }

  pods(): k8s.V1Pod[] {
    return this.owner.podsOf(this.name);
  }

  snapshot(): JobSnapshot {
    this.seen = this.version;
    return { job: this.job, gone: this.gone, pods: this.owner.podsOf(this.name), podsLive: this.owner.podsLive };
  }

  changed(signal: AbortSignal, timeoutMs: number): Promise<void> {
    if (this.version !== this.seen || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS));
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  close(): void {
    this.wake?.();
    this.owner.unfollow(this);
  }
}

type Kind = 'jobs' | 'pods';

/** The Job a pod belongs to: its controller owner, else the label the Job controller sets. */
function jobOf(pod: k8s.V1Pod): string | undefined {
  const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === 'Job' && o.controller);
  return owner?.name ?? pod.metadata?.labels?.['batch.kubernetes.io/job-name'] ?? pod.metadata?.labels?.['job-name'];
}

/** What the follow loop reads of an object's metadata: no managedFields, no annotations. */
function slimMeta(m: k8s.V1ObjectMeta | undefined): k8s.V1ObjectMeta {
  const { managedFields: _managed, annotations: _annotations, ...rest } = m ?? {};
  return rest;
}

/** What the follow loop reads of a Job: its metadata and status (not its pod template). */
export function keptOfJob(job: k8s.V1Job): k8s.V1Job {
  return { metadata: slimMeta(job.metadata), ...(job.status ? { status: job.status } : {}) };
}

/** What the follow loop reads of a pod: its metadata and status (not its spec). */
export function keptOfPod(pod: k8s.V1Pod): k8s.V1Pod {
  return { metadata: slimMeta(pod.metadata), ...(pod.status ? { status: pod.status } : {}) };
}

/**
 * The Jobs and pods of one namespace that carry the service's managed-by label, each through one list-and-watch
 * (ListWatch: a re-list after a 410 tells of deletions missed; errors are retried with a growing delay).
 * Only what the follow loop reads is kept of each object.
 */
class NamespaceWatch implements FollowerSource {
  private readonly followers = new Map<string, Set<Follower>>();
  private readonly podsByJob = new Map<string, Map<string, k8s.V1Pod>>();
  private readonly jobs: ListWatch<k8s.V1Job>;
  private readonly pods: ListWatch<k8s.V1Pod>;
  private readonly warned = new Set<string>();
  readonly live: Record<Kind, boolean> = { jobs: false, pods: false };

  constructor(
    private readonly namespace: string,
    selector: string,
    api: KubeApi,
    private readonly logger: Logger,
    private readonly onApiError: (operation: string, e: unknown) => void,
  ) {
    const ns = encodeURIComponent(namespace);
    this.jobs = new ListWatch<k8s.V1Job>({
      api,
      path: `/apis/batch/v1/namespaces/${ns}/jobs`,
      labelSelector: selector,
      keep: keptOfJob,
      onEvent: (type, job) => this.onJob(job, type === 'delete'),
      onLive: (live) => this.setLive('jobs', live),
      onError: (e) => this.failed('jobs', e),
    });
    this.pods = new ListWatch<k8s.V1Pod>({
      api,
      path: `/api/v1/namespaces/${ns}/pods`,
      labelSelector: selector,
      keep: keptOfPod,
      onEvent: (type, pod) => this.onPod(pod, type === 'delete'),
      onLive: (live) => this.setLive('pods', live),
      onError: (e) => this.failed('pods', e),
    });
  }

  get opened(): Record<Kind, number> {
    return { jobs: this.jobs.watches, pods: this.pods.watches };
  }

  private setLive(kind: Kind, live: boolean): void {
    this.live[kind] = live;
    // Followers reading pods switch between the watch and their own lists.
    if (kind === 'pods') this.pokeAll();
  }

  private failed(kind: Kind, e: unknown): void {
    this.onApiError(`watch-${kind}`, e);
    const status = apiStatus(e);
    const key = `${kind}:${status ?? 'other'}`;
    const log = { namespace: this.namespace, err: apiMessage(e), status };
    if (status === 403 && !this.warned.has(key)) {
      this.logger.warn(
        log,
        kind === 'pods'
          ? 'not allowed to watch pods (grant list and watch on pods); reading the pods of each Job instead'
          : 'not allowed to watch Jobs (grant list and watch on jobs)',
      );
    } else if (!this.warned.has(key)) this.logger.warn(log, `watching ${kind} failed; retrying`);
    else this.logger.debug(log, `watching ${kind} failed again; retrying`);
    this.warned.add(key);
  }

  private onJob(job: k8s.V1Job, deleted: boolean): void {
    const name = job.metadata?.name;
    if (!name) return;
    for (const f of this.followers.get(name) ?? []) f.update(job, deleted);
  }

  private onPod(pod: k8s.V1Pod, deleted: boolean): void {
    const job = jobOf(pod);
    const name = pod.metadata?.name;
    if (!job || !name) return;
    let pods = this.podsByJob.get(job);
    if (deleted) {
      pods?.delete(name);
      if (pods?.size === 0) this.podsByJob.delete(job);
    } else {
      if (!pods) this.podsByJob.set(job, (pods = new Map()));
      pods.set(name, pod);
    }
    for (const f of this.followers.get(job) ?? []) f.poke();
  }

  private pokeAll(): void {
    for (const set of this.followers.values()) for (const f of set) f.poke();
  }

  get podsLive(): boolean {
    return this.live.pods;
  }

  cachedJob(name: string): k8s.V1Job | undefined {
    return this.jobs.get(name);
  }

  podsOf(job: string): k8s.V1Pod[] {
    return [...(this.podsByJob.get(job)?.values() ?? [])];
  }

  follow(name: string, mine: k8s.V1Job): Follower {
    const f = new Follower(this, name, mine);
    let set = this.followers.get(name);
    if (!set) this.followers.set(name, (set = new Set()));
    set.add(f);
    return f;
  }

  unfollow(f: Follower): void {
    const set = this.followers.get(f.name);
    set?.delete(f);
    if (set?.size === 0) this.followers.delete(f.name);
  }

  close(): void {
    this.jobs.stop();
    this.pods.stop();
  }
}

/**
 * The Jobs (and their pods) the service made, one Job watch and one pod watch per namespace in use, shared by
 * every task (JES polled each Job every 5 s).
 */
export class JobWatcher {
  private readonly namespaces = new Map<string, NamespaceWatch>();

  constructor(
    private readonly api: KubeApi,
    private readonly selector: string,
    private readonly logger: Logger,
    private readonly onApiError: (operation: string, e: unknown) => void = () => undefined,
  ) {}

  /** Follows the Job `mine` (as created or read) from now on. */
  follow(namespace: string, name: string, mine: k8s.V1Job): JobFollow {
    let w = this.namespaces.get(namespace);
    if (!w) {
      w = new NamespaceWatch(namespace, this.selector, this.api, this.logger, this.onApiError);
      this.namespaces.set(namespace, w);
    }
    return w.follow(name, mine);
  }

  /** Watches that are listed and not failed since: two per namespace in use (Jobs and pods), however many Jobs. */
  get connections(): number {
    return [...this.namespaces.values()].reduce((n, w) => n + Number(w.live.jobs) + Number(w.live.pods), 0);
  }

  /** Watch requests opened so far over all namespaces, by kind: one each unless a watch ended or failed. */
  get opened(): Record<Kind, number> {
    const out = { jobs: 0, pods: 0 };
    for (const w of this.namespaces.values()) {
      out.jobs += w.opened.jobs;
      out.pods += w.opened.pods;
    }
    return out;
  }

  close(): void {
    for (const w of this.namespaces.values()) w.close();
    this.namespaces.clear();
  }
}
