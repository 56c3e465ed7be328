import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';

type Listener = (job: k8s.V1Job | undefined) => void;

/**
 * One watch of Jobs per namespace, shared by every run (JES polled each Job every 5 s). It lists first, then
 * watches from that resourceVersion, keeps the latest Job of each name, and tells the listeners of a name on
 * every change (`undefined` when the Job is deleted). A closed or expired watch lists and watches again.
 */
class NamespaceWatch {
  private readonly jobs = new Map<string, k8s.V1Job>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private request: AbortController | undefined;
  /** Watch requests made so far (one, unless the server ended a watch and it was opened again). */
  opened = 0;
  private listed = false;
  private closed = false;
  private retryMs = 500;
  connected = false;

  constructor(
    private readonly namespace: string,
    private readonly selector: string,
    private readonly clients: { kc: k8s.KubeConfig; batch: k8s.BatchV1Api },
    private readonly logger: Logger,
    private readonly onApiError: (operation: string, e: unknown) => void,
  ) {
    void this.start();
  }

  follow(name: string, listener: Listener): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    const known = this.jobs.get(name);
    if (this.listed && known) queueMicrotask(() => listener(known));
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(name);
    };
  }

  private notify(name: string, job: k8s.V1Job | undefined): void {
    for (const l of this.listeners.get(name) ?? []) l(job);
  }

  private async start(): Promise<void> {
    if (this.closed) return;
    try {
      const list = await this.clients.batch.listNamespacedJob({ namespace: this.namespace, labelSelector: this.selector });
      const seen = new Set<string>();
      for (const job of list.items) {
        const name = job.metadata?.name;
        if (!name) continue;
        seen.add(name);
        this.jobs.set(name, job);
      }
      for (const name of [...this.jobs.keys()]) {
        if (!seen.has(name)) {
          this.jobs.delete(name);
          this.notify(name, undefined);
        }
      }
      this.listed = true;
      for (const name of this.listeners.keys()) {
        const job = this.jobs.get(name);
        if (job) this.notify(name, job);
      }
      await this.watch(list.metadata?.resourceVersion);
      this.retryMs = 500;
    } catch (e) {
      this.onApiError('list-jobs', e);
      this.logger.warn({ namespace: this.namespace, err: (e as Error).message, retryInMs: this.retryMs }, 'listing Jobs failed; retrying');
      this.retryLater();
    }
  }

  private retryLater(): void {
    if (this.closed) return;
    setTimeout(() => void this.start(), this.retryMs).unref();
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }

  private async watch(resourceVersion: string | undefined): Promise<void> {
    let rv = resourceVersion;
    this.opened++;
    this.request = await new k8s.Watch(this.clients.kc).watch(
      `/apis/batch/v1/namespaces/${this.namespace}/jobs`,
      { labelSelector: this.selector, allowWatchBookmarks: true, ...(rv ? { resourceVersion: rv } : {}) },
      (phase: string, obj: k8s.V1Job & { code?: number }) => {
        if (phase === 'ERROR') {
          // 410 Gone: our resourceVersion is too old; the done callback re-lists.
          this.logger.debug({ namespace: this.namespace, code: obj.code }, 'Job watch error event');
          this.request?.abort();
          return;
        }
        rv = obj.metadata?.resourceVersion ?? rv;
        if (phase === 'BOOKMARK') return;
        const name = obj.metadata?.name;
        if (!name) return;
        if (phase === 'DELETED') {
          this.jobs.delete(name);
          this.notify(name, undefined);
        } else {
          this.jobs.set(name, obj);
          this.notify(name, obj);
        }
      },
      (err: unknown) => {
        this.connected = false;
        this.request = undefined;
        if (this.closed) return;
        if (err && (err as Error).name !== 'AbortError') this.onApiError('watch-jobs', err);
        // The server ends watches after a while; a fresh list + watch also covers anything missed meanwhile.
        this.retryLater();
      },
    );
    this.connected = true;
  }

  close(): void {
    this.closed = true;
    this.request?.abort();
  }
}

export class JobWatcher {
  private readonly namespaces = new Map<string, NamespaceWatch>();

  constructor(
    private readonly clients: { kc: k8s.KubeConfig; batch: k8s.BatchV1Api },
    private readonly selector: string,
    private readonly logger: Logger,
    private readonly onApiError: (operation: string, e: unknown) => void = () => undefined,
  ) {}

  private ns(namespace: string): NamespaceWatch {
    let w = this.namespaces.get(namespace);
    if (!w) {
      w = new NamespaceWatch(namespace, this.selector, this.clients, this.logger, this.onApiError);
      this.namespaces.set(namespace, w);
    }
    return w;
  }

  /** Calls `listener` with every state of the Job from now on (and the current one, once known). */
  follow(namespace: string, name: string, listener: Listener): () => void {
    return this.ns(namespace).follow(name, listener);
  }

  /** Open watch connections: one per namespace in use, however many Jobs are followed. */
  get connections(): number {
    return [...this.namespaces.values()].filter((w) => w.connected).length;
  }

  /** Watch requests made since the start, over all namespaces. */
  get opened(): number {
    return [...this.namespaces.values()].reduce((n, w) => n + w.opened, 0);
  }

  close(): void {
    for (const w of this.namespaces.values()) w.close();
    this.namespaces.clear();
  }
}
