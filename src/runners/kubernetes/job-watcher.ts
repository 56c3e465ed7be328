import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiMessage, apiStatus, bounded } from './kube-client.js';

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
  /** Resolves at the first change after the last snapshot (at once if there was one), after `timeoutMs`, or on abort. */
  changed(signal: AbortSignal, timeoutMs: number): Promise<void>;
  close(): void;
}

/** The longest a timer may be in Node (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const LIST_TIMEOUT_MS = 60_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

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

/**
 * The Jobs and pods of one namespace that carry the service's managed-by label, each through one client-node
 * informer (list, then watch from there; a re-list after a 410 or a restart tells of deletions missed). An
 * informer stops on an error; it is started again with a growing delay, for as long as the service runs.
 */
class NamespaceWatch implements FollowerSource {
  private readonly followers = new Map<string, Set<Follower>>();
  private readonly podsByJob = new Map<string, Map<string, k8s.V1Pod>>();
  private readonly jobs: k8s.Informer<k8s.V1Job> & k8s.ObjectCache<k8s.V1Job>;
  private readonly pods: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private readonly retryMs: Record<Kind, number> = { jobs: RETRY_MIN_MS, pods: RETRY_MIN_MS };
  private readonly retrying: Record<Kind, NodeJS.Timeout | undefined> = { jobs: undefined, pods: undefined };
  private readonly warned = new Set<string>();
  /** Informer (re)starts, each a list or a watch request: one per kind unless the server ended a watch. */
  readonly opened: Record<Kind, number> = { jobs: 0, pods: 0 };
  readonly live: Record<Kind, boolean> = { jobs: false, pods: false };
  private readonly listedOnce: Record<Kind, boolean> = { jobs: false, pods: false };
  private closed = false;

  constructor(
    private readonly namespace: string,
    selector: string,
    clients: { kc: k8s.KubeConfig; batch: k8s.BatchV1Api; core: k8s.CoreV1Api },
    private readonly logger: Logger,
    private readonly onApiError: (operation: string, e: unknown) => void,
  ) {
    const ns = encodeURIComponent(namespace);
    // The server ends each watch after timeoutSeconds (spread, so namespaces do not re-watch together); the
    // informer then watches again from where it was, and bookmarks keep that point fresh (no re-list).
    const query = () => `?allowWatchBookmarks=true&timeoutSeconds=${300 + Math.floor(Math.random() * 300)}`;
    this.jobs = k8s.makeInformer(clients.kc, `/apis/batch/v1/namespaces/${ns}/jobs${query()}`, () => this.listed('jobs', clients.batch.listNamespacedJob({ namespace, labelSelector: selector }, bounded(undefined, LIST_TIMEOUT_MS))), selector);
    this.pods = k8s.makeInformer(clients.kc, `/api/v1/namespaces/${ns}/pods${query()}`, () => this.listed('pods', clients.core.listNamespacedPod({ namespace, labelSelector: selector }, bounded(undefined, LIST_TIMEOUT_MS))), selector);
    this.jobs.on('add', (j) => this.onJob(j, false));
    this.jobs.on('update', (j) => this.onJob(j, false));
    this.jobs.on('delete', (j) => this.onJob(j, true));
    this.pods.on('add', (p) => this.onPod(p, false));
    this.pods.on('update', (p) => this.onPod(p, false));
    this.pods.on('delete', (p) => this.onPod(p, true));
    for (const kind of ['jobs', 'pods'] as const) {
      const informer = this.informer(kind);
      informer.on('connect', () => this.connected(kind));
      informer.on('error', (e: unknown) => this.failed(kind, e));
      this.start(kind);
    }
  }

  private informer(kind: Kind): k8s.Informer<k8s.KubernetesObject> {
    return kind === 'jobs' ? (this.jobs as k8s.Informer<k8s.KubernetesObject>) : (this.pods as k8s.Informer<k8s.KubernetesObject>);
  }

  private start(kind: Kind): void {
    this.retrying[kind] = undefined;
    if (this.closed) return;
    this.informer(kind).start().catch((e: unknown) => this.failed(kind, e));
  }

  /**
   * A (re)start. After an error the informer watches again from where it was, without a list: what it holds
   * stays right, so it counts as live again (an error that follows says otherwise).
   */
  private connected(kind: Kind): void {
    this.opened[kind]++;
    if (!this.listedOnce[kind] || this.closed) return;
    this.live[kind] = true;
    if (kind === 'pods') this.pokeAll();
  }

  /** The informer's list call: once the informer has applied the list (after this promise's reactions), it is live. */
  private async listed<T>(kind: Kind, list: Promise<T>): Promise<T> {
    const result = await list;
    setImmediate(() => {
      if (this.closed) return;
      this.live[kind] = true;
      this.listedOnce[kind] = true;
      this.retryMs[kind] = RETRY_MIN_MS;
      if (kind === 'pods') this.pokeAll();
    });
    return result;
  }

  private failed(kind: Kind, e: unknown): void {
    this.live[kind] = false;
    if (this.closed || this.retrying[kind]) return;
    this.onApiError(`watch-${kind}`, e);
    const status = apiStatus(e) ?? (e as { statusCode?: number } | undefined)?.statusCode;
    const key = `${kind}:${status ?? 'other'}`;
    const log = { namespace: this.namespace, err: apiMessage(e), status, retryInMs: this.retryMs[kind] };
    if (status === 403 && !this.warned.has(key)) {
      this.logger.warn(log, kind === 'pods' ? 'not allowed to watch pods (grant list and watch on pods); reading the pods of each Job instead' : 'not allowed to watch Jobs (grant list and watch on jobs)');
    } else if (!this.warned.has(key)) this.logger.warn(log, `watching ${kind} failed; retrying`);
    else this.logger.debug(log, `watching ${kind} failed again; retrying`);
    this.warned.add(key);
    if (kind === 'pods') this.pokeAll();
    this.retrying[kind] = setTimeout(() => this.start(kind), this.retryMs[kind]);
    this.retrying[kind].unref();
    this.retryMs[kind] = Math.min(this.retryMs[kind] * 2, RETRY_MAX_MS);
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
    return this.jobs.get(name, this.namespace);
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
    this.closed = true;
    for (const kind of ['jobs', 'pods'] as const) {
      clearTimeout(this.retrying[kind]);
      void this.informer(kind).stop();
    }
  }
}

/**
 * The Jobs (and their pods) the service made, one Job watch and one pod watch per namespace in use, shared by
 * every task (JES polled each Job every 5 s).
 */
export class JobWatcher {
  private readonly namespaces = new Map<string, NamespaceWatch>();

  constructor(
    private readonly clients: { kc: k8s.KubeConfig; batch: k8s.BatchV1Api; core: k8s.CoreV1Api },
    private readonly selector: string,
    private readonly logger: Logger,
    private readonly onApiError: (operation: string, e: unknown) => void = () => undefined,
  ) {}

  /** Follows the Job `mine` (as created or read) from now on. */
  follow(namespace: string, name: string, mine: k8s.V1Job): JobFollow {
    let w = this.namespaces.get(namespace);
    if (!w) {
      w = new NamespaceWatch(namespace, this.selector, this.clients, this.logger, this.onApiError);
      this.namespaces.set(namespace, w);
    }
    return w.follow(name, mine);
  }

  /** Watches that are listed and not failed since: two per namespace in use (Jobs and pods), however many Jobs. */
  get connections(): number {
    return [...this.namespaces.values()].reduce((n, w) => n + Number(w.live.jobs) + Number(w.live.pods), 0);
  }

  /** Informer starts so far over all namespaces, by kind: one each unless a watch ended or failed. */
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
