import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RunClaims } from '../../executor/claims.js';
import { parseKeptnEvent, type KeptnEvent } from '../../keptn/event.js';
import { LABEL } from './job-spec.js';
import { apiMessage, apiStatus, type KubeApi } from './kube-client.js';
import { listContinue } from './list-watch.js';
import { dnsFragment, runKey } from './naming.js';

/** `true` on a run's claim, `holder` on an instance's heartbeat. */
const CLAIM_LABEL = 'job-executor.keptn.sh/claim';
const STATE_LABEL = 'job-executor.keptn.sh/state';
const A = {
  holder: 'job-executor.keptn.sh/holder',
  renewed: 'job-executor.keptn.sh/renewed',
  started: 'job-executor.keptn.sh/started-delivered',
  answeredAt: 'job-executor.keptn.sh/answered-at',
  /** On a heartbeat: the instance let go of its claims at this time (they are taken over at once). */
  released: 'job-executor.keptn.sh/released',
} as const;
/** Claims are listed this many at a time (each holds an event of up to the body limit, or only metadata). */
const PAGE = 100;
/**
 * After `.started` went out, how long a run has to make its Job (the proof of it) before the claim records the
 * delivery itself: long enough for a run with a free slot on a loaded machine, short for one waiting in the queue.
 */
export const STARTED_GRACE_MS = 5000;
/** Answered claims past their retention are looked for at most this often. */
const EXPIRE_EVERY_MS = 60_000;

export interface KubernetesClaimsOptions {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly managedBy: string;
  /** This instance: a pod name, or a host name plus something unique to the process. */
  readonly identity: string;
  /** How often this instance's heartbeat is renewed while it holds claims. */
  readonly renewMs: number;
  /** A claim whose holder has not been heard of for this long belongs to an instance that is gone, and is taken over. */
  readonly staleMs: number;
  /** Answered claims are kept this long (redeliveries within it are recognised), then deleted. */
  readonly retentionMs: number;
  /**
   * After `.started` went out, how long the run may take to make its Job before the claim records the delivery
   * itself (a Job of the run in the claims' namespace proves it, with no write of its own).
   */
  readonly startedGraceMs?: number;
  readonly logger: Logger;
  readonly onApiError?: (operation: string, e: unknown) => void;
}

type Taken = { event: KeptnEvent; startedDelivered: boolean };
type Meta = k8s.V1ObjectMeta;

const time = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

/**
 * Claims as ConfigMaps named by the run key in the job namespace: creating one is atomic, so of two replicas
 * given the same event exactly one wins; it holds the event itself, so a restarted service can finish the run.
 *
 * Writes per run: the create, and one patch when it is answered. An instance proves it is alive with one
 * heartbeat ConfigMap of its own, renewed while it holds claims (not a patch per claim); a claim whose holder's
 * heartbeat (and the claim's own time) are older than `staleMs`, or whose holder let go, is taken over, with a
 * compare-and-swap on its resourceVersion so that one instance wins. That `.started` was delivered is shown by
 * the run's Job when it is in the claims' namespace; only a run that makes none within `startedGraceMs` (it
 * waits for a slot, its Job goes elsewhere) has it patched into its claim.
 */
export class KubernetesClaims implements RunClaims {
  private readonly held = new Set<string>();
  /** Claims whose `.started` went out and is not yet recorded (nor proven by a Job): the timer records it. */
  private readonly pendingStarted = new Map<string, NodeJS.Timeout>();
  private readonly timer: NodeJS.Timeout;
  private readonly heartbeatName: string;
  private heartbeatExists: boolean | undefined;
  private lastExpiry = 0;
  private closed = false;

  constructor(private readonly o: KubernetesClaimsOptions) {
    this.timer = setInterval(() => void this.renew(), o.renewMs);
    this.timer.unref();
    const hash = createHash('sha256').update(o.identity).digest('hex').slice(0, 8);
    const readable = dnsFragment(o.identity, 40);
    this.heartbeatName = `je-holder-${readable ? `${readable}-` : ''}${hash}`;
  }

  private name(event: KeptnEvent): string {
    return `${runKey(event.id)}-claim`;
  }

  private selector(kind: 'true' | 'holder'): string {
    return `${LABEL.managedBy}=${this.o.managedBy},${CLAIM_LABEL}=${kind}`;
  }

  async claim(event: KeptnEvent): Promise<'claimed' | 'taken'> {
    const name = this.name(event);
    const body: k8s.V1ConfigMap = {
      metadata: {
        name,
        namespace: this.o.namespace,
        labels: {
          [LABEL.managedBy]: this.o.managedBy,
          [CLAIM_LABEL]: 'true',
          [STATE_LABEL]: 'running',
          [LABEL.runKey]: runKey(event.id),
        },
        annotations: { [A.holder]: this.o.identity, [A.renewed]: new Date().toISOString(), [A.started]: 'false' },
      },
      data: { 'event.json': JSON.stringify(event) },
    };
    try {
      await this.o.api.createConfigMap(this.o.namespace, body);
      this.held.add(name);
      return 'claimed';
    } catch (e) {
      if (apiStatus(e) === 409) return 'taken';
      this.o.onApiError?.('create-claim', e);
      // Without a claim the service cannot promise one answer; refusing would drop the event, so it runs it
      // and says so: the deterministic Job names still keep it to one Job.
      this.o.logger.error(
        { err: apiMessage(e), eventId: event.id },
        'could not record the claim of this event; running it anyway',
      );
      return 'claimed';
    }
  }

  private async patch(
    name: string,
    annotations: Record<string, string | null>,
    labels?: Record<string, string>,
  ): Promise<void> {
    try {
      await this.o.api.patchConfigMap(this.o.namespace, name, {
        metadata: { annotations, ...(labels ? { labels } : {}) },
      });
    } catch (e) {
      this.o.onApiError?.('patch-claim', e);
      this.o.logger.warn({ claim: name, err: apiMessage(e) }, 'could not update a run claim');
    }
  }

  /** `.started` was delivered: recorded after `startedGraceMs` unless the run's Job shows it first. */
  async started(event: KeptnEvent): Promise<void> {
    const name = this.name(event);
    if (!this.held.has(name) || this.pendingStarted.has(name)) return;
    const timer = setTimeout(() => void this.recordStarted(name), this.o.startedGraceMs ?? STARTED_GRACE_MS);
    timer.unref();
    this.pendingStarted.set(name, timer);
  }

  private async recordStarted(name: string): Promise<void> {
    if (!this.pendingStarted.delete(name)) return;
    await this.patch(name, { [A.started]: 'true' });
  }

  /** The run made (or adopted) a Job in `namespace`: in the claims' namespace it proves `.started` for a taker. */
  jobMade(event: KeptnEvent, namespace: string): void {
    if (namespace !== this.o.namespace) return;
    const name = this.name(event);
    clearTimeout(this.pendingStarted.get(name));
    this.pendingStarted.delete(name);
  }

  async answered(event: KeptnEvent): Promise<void> {
    const name = this.name(event);
    clearTimeout(this.pendingStarted.get(name));
    this.pendingStarted.delete(name);
    this.held.delete(name);
    await this.patch(name, { [A.answeredAt]: new Date().toISOString() }, { [STATE_LABEL]: 'answered' });
  }

  /** The heartbeat, while this instance holds claims (an idle instance writes nothing). */
  private async renew(): Promise<void> {
    if (this.held.size === 0 || this.closed) return;
    await this.beat({ [A.renewed]: new Date().toISOString(), [A.released]: null });
  }

  private async beat(annotations: Record<string, string | null>): Promise<void> {
    const metadata = {
      name: this.heartbeatName,
      labels: { [LABEL.managedBy]: this.o.managedBy, [CLAIM_LABEL]: 'holder' },
    };
    try {
      if (this.heartbeatExists !== false) {
        try {
          await this.o.api.patchConfigMap(
            this.o.namespace,
            this.heartbeatName,
            { metadata: { annotations } },
            undefined,
            'lease',
          );
          this.heartbeatExists = true;
          return;
        } catch (e) {
          if (apiStatus(e) !== 404) throw e;
        }
      }
      const fresh = Object.fromEntries(
        Object.entries({ [A.holder]: this.o.identity, ...annotations }).filter(
          (kv): kv is [string, string] => kv[1] !== null,
        ),
      );
      await this.o.api.createConfigMap(
        this.o.namespace,
        { metadata: { ...metadata, annotations: fresh } },
        undefined,
        'lease',
      );
      this.heartbeatExists = true;
    } catch (e) {
      if (apiStatus(e) === 409) this.heartbeatExists = true;
      this.o.onApiError?.('heartbeat', e);
      this.o.logger.warn(
        { heartbeat: this.heartbeatName, err: apiMessage(e) },
        'could not renew the heartbeat of this instance',
      );
    }
  }

  /** Every page of a metadata-only list of ConfigMaps. */
  private async listMeta(labelSelector: string): Promise<Meta[]> {
    const out: Meta[] = [];
    let token: string | undefined;
    do {
      const page = await this.o.api.listMetadata(this.o.namespace, 'configmaps', {
        labelSelector,
        limit: PAGE,
        continue: token,
      });
      for (const item of page.items ?? []) if (item.metadata?.name) out.push(item.metadata);
      token = listContinue(page);
    } while (token);
    return out;
  }

  async takeOver(): Promise<Taken[]> {
    let claims: Meta[];
    let holders: Map<string, Meta>;
    try {
      // Open claims and the heartbeats (which have no state) in one list, metadata only: the event is read only
      // from a claim that is taken.
      const open = await this.listMeta(
        `${LABEL.managedBy}=${this.o.managedBy},${CLAIM_LABEL} in (true,holder),${STATE_LABEL}!=answered`,
      );
      const beats = open.filter((m) => m.labels?.[CLAIM_LABEL] === 'holder');
      claims = open.filter((m) => m.labels?.[CLAIM_LABEL] === 'true');
      holders = new Map(beats.map((m) => [m.annotations?.[A.holder] ?? '', m]));
      await this.expire(beats);
    } catch (e) {
      this.o.onApiError?.('list-claims', e);
      this.o.logger.warn({ err: apiMessage(e) }, 'could not list run claims');
      return [];
    }
    const now = Date.now();
    const out: Taken[] = [];
    for (const meta of claims) {
      if (this.held.has(meta.name as string) || !this.takeable(meta.annotations ?? {}, holders, now)) continue;
      const taken = await this.takeOne(meta);
      if (taken) out.push(taken);
    }
    return out;
  }

  /** Takes one claim (compare-and-swap on its resourceVersion: of two instances, one wins) and reads its event. */
  private async takeOne(meta: Meta): Promise<Taken | undefined> {
    const name = meta.name as string;
    let cm: k8s.V1ConfigMap;
    try {
      cm = await this.o.api.patchConfigMap(this.o.namespace, name, {
        metadata: {
          resourceVersion: meta.resourceVersion,
          annotations: { [A.holder]: this.o.identity, [A.renewed]: new Date().toISOString() },
        },
      });
    } catch (e) {
      if (apiStatus(e) !== 409) this.o.onApiError?.('take-over-claim', e);
      return undefined;
    }
    let event: KeptnEvent;
    try {
      event = parseKeptnEvent(JSON.parse(cm.data?.['event.json'] ?? 'null'));
    } catch (e) {
      this.o.logger.error(
        { claim: name, err: (e as Error).message },
        'a run claim holds no usable event; it is closed unanswered',
      );
      await this.patch(name, { [A.answeredAt]: new Date().toISOString() }, { [STATE_LABEL]: 'answered' });
      return undefined;
    }
    this.held.add(name);
    const startedDelivered = cm.metadata?.annotations?.[A.started] === 'true' || (await this.hasJob(event));
    return { event, startedDelivered };
  }

  /** A Job of the run in the claims' namespace: made only after `.started` was delivered. */
  private async hasJob(event: KeptnEvent): Promise<boolean> {
    try {
      const list = await this.o.api.listMetadata(this.o.namespace, 'jobs', {
        labelSelector: `${LABEL.managedBy}=${this.o.managedBy},${LABEL.runKey}=${runKey(event.id)}`,
        limit: 1,
      });
      return (list.items ?? []).length > 0;
    } catch (e) {
      this.o.onApiError?.('list-jobs', e);
      // Unknown: `.started` goes out again rather than not at all (Keptn waits for a started task).
      return false;
    }
  }

  /**
   * Answered claims are kept for the retention time (redeliveries within it are recognised), then deleted; so
   * are the heartbeats of instances not heard of for as long (gone: a new pod has a new name).
   */
  private async expire(beats: readonly Meta[]): Promise<void> {
    const now = Date.now();
    if (now - this.lastExpiry < EXPIRE_EVERY_MS) return;
    this.lastExpiry = now;
    const old = (iso: string | undefined) => now - time(iso) > this.o.retentionMs + this.o.staleMs;
    const gone = beats.filter(
      (m) =>
        m.name !== this.heartbeatName &&
        old(m.annotations?.[A.renewed]) &&
        (m.annotations?.[A.released] === undefined || old(m.annotations[A.released])),
    );
    const answered = (await this.listMeta(`${this.selector('true')},${STATE_LABEL}=answered`)).filter(
      (m) => now - time(m.annotations?.[A.answeredAt]) > this.o.retentionMs,
    );
    for (const meta of [...answered, ...gone])
      await this.o.api.deleteConfigMap(this.o.namespace, meta.name as string).catch(() => undefined);
  }

  /**
   * This instance's own claim (from before a restart), one whose holder let go of it, or one whose holder has
   * not been heard of (its heartbeat, or the claim's own time) for `staleMs`.
   */
  private takeable(ann: Record<string, string>, holders: Map<string, Meta>, now: number): boolean {
    const holder = ann[A.holder];
    if (holder === this.o.identity) return true;
    const claimed = time(ann[A.renewed]);
    const beat = holder === undefined ? undefined : holders.get(holder)?.annotations;
    const released = time(beat?.[A.released]);
    if (released >= claimed) return true;
    const heard = Math.max(
      Number.isNaN(claimed) ? 0 : claimed,
      Number.isNaN(time(beat?.[A.renewed])) ? 0 : time(beat?.[A.renewed]),
    );
    return now - heard > this.o.staleMs;
  }

  /**
   * On shutdown: a pending `.started` is recorded, and the claims still held are let go at once (one write: the
   * heartbeat says so), so a peer or the next start takes them.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const name of [...this.pendingStarted.keys()]) await this.recordStarted(name);
    const letGo = this.held.size > 0;
    this.held.clear();
    if (letGo) await this.beat({ [A.released]: new Date().toISOString() });
  }
}
