import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RunClaims } from '../../executor/claims.js';
import { parseKeptnEvent, type KeptnEvent } from '../../keptn/event.js';
import { LABEL } from './job-spec.js';
import { apiMessage, apiStatus, bounded, mergePatch } from './kube-client.js';
import { runKey } from './naming.js';

const CLAIM_LABEL = 'job-executor.keptn.sh/claim';
const STATE_LABEL = 'job-executor.keptn.sh/state';
const A = {
  holder: 'job-executor.keptn.sh/holder',
  renewed: 'job-executor.keptn.sh/renewed',
  started: 'job-executor.keptn.sh/started-delivered',
  answeredAt: 'job-executor.keptn.sh/answered-at',
} as const;

export interface KubernetesClaimsOptions {
  readonly core: k8s.CoreV1Api;
  readonly namespace: string;
  readonly managedBy: string;
  /** This instance: a pod name, or a host name plus something unique to the process. */
  readonly identity: string;
  /** How often the claims this instance holds are renewed. */
  readonly renewMs: number;
  /** A claim not renewed for this long belongs to an instance that is gone, and is taken over. */
  readonly staleMs: number;
  /** Answered claims are kept this long (redeliveries within it are recognised), then deleted. */
  readonly retentionMs: number;
  readonly logger: Logger;
  readonly onApiError?: (operation: string, e: unknown) => void;
}

/**
 * Claims as ConfigMaps named by the run key in the job namespace: creating one is atomic, so of two replicas
 * given the same event exactly one wins; it holds the event itself, so a restarted service can finish the
 * run; the holder renews it, so a run whose instance died is taken over by another (optimistic concurrency on
 * the resourceVersion keeps that to one taker too).
 */
export class KubernetesClaims implements RunClaims {
  private readonly held = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: KubernetesClaimsOptions) {
    this.timer = setInterval(() => void this.renew(), o.renewMs);
    this.timer.unref();
  }

  private name(event: KeptnEvent): string {
    return `${runKey(event.id)}-claim`;
  }

  async claim(event: KeptnEvent): Promise<'claimed' | 'taken'> {
    const name = this.name(event);
    const body: k8s.V1ConfigMap = {
      metadata: {
        name,
        namespace: this.o.namespace,
        labels: { [LABEL.managedBy]: this.o.managedBy, [CLAIM_LABEL]: 'true', [STATE_LABEL]: 'running', [LABEL.runKey]: runKey(event.id) },
        annotations: { [A.holder]: this.o.identity, [A.renewed]: new Date().toISOString(), [A.started]: 'false' },
      },
      data: { 'event.json': JSON.stringify(event) },
    };
    try {
      await this.o.core.createNamespacedConfigMap({ namespace: this.o.namespace, body }, bounded());
      this.held.add(name);
      return 'claimed';
    } catch (e) {
      if (apiStatus(e) === 409) return 'taken';
      this.o.onApiError?.('create-claim', e);
      // Without a claim the service cannot promise one answer; refusing would drop the event, so it runs it
      // and says so: the deterministic Job names still keep it to one Job.
      this.o.logger.error({ err: apiMessage(e), eventId: event.id }, 'could not record the claim of this event; running it anyway');
      return 'claimed';
    }
  }

  private async patch(name: string, annotations: Record<string, string>, labels?: Record<string, string>): Promise<void> {
    try {
      await this.o.core.patchNamespacedConfigMap(
        { name, namespace: this.o.namespace, body: { metadata: { annotations, ...(labels ? { labels } : {}) } } },
        bounded(undefined, undefined, mergePatch),
      );
    } catch (e) {
      this.o.onApiError?.('patch-claim', e);
      this.o.logger.warn({ claim: name, err: apiMessage(e) }, 'could not update a run claim');
    }
  }

  async started(event: KeptnEvent): Promise<void> {
    await this.patch(this.name(event), { [A.started]: 'true' });
  }

  async answered(event: KeptnEvent): Promise<void> {
    const name = this.name(event);
    this.held.delete(name);
    await this.patch(name, { [A.answeredAt]: new Date().toISOString() }, { [STATE_LABEL]: 'answered' });
  }

  private async renew(): Promise<void> {
    const now = new Date().toISOString();
    for (const name of this.held) await this.patch(name, { [A.renewed]: now, [A.holder]: this.o.identity });
  }

  async takeOver(): Promise<Array<{ event: KeptnEvent; startedDelivered: boolean }>> {
    let list: k8s.V1ConfigMapList;
    try {
      list = await this.o.core.listNamespacedConfigMap({
        namespace: this.o.namespace,
        labelSelector: `${LABEL.managedBy}=${this.o.managedBy},${CLAIM_LABEL}=true`,
      }, bounded());
    } catch (e) {
      this.o.onApiError?.('list-claims', e);
      this.o.logger.warn({ err: apiMessage(e) }, 'could not list run claims');
      return [];
    }
    const now = Date.now();
    const out: Array<{ event: KeptnEvent; startedDelivered: boolean }> = [];
    for (const cm of list.items) {
      const taken = await this.takeOne(cm, now);
      if (taken) out.push(taken);
    }
    return out;
  }

  /** One claim: answered ones past their retention are deleted; a stale one (or this instance's own) is taken. */
  private async takeOne(cm: k8s.V1ConfigMap, now: number): Promise<{ event: KeptnEvent; startedDelivered: boolean } | undefined> {
    const meta = cm.metadata ?? {};
    const name = meta.name as string;
    const ann = meta.annotations ?? {};
    if (meta.labels?.[STATE_LABEL] === 'answered') {
      await this.expire(name, ann, now);
      return undefined;
    }
    if (this.held.has(name) || !this.takeable(ann, now)) return undefined;
    try {
      // The resourceVersion makes this a compare-and-swap: of two instances taking over, one wins.
      await this.o.core.patchNamespacedConfigMap(
        {
          name,
          namespace: this.o.namespace,
          body: { metadata: { resourceVersion: meta.resourceVersion, annotations: { [A.holder]: this.o.identity, [A.renewed]: new Date().toISOString() } } },
        },
        bounded(undefined, undefined, mergePatch),
      );
    } catch (e) {
      if (apiStatus(e) !== 409) this.o.onApiError?.('take-over-claim', e);
      return undefined;
    }
    let event: KeptnEvent;
    try {
      event = parseKeptnEvent(JSON.parse(cm.data?.['event.json'] ?? 'null'));
    } catch (e) {
      this.o.logger.error({ claim: name, err: (e as Error).message }, 'a run claim holds no usable event; it is closed unanswered');
      await this.patch(name, { [A.answeredAt]: new Date().toISOString() }, { [STATE_LABEL]: 'answered' });
      return undefined;
    }
    this.held.add(name);
    return { event, startedDelivered: ann[A.started] === 'true' };
  }

  /** An answered claim is kept for the retention time (redeliveries within it are recognised), then deleted. */
  private async expire(name: string, ann: Record<string, string>, now: number): Promise<void> {
    if (now - Date.parse(ann[A.answeredAt] ?? '') <= this.o.retentionMs) return;
    await this.o.core.deleteNamespacedConfigMap({ name, namespace: this.o.namespace }, bounded()).catch(() => undefined);
  }

  /** This instance's own claim (from before a restart), or one no holder has renewed for `staleMs`. */
  private takeable(ann: Record<string, string>, now: number): boolean {
    return ann[A.holder] === this.o.identity || now - Date.parse(ann[A.renewed] ?? '') > this.o.staleMs;
  }

  /** On shutdown: the runs still held are let go at once (marked stale), so a peer or the next start takes them. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const letGo = [...this.held];
    this.held.clear();
    for (const name of letGo) await this.patch(name, { [A.renewed]: new Date(0).toISOString() });
  }
}
