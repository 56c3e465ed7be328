import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { JobExecutorError, errorMessage, isJobExecutorError } from '../../errors.js';
import { Backoff, sleep } from '../../util/backoff.js';
import { isPlainObject } from '../../util/objects.js';
import { KeptnApiClient, isKeptnApiError } from '../api-client.js';
import { ATTRIBUTE_RULES } from '../event-limits.js';
import { parseKeptnEvent, taskEventParts, type KeptnEvent } from '../event.js';
import type { OutgoingEvent } from '../responses.js';
import type { AnswerObserver } from '../sinks/sink.js';
import { planSubscriptionSync, type Subscription, type SubscriptionSyncMode } from './subscription-sync.js';
import type { EventIntake, Transport } from './transport.js';

export type { Subscription } from './subscription-sync.js';

/**
 * What Keptn's go-sdk registers as `distributorversion` (pkg/sdk/keptn.go: "to be deleted when bridge stops
 * requiring this info"): Bridge 1.4.5 lets a user edit an integration's subscriptions only from 0.9.0 on.
 * The integration's own version goes in `integrationversion`.
 */
export const SDK_DISTRIBUTOR_VERSION = '0.15.0';

/** Uniform registration metadata (keptn-protocol.md §3.2.3); name, namespace and hostname are mandatory. */
export interface RegistrationInfo {
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly podName?: string;
  readonly deploymentName?: string;
  readonly integrationVersion: string;
  readonly location: string;
}

export interface KeptnApiTransportOptions {
  readonly api: KeptnApiClient;
  readonly intake: EventIntake;
  readonly registration: RegistrationInfo;
  /** PUBSUB_TOPIC: the initial subscriptions (concrete event types; polling has no wildcards). */
  readonly topics: readonly string[];
  /** PUBSUB_TOPIC_SYNC: how Keptn's stored subscriptions are made to follow `topics` (default `add`). */
  readonly subscriptionSync?: SubscriptionSyncMode;
  readonly pollIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  /** Longest wait between attempts while the API fails. */
  readonly maxBackoffMs: number;
  /** Page size of one poll. */
  readonly pageSize?: number;
  readonly logger: Logger;
}

const FilterSchema = z
  .object({
    projects: z.array(z.string()).nullish(),
    stages: z.array(z.string()).nullish(),
    services: z.array(z.string()).nullish(),
  })
  .loose()
  .nullish();
const SubscriptionSchema = z
  .object({ id: z.string().optional(), event: z.string().min(1), filter: FilterSchema })
  .loose();
const IntegrationSchema = z
  .object({ id: z.string().optional(), subscriptions: z.array(SubscriptionSchema).nullish() })
  .loose();
const RegisteredSchema = z.object({ id: z.string().min(1) }).loose();
const PollSchema = z.object({ events: z.array(z.unknown()).nullish(), nextPageKey: z.string().nullish() }).loose();

function toSubscription(s: z.infer<typeof SubscriptionSchema>): Subscription {
  return {
    // A subscription without a server id (an old control plane) is keyed by its event type.
    id: s.id ?? s.event,
    hasServerId: s.id !== undefined,
    event: s.event,
    projects: s.filter?.projects ?? [],
    stages: s.filter?.stages ?? [],
    services: s.filter?.services ?? [],
  };
}

/** The filter is re-applied on our side: an older control plane ignores it, and it may hold several values. */
function passes(filter: readonly string[], value: unknown): boolean {
  return filter.length === 0 || (typeof value === 'string' && filter.includes(value));
}

/**
 * The query of a subscription's poll. Like the SDK: the server filters only on a single value; several values
 * are filtered here (subscribed).
 */
function pollQuery(sub: Subscription, pageSize: number): Record<string, string | undefined> {
  const query: Record<string, string | undefined> = { pageSize: String(pageSize) };
  if (sub.projects.length === 1) query.project = sub.projects[0];
  if (sub.stages.length === 1) query.stage = sub.stages[0];
  if (sub.services.length === 1) query.service = sub.services[0];
  return query;
}

type PolledEvent = Record<string, unknown> & { id: string };

/** A polled event the subscription takes: an object with a string id, within the subscription's filter. */
function subscribed(sub: Subscription, raw: unknown): raw is PolledEvent {
  if (!isPlainObject(raw) || typeof raw.id !== 'string') return false;
  const data = isPlainObject(raw.data) ? raw.data : {};
  return passes(sub.projects, data.project) && passes(sub.stages, data.stage) && passes(sub.services, data.service);
}

interface Handled {
  /** When the event may be handed to the executor again (Infinity: never while it stays open). */
  retryAt: number;
  /** An error log for it went to Keptn already. */
  logged: boolean;
}

/**
 * What Bridge's Uniform page shows for an event left unanswered. Keptn's users are the service's operators,
 * so they get the whole reason when the executor gives one (`detail`), not only the short answer that an
 * HTTP sender gets.
 */
function logText(result: { message: string; detail?: string }): string {
  return result.detail !== undefined && result.detail !== '' ? result.detail : result.message;
}

/** An event id as the poller remembers it: ids over the attribute limit by their hash, so memory stays bounded. */
function memoryKey(id: string): string {
  return id.length <= ATTRIBUTE_RULES.id.max ? id : `sha256:${createHash('sha256').update(id).digest('hex')}`;
}

/** Config problems may be a passing resource-service failure: try such an event again after this long. */
const CONFIG_RETRY_MS = 30_000;
/** Heartbeats at which a failing subscription sync is tried before the service gives up on it (and says so). */
const SYNC_ATTEMPTS = 3;
const EMPTY_FILTER = { projects: [], stages: [], services: [] };
/** Events of one poll handed to the executor at the same time. */
const HANDOVER_BATCH = 64;

/**
 * The remote execution plane (keptn-protocol.md §3.2, what JES 0.3 does): registers as a Uniform integration
 * with PUBSUB_TOPIC, pings it every few seconds (the ping answer carries the subscriptions as edited in
 * Bridge), and polls the open `.triggered` events of each subscription, handing new ones to the executor.
 *
 * Polling returns an event until its task completes, so every event comes back many times: the transport
 * remembers what it handed over per (subscription, event id) for as long as the control plane still returns
 * it, and the executor answers a repeat `duplicate` (and, with the Kubernetes runner, claims the event
 * durably, so a restarted or second replica does not run it again).
 *
 * Unlike JES (which exited after its 10th failed poll), every failure here is retried with backoff for as
 * long as the service runs: an outage of the API delays events, it does not lose them or stop the service.
 */
export class KeptnApiTransport implements Transport {
  readonly name = 'keptn-api';
  private readonly controller = new AbortController();
  private readonly handled = new Map<string, Map<string, Handled>>();
  private id: string | undefined;
  private subs: Subscription[] = [];
  private readonly loops: Array<Promise<void>>;
  private readonly log: Logger;
  private registeredOnce: (() => void) | undefined;
  /** Heartbeats at which the subscription sync failed, for this registration; undefined once done. */
  private syncFailures: number | undefined = 0;
  /** Resolves at the first successful registration and heartbeat (for health checks and tests). */
  readonly ready: Promise<void>;

  constructor(private readonly options: KeptnApiTransportOptions) {
    this.log = options.logger.child({ transport: 'keptn-api' });
    this.ready = new Promise((r) => (this.registeredOnce = r));
    this.loops = [this.heartbeatLoop(), this.pollLoop()];
  }

  /** The Uniform integration id, once registered: error logs are filed under it. */
  get integrationId(): string | undefined {
    return this.id;
  }

  get subscriptions(): readonly Subscription[] {
    return this.subs;
  }

  async close(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled(this.loops);
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  private registrationBody() {
    const r = this.options.registration;
    return {
      name: r.name,
      metadata: {
        hostname: r.hostname,
        integrationversion: r.integrationVersion,
        distributorversion: SDK_DISTRIBUTOR_VERSION,
        location: r.location,
        kubernetesmetadata: {
          namespace: r.namespace,
          podname: r.podName ?? '',
          deploymentname: r.deploymentName ?? '',
        },
      },
      subscriptions: [...new Set(this.options.topics)].map((event) => ({ event, filter: EMPTY_FILTER })),
    };
  }

  private async register(): Promise<void> {
    const body = await this.options.api.request('POST', '/controlPlane/v1/uniform/registration', {
      body: this.registrationBody(),
      signal: this.signal,
    });
    const parsed = RegisteredSchema.safeParse(body);
    if (!parsed.success)
      throw new JobExecutorError(
        'KEPTN_API_ERROR',
        'POST /controlPlane/v1/uniform/registration: the answer has no integration id',
      );
    this.id = parsed.data.id;
    this.syncFailures = 0;
    this.log.info(
      { integrationId: this.id, name: this.options.registration.name, topics: this.options.topics },
      'registered with the Keptn control plane',
    );
  }

  /** The heartbeat; its answer is the integration with its current subscriptions. */
  private async ping(): Promise<void> {
    const id = this.id as string;
    const body = await this.options.api.request(
      'PUT',
      `/controlPlane/v1/uniform/registration/${encodeURIComponent(id)}/ping`,
      { signal: this.signal },
    );
    const parsed = IntegrationSchema.safeParse(body);
    if (!parsed.success)
      throw new JobExecutorError('KEPTN_API_ERROR', `PUT …/registration/${id}/ping: the answer is not an integration`);
    const subs = (parsed.data.subscriptions ?? []).map(toSubscription);
    const before = this.subs.map((s) => `${s.id}:${s.event}`).join(',');
    const after = subs.map((s) => `${s.id}:${s.event}`).join(',');
    if (before !== after) this.log.info({ subscriptions: subs.map((s) => s.event) }, 'subscriptions');
    this.subs = subs;
    for (const key of this.handled.keys()) if (!subs.some((s) => s.id === key)) this.handled.delete(key);
  }

  /**
   * Keptn keeps the subscriptions of the first registration and ignores those of later ones (§3.2.3), so a
   * changed PUBSUB_TOPIC is applied here through the subscription API, once per registration, as
   * PUBSUB_TOPIC_SYNC says. Never throws: a failure is retried at the next heartbeats, then reported.
   */
  private async syncSubscriptions(): Promise<void> {
    const mode = this.options.subscriptionSync ?? 'add';
    const base = `/controlPlane/v1/uniform/registration/${encodeURIComponent(this.id as string)}/subscription`;
    try {
      // A second pass removes what a replica on the same node added at the same moment (exact duplicates).
      for (let pass = 0; pass < 2; pass++) {
        const plan = planSubscriptionSync(this.subs, this.options.topics, mode);
        if (pass === 0) this.reportSync(plan, mode);
        if (plan.create.length === 0 && plan.remove.length === 0) break;
        for (const event of plan.create)
          await this.options.api.request('POST', base, { body: { event, filter: EMPTY_FILTER }, signal: this.signal });
        for (const s of plan.remove)
          await this.options.api.request('DELETE', `${base}/${encodeURIComponent(s.id)}`, { signal: this.signal });
        await this.ping();
      }
      this.syncFailures = undefined;
    } catch (e) {
      if (this.signal.aborted) return;
      const failures = (this.syncFailures ?? 0) + 1;
      const last = failures >= SYNC_ATTEMPTS;
      this.syncFailures = last ? undefined : failures;
      this.log[last ? 'error' : 'warn'](
        { err: errorMessage(e), attempt: failures, topics: this.options.topics },
        last
          ? "Keptn's subscriptions could not be made to follow PUBSUB_TOPIC; the service polls the subscriptions Keptn has (see Bridge's Uniform page)"
          : "updating Keptn's subscriptions to follow PUBSUB_TOPIC failed; trying again at the next heartbeat",
      );
    }
  }

  private reportSync(plan: ReturnType<typeof planSubscriptionSync>, mode: SubscriptionSyncMode): void {
    if (plan.create.length > 0)
      this.log.info({ add: plan.create }, 'subscribing to the PUBSUB_TOPIC types Keptn has no subscription for');
    const unlisted = plan.remove.filter((s) => !this.options.topics.includes(s.event));
    if (unlisted.length > 0)
      this.log.info(
        { remove: unlisted.map((s) => s.event) },
        'removing the subscriptions PUBSUB_TOPIC no longer lists (PUBSUB_TOPIC_SYNC=replace)',
      );
    if (plan.extra.length > 0) {
      this.log.warn(
        { notInPubsubTopic: plan.extra.map((s) => s.event) },
        'Keptn holds subscriptions PUBSUB_TOPIC does not list (from an earlier PUBSUB_TOPIC, or added in Bridge); they are kept and polled. Remove them in Bridge, or set PUBSUB_TOPIC_SYNC=replace',
      );
    }
    if (plan.missing.length > 0) {
      this.log.warn(
        { missing: plan.missing, mode },
        'PUBSUB_TOPIC lists types Keptn has no subscription for (Keptn keeps the subscriptions of the first registration); they are NOT polled. Add them in Bridge, or set PUBSUB_TOPIC_SYNC=add',
      );
    }
  }

  private async heartbeatLoop(): Promise<void> {
    const backoff = new Backoff(500, this.options.maxBackoffMs);
    while (!this.signal.aborted) {
      try {
        if (this.id === undefined) await this.register();
        await this.ping();
        if (this.syncFailures !== undefined) await this.syncSubscriptions();
        if (backoff.attempts > 0)
          this.log.info({ failedAttempts: backoff.attempts }, 'Keptn control plane reachable again');
        backoff.reset();
        this.registeredOnce?.();
        this.registeredOnce = undefined;
        await sleep(this.options.heartbeatIntervalMs, this.signal);
      } catch (e) {
        if (this.signal.aborted) return;
        // The control plane forgot us (TTL, or it was reset): register again.
        if (isKeptnApiError(e) && e.status === 404 && this.id !== undefined) {
          this.log.warn(
            { integrationId: this.id },
            'the control plane no longer knows this integration; registering again',
          );
          this.id = undefined;
          continue;
        }
        const wait = backoff.next();
        this.log.warn(
          { err: errorMessage(e), attempt: backoff.attempts, retryInMs: wait },
          this.id === undefined ? 'registration failed; retrying' : 'heartbeat failed; retrying',
        );
        await sleep(wait, this.signal);
      }
    }
  }

  private async pollLoop(): Promise<void> {
    const backoff = new Backoff(500, this.options.maxBackoffMs);
    await Promise.race([this.ready, new Promise((r) => this.signal.addEventListener('abort', r, { once: true }))]);
    while (!this.signal.aborted) {
      let failure: string | undefined;
      for (const sub of this.subs) {
        if (this.signal.aborted) return;
        try {
          await this.poll(sub);
        } catch (e) {
          if (this.signal.aborted) return;
          failure = errorMessage(e);
        }
      }
      if (failure === undefined) {
        if (backoff.attempts > 0) this.log.info({ failedPolls: backoff.attempts }, 'polling works again');
        backoff.reset();
        await sleep(this.options.pollIntervalMs, this.signal);
      } else {
        const wait = Math.max(this.options.pollIntervalMs, backoff.next());
        this.log.warn(
          { err: failure, attempt: backoff.attempts, retryInMs: wait },
          'polling for triggered events failed; retrying',
        );
        await sleep(wait, this.signal);
      }
    }
  }

  /** One subscription: every page of its open `.triggered` events (keptn-protocol.md §3.2.4). */
  private async poll(sub: Subscription): Promise<void> {
    const { open, fresh } = await this.openEvents(sub);
    const memory = this.memoryFor(sub.id, open);
    const now = Date.now();
    // Handed over together, not one after another: each one's claim (a write to the journal or the API
    // server), and so its .started, would otherwise wait for every claim before it.
    const due = fresh.filter((raw) => !((memory.get(memoryKey(raw.id))?.retryAt ?? 0) > now));
    for (let i = 0; i < due.length && !this.signal.aborted; i += HANDOVER_BATCH) {
      const batch = due.slice(i, i + HANDOVER_BATCH);
      await Promise.all(batch.map((raw) => this.handOver(sub, raw, memory, memory.get(memoryKey(raw.id)))));
    }
  }

  /** The subscription's open events, all pages: those it takes, and the memory keys of them all. */
  private async openEvents(sub: Subscription): Promise<{ open: Set<string>; fresh: PolledEvent[] }> {
    const query = pollQuery(sub, this.options.pageSize ?? 100);
    const path = `/controlPlane/v1/event/triggered/${encodeURIComponent(sub.event)}`;
    const open = new Set<string>();
    const fresh: PolledEvent[] = [];
    let nextPageKey: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const body = await this.options.api.request('GET', path, {
        query: { ...query, nextPageKey },
        signal: this.signal,
      });
      const parsed = PollSchema.safeParse(body);
      if (!parsed.success) throw new JobExecutorError('KEPTN_API_ERROR', `GET ${path}: the answer has no events list`);
      for (const raw of parsed.data.events ?? []) {
        if (!subscribed(sub, raw)) continue;
        open.add(memoryKey(raw.id));
        fresh.push(raw);
      }
      nextPageKey = parsed.data.nextPageKey ?? undefined;
      if (!nextPageKey || nextPageKey === '0') break;
    }
    return { open, fresh };
  }

  /** A subscription's memory, without the events no longer open: their task completed (or Keptn gave up on it). */
  private memoryFor(subscriptionId: string, open: ReadonlySet<string>): Map<string, Handled> {
    let memory = this.handled.get(subscriptionId);
    if (!memory) this.handled.set(subscriptionId, (memory = new Map()));
    for (const id of memory.keys()) if (!open.has(id)) memory.delete(id);
    return memory;
  }

  private async handOver(
    sub: Subscription,
    raw: Record<string, unknown>,
    memory: Map<string, Handled>,
    seen: Handled | undefined,
  ): Promise<void> {
    // Kept under a bounded key: an id over the limit is refused below, but it must not be remembered whole.
    const id = memoryKey(raw.id as string);
    const entry: Handled = seen ?? { retryAt: Number.POSITIVE_INFINITY, logged: false };
    let event: KeptnEvent;
    try {
      // As the SDK does: the handler can tell which subscription brought the event.
      const data = isPlainObject(raw.data) ? raw.data : {};
      const temporaryData = isPlainObject(data.temporaryData) ? data.temporaryData : {};
      event = parseKeptnEvent({
        ...raw,
        data: { ...data, temporaryData: { ...temporaryData, distributor: { subscriptionID: sub.id } } },
      });
    } catch (e) {
      entry.retryAt = Number.POSITIVE_INFINITY;
      memory.set(id, entry);
      this.log.warn(
        { eventId: id, type: sub.event, err: errorMessage(e), code: isJobExecutorError(e) ? e.code : undefined },
        'polled event is not a valid Keptn event; skipped',
      );
      return;
    }
    const result = await this.options.intake.submit(event);
    switch (result.status) {
      case 'accepted':
      case 'duplicate':
        entry.retryAt = Number.POSITIVE_INFINITY;
        memory.set(id, entry);
        if (result.status === 'duplicate')
          this.log.debug({ eventId: id, runId: result.runId }, 'polled event already taken');
        return;
      case 'ignored':
        // no-match: nothing to do, ever. Config problems: logged to Keptn once; tried again later in case the
        // resource service was only failing for a moment (a fixed config at the same commit is not expected).
        entry.retryAt = result.reason === 'no-match' ? Number.POSITIVE_INFINITY : Date.now() + CONFIG_RETRY_MS;
        memory.set(id, entry);
        if (result.reason !== 'no-match' && !entry.logged) {
          entry.logged = true;
          await this.errorLog(event, logText(result));
        }
        return;
      case 'queue-full':
        // Not remembered: the next poll offers it again, when there may be room.
        this.log.warn({ eventId: id, type: event.type }, 'run queue full; the event is taken at a later poll');
        return;
      case 'closed':
        return;
    }
  }

  /** A log-ingestion entry, shown on Bridge's Uniform page (keptn-protocol.md §2.7). Best effort: never throws. */
  async errorLog(
    event: { shkeptncontext: string; type: string; id: string; gitcommitid?: string },
    message: string,
  ): Promise<void> {
    if (this.id === undefined) {
      this.log.warn({ eventId: event.id, err: message }, 'not registered; error log kept local');
      return;
    }
    try {
      await postErrorLog(this.options.api, this.id, { ...event, triggeredid: event.id }, message, this.signal);
    } catch (e) {
      this.log.warn({ err: errorMessage(e), eventId: event.id }, 'error log could not be sent to Keptn');
    }
  }
}

/**
 * Errored `.finished` answers also go to Keptn's log ingestion under the integration id, as the go-sdk does
 * (jes-anchor.md §2.1), so failures show on Bridge's Uniform page. A side delivery, told of answers once they
 * were delivered: a failure here is logged by the outbox and never marks the answer as failed.
 */
export class KeptnErrorLogObserver implements AnswerObserver {
  readonly name = 'keptn-log';

  constructor(
    private readonly api: KeptnApiClient,
    private readonly integrationId: () => string | undefined,
  ) {}

  async delivered(event: OutgoingEvent, signal: AbortSignal): Promise<void> {
    if (!event.type.endsWith('.finished') || event.data.status !== 'errored') return;
    const id = this.integrationId();
    // Not registered (yet): there is nothing to file the entry under; the answer itself went out.
    if (id === undefined) return;
    const message = typeof event.data.message === 'string' ? event.data.message : 'errored';
    await postErrorLog(this.api, id, event, message, signal);
  }
}

/** One entry of Keptn's log ingestion (keptn-protocol.md §2.7), filed under the integration and the task. */
async function postErrorLog(
  api: KeptnApiClient,
  integrationId: string,
  event: { shkeptncontext: string; type: string; triggeredid: string; gitcommitid?: string },
  message: string,
  signal: AbortSignal,
): Promise<void> {
  const entry = {
    integrationid: integrationId,
    message,
    time: new Date().toISOString(),
    shkeptncontext: event.shkeptncontext,
    task: taskEventParts(event.type)?.task ?? event.type,
    triggeredid: event.triggeredid,
    ...(event.gitcommitid ? { gitcommitid: event.gitcommitid } : {}),
  };
  await api.request('POST', '/controlPlane/v1/log', { body: { logs: [entry] }, signal });
}
