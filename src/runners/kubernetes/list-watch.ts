import type { IncomingMessage } from 'node:http';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { KubeApiError, apiStatus, type KubeApi } from './kube-client.js';
import { JobExecutorError } from '../../errors.js';
import { Backoff, sleep } from '../../util/backoff.js';

/** One line of a watch (one object) larger than this ends the watch as broken (then it lists again). */
export const MAX_WATCH_LINE_BYTES = 8 * 1024 * 1024;
const LIST_PAGE = 500;
const LIST_TIMEOUT_MS = 60_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/** A list's continue token (client-node's typings call it `_continue`; the API's JSON says `continue`). */
export function listContinue(list: { metadata?: object }): string | undefined {
  const meta = list.metadata as { continue?: string; _continue?: string } | undefined;
  return meta?.continue || meta?._continue || undefined;
}

export type WatchEventType = 'add' | 'update' | 'delete';

export interface ListWatchOptions<T extends KubernetesObject> {
  readonly api: KubeApi;
  /** The collection, e.g. `/apis/batch/v1/namespaces/ns/jobs`. */
  readonly path: string;
  readonly labelSelector: string;
  /** What is kept of each object (the cache holds only this: e.g. no pod spec, no managedFields). */
  readonly keep: (o: T) => T;
  readonly onEvent: (type: WatchEventType, o: T) => void;
  /** Listed and watching (true), or not any more (false, then `onError` says why). */
  readonly onLive: (live: boolean) => void;
  readonly onError: (e: unknown) => void;
}

/**
 * An informer of one collection: list it (paged), then watch from the list's resourceVersion (bookmarks keep
 * that point fresh; the server ends each watch after timeoutSeconds, spread so namespaces do not re-watch
 * together, and it is opened again from there without a list). A 410 (the point is too old) lists again, and
 * what the new list lacks is told as deleted. Errors are retried with a growing delay for as long as it runs.
 * Client-node's informer did the same through its generated models, whose import alone costs about 50 MB.
 */
export class ListWatch<T extends KubernetesObject> {
  private readonly cache = new Map<string, T>();
  private resourceVersion: string | undefined;
  private readonly controller = new AbortController();
  /** Between tries after an error; reset once a list or watch works again. */
  private readonly backoff = new Backoff(RETRY_MIN_MS, RETRY_MAX_MS);
  private live = false;
  /** Watch requests opened so far: one unless the server ended a watch or it failed. */
  watches = 0;
  readonly done: Promise<void>;

  constructor(private readonly o: ListWatchOptions<T>) {
    this.done = this.run();
  }

  get(name: string): T | undefined {
    return this.cache.get(name);
  }

  private setLive(live: boolean): void {
    if (this.live === live) return;
    this.live = live;
    this.o.onLive(live);
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.list(signal);
        await this.watch(signal);
      } catch (e) {
        if (signal.aborted) return;
        if (apiStatus(e) === 410) this.resourceVersion = undefined;
        this.setLive(false);
        this.o.onError(e);
        await sleep(this.backoff.next(), signal);
      }
    }
  }

  /** Every page of a list: the objects (as kept) by name, and the list's resourceVersion. */
  private async listAll(signal: AbortSignal): Promise<{ items: Map<string, T>; version: string | undefined }> {
    const items = new Map<string, T>();
    let continueToken: string | undefined;
    let version: string | undefined;
    do {
      const page: KubernetesListObject<T> = await this.o.api.call('GET', this.o.path, {
        query: { labelSelector: this.o.labelSelector, limit: LIST_PAGE, continue: continueToken },
        signal,
        timeoutMs: LIST_TIMEOUT_MS,
      });
      for (const item of page.items ?? []) {
        const name = item.metadata?.name;
        if (name) items.set(name, this.o.keep(item));
      }
      continueToken = listContinue(page);
      version = page.metadata?.resourceVersion;
    } while (continueToken);
    return { items, version };
  }

  /** A fresh list: what it lacks was deleted meanwhile; what changed is told as updated. */
  private async list(signal: AbortSignal): Promise<void> {
    const { items, version } = await this.listAll(signal);
    for (const [name, old] of this.cache) if (!items.has(name)) this.apply('delete', old);
    for (const [name, item] of items) {
      const old = this.cache.get(name);
      if (!old) this.apply('add', item);
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.apply('update', item);
    }
    this.resourceVersion = version;
    this.backoff.reset();
    this.setLive(true);
  }

  private apply(type: WatchEventType, o: T): void {
    const name = o.metadata?.name;
    if (!name) return;
    if (type === 'delete') this.cache.delete(name);
    else this.cache.set(name, o);
    this.o.onEvent(type, o);
  }

  /** One watch request, read to its end; throws on an error (a 410 among them). */
  private async watch(signal: AbortSignal): Promise<void> {
    const res = await this.o.api.stream(
      this.o.path,
      {
        watch: true,
        labelSelector: this.o.labelSelector,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      },
      signal,
    );
    this.watches++;
    this.backoff.reset();
    this.setLive(true);
    await this.read(res, signal);
  }

  private read(res: IncomingMessage, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const fail = (e: unknown) => {
        res.destroy();
        reject(e);
      };
      res.on('data', (chunk: Buffer) => {
        let start = 0;
        for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
          pending.push(chunk.subarray(start, nl));
          const line = Buffer.concat(pending).toString('utf8');
          pending = [];
          pendingBytes = 0;
          start = nl + 1;
          try {
            if (line.trim() !== '') this.line(line);
          } catch (e) {
            return fail(e);
          }
        }
        if (start < chunk.length) {
          pending.push(chunk.subarray(start));
          pendingBytes += chunk.length - start;
          if (pendingBytes > MAX_WATCH_LINE_BYTES)
            fail(
              new JobExecutorError('KUBERNETES_API_ERROR', `a watch event of more than ${MAX_WATCH_LINE_BYTES} bytes`),
            );
        }
      });
      res.once('end', () =>
        res.complete || signal.aborted
          ? resolve()
          : reject(new JobExecutorError('KUBERNETES_API_ERROR', 'the watch was cut short')),
      );
      res.once('error', (e) => reject(e));
    });
  }

  /** One watch event. */
  private line(text: string): void {
    const event = JSON.parse(text) as { type?: string; object?: T & { code?: number; message?: string } };
    const o = event.object;
    if (!o) return;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.apply(this.cache.has(o.metadata?.name ?? '') ? 'update' : 'add', this.o.keep(o));
        break;
      case 'DELETED':
        this.apply('delete', this.o.keep(o));
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        throw new KubeApiError(o.code ?? 0, o, `watch ${this.o.path}: ${o.message ?? 'error'}`);
      default:
        return;
    }
    if (o.metadata?.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
  }

  stop(): void {
    this.controller.abort();
  }
}
