import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import { JobExecutorError, errorMessage, isJobExecutorError } from '../../errors.js';
import { Backoff, sleep } from '../../util/backoff.js';
import { parseKeptnEvent, type KeptnEvent } from '../event.js';
import type { OutgoingEvent } from '../responses.js';
import { AnswerTooLargeError, PermanentDeliveryError, type Sink } from '../sinks/sink.js';
import type { EventIntake, Transport } from './transport.js';

export interface NatsConnectionOptions {
  /** One or more servers, comma-separated: `nats://keptn-nats:4222`. */
  readonly url: string;
  /** Shown by the server (`connz`): the integration name. */
  readonly name: string;
  readonly logger: Logger;
}

/**
 * One NATS connection shared by the transport (subscriptions) and the sink (answers), so answers leave through
 * the connection events came in on. It reconnects forever (Keptn's NATS may restart at any time) and the
 * first connect does not block the service's start: the HTTP server (health, API) is up while NATS is not.
 * Closed (drained: buffered answers are flushed) when its last user lets go.
 */
export class NatsConnectionHolder {
  private readonly connecting: Promise<NatsConnection>;
  private users = 0;
  private closed: Promise<void> | undefined;
  private readonly controller = new AbortController();

  constructor(private readonly options: NatsConnectionOptions) {
    const servers = options.url
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const log = options.logger.child({ nats: servers.join(',') });
    this.connecting = this.connectLoop(servers, log);
    // Without a user waiting, a failed start must not be an unhandled rejection.
    this.connecting.catch(() => undefined);
  }

  /**
   * The first connection, retried with backoff until it works or the holder is released (nats.js's own
   * `waitOnFirstConnect` cannot be cancelled). Once connected, nats.js reconnects by itself, forever.
   */
  private async connectLoop(servers: string[], log: Logger): Promise<NatsConnection> {
    const backoff = new Backoff(500, 10_000);
    for (;;) {
      try {
        // Loaded on first use: only the NATS transport needs the client.
        const { connect } = await import('nats');
        const nc = await connect({
          servers,
          name: this.options.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
          timeout: 5000,
        });
        log.info({ server: nc.getServer() }, 'connected to NATS');
        void (async () => {
          for await (const s of nc.status()) {
            if (s.type === 'disconnect') log.warn({ server: s.data }, 'NATS connection lost; reconnecting');
            else if (s.type === 'reconnect') log.info({ server: s.data }, 'NATS reconnected');
            else if (s.type === 'error') log.warn({ err: String(s.data) }, 'NATS error');
          }
        })();
        return nc;
      } catch (e) {
        const wait = backoff.next();
        log.warn(
          { err: errorMessage(e), attempt: backoff.attempts, retryInMs: wait },
          'cannot connect to NATS (PUBSUB_URL); retrying',
        );
        await sleep(wait, this.controller.signal);
        if (this.controller.signal.aborted)
          throw new JobExecutorError(
            'TRANSPORT_ERROR',
            `NATS ${servers.join(',')}: stopped before a connection was made`,
          );
      }
    }
  }

  acquire(): this {
    this.users++;
    return this;
  }

  /** The connection, once there is one; rejects when `signal` aborts first. */
  async connection(signal?: AbortSignal): Promise<NatsConnection> {
    if (!signal) return this.connecting;
    if (signal.aborted) throw new JobExecutorError('TRANSPORT_ERROR', 'NATS: stopped before a connection was made');
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_r, reject) => {
      onAbort = () => reject(new JobExecutorError('TRANSPORT_ERROR', 'NATS: stopped before a connection was made'));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([this.connecting, aborted]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** One user is done; the last one drains and closes the connection. */
  async release(): Promise<void> {
    this.users--;
    if (this.users > 0) return;
    this.closed ??= (async () => {
      this.controller.abort();
      // Stops a connect loop that is still waiting for a server.
      const nc = await this.connecting.catch(() => undefined);
      if (nc && !nc.isClosed()) {
        try {
          await nc.drain();
        } catch {
          await nc.close();
        }
      }
    })();
    return this.closed;
  }
}

export interface NatsTransportOptions {
  readonly holder: NatsConnectionHolder;
  readonly intake: EventIntake;
  /** PUBSUB_TOPIC: subjects, NATS wildcards allowed (`sh.keptn.event.*.triggered`, `sh.keptn.>`). */
  readonly topics: readonly string[];
  /** PUBSUB_GROUP: replicas in one queue group share the events, each event goes to one of them. */
  readonly group: string;
  readonly logger: Logger;
}

/**
 * Keptn's in-cluster transport (keptn-protocol.md §3.2.5): core NATS, subject = event type, payload = the
 * event as JSON. Subscribed with a queue group, so several replicas each get a share and every event is
 * delivered to one of them. Core NATS does not redeliver, so an event the executor cannot take yet (queue
 * full) is held and offered again until there is room, rather than dropped.
 */
export class NatsTransport implements Transport {
  readonly name = 'nats';
  private readonly controller = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private subscriptions: Subscription[] = [];
  private readonly log: Logger;
  /** Resolves once every subject is subscribed and the server confirmed it. */
  readonly ready: Promise<void>;

  constructor(private readonly options: NatsTransportOptions) {
    this.log = options.logger.child({ transport: 'nats' });
    options.holder.acquire();
    this.ready = this.subscribe();
    this.ready.catch((e: unknown) => {
      if (!this.controller.signal.aborted) this.log.error({ err: errorMessage(e) }, 'NATS subscriptions failed');
    });
  }

  private async subscribe(): Promise<void> {
    const nc = await this.options.holder.connection(this.controller.signal);
    for (const topic of this.options.topics) {
      this.subscriptions.push(
        nc.subscribe(topic, {
          queue: this.options.group,
          callback: (err, msg) => {
            if (err) {
              this.log.warn({ subject: topic, err: err.message }, 'NATS subscription error');
              return;
            }
            const p = this.handle(msg.subject, msg.data).finally(() => this.inFlight.delete(p));
            this.inFlight.add(p);
          },
        }),
      );
    }
    await nc.flush();
    this.log.info({ subjects: this.options.topics, group: this.options.group }, 'subscribed to NATS');
  }

  private async handle(subject: string, payload: Uint8Array): Promise<void> {
    let event: KeptnEvent;
    try {
      event = parseKeptnEvent(JSON.parse(Buffer.from(payload).toString('utf8')));
    } catch (e) {
      // With wide subjects (`sh.keptn.>`) much of what arrives is not a task event: not worth a warning.
      this.log.debug(
        { subject, err: errorMessage(e), code: isJobExecutorError(e) ? e.code : undefined },
        'NATS message is not a Keptn task event; skipped',
      );
      return;
    }
    const backoff = new Backoff(200, 5000);
    for (;;) {
      const result = await this.options.intake.submit(event);
      if (result.status !== 'queue-full') return;
      if (backoff.attempts === 0)
        this.log.warn({ eventId: event.id, type: event.type }, 'run queue full; holding the event until there is room');
      await sleep(backoff.next(), this.controller.signal);
      if (this.controller.signal.aborted) {
        this.log.error(
          { eventId: event.id, type: event.type, shkeptncontext: event.shkeptncontext },
          'event not taken: the service stopped while the queue was full',
        );
        return;
      }
    }
  }

  async close(): Promise<void> {
    this.controller.abort();
    // No new messages; the ones being handed over finish first.
    await Promise.allSettled(this.subscriptions.map((s) => s.drain()));
    await Promise.allSettled([...this.inFlight]);
    await this.options.holder.release();
  }
}

/**
 * nats.js refuses before sending: a payload over the server's max_payload (1 MB unless the server says
 * otherwise) is a refusal for size, a subject it cannot carry is permanent; anything else (the connection
 * closed, say) may pass on a retry.
 */
function publishError(e: unknown, subject: string, bytes: number, maxPayload: number | undefined): Error {
  const code = (e as { code?: unknown }).code;
  if (code === 'MAX_PAYLOAD_EXCEEDED') {
    return new AnswerTooLargeError(
      `NATS publish to ${subject}: the answer is ${bytes} bytes, over the server's max_payload of ${maxPayload ?? '?'} bytes`,
      bytes,
    );
  }
  if (code === 'BAD_SUBJECT')
    return new PermanentDeliveryError(`NATS publish: ${JSON.stringify(subject)} is not a valid subject`);
  return new JobExecutorError('DELIVERY_FAILED', `NATS publish to ${subject}: ${errorMessage(e)}`, { cause: e });
}

/** Answers to NATS, subject = event type (what Keptn's API does with a POSTed event, §3.2.2). */
export class NatsSink implements Sink {
  readonly name = 'nats';

  constructor(
    private readonly holder: NatsConnectionHolder,
    private readonly confirmTimeoutMs = 5000,
  ) {
    holder.acquire();
  }

  async send(event: OutgoingEvent, signal: AbortSignal): Promise<void> {
    const nc = await this.holder.connection(signal);
    const payload = Buffer.from(JSON.stringify(event));
    try {
      // Keptn's publisher sets time and id; we already have both.
      nc.publish(event.type, payload);
    } catch (e) {
      throw publishError(e, event.type, payload.length, nc.info?.max_payload);
    }
    // Once publish() returned, the client holds the message and sends it after a reconnect; retrying here
    // could send a second `.finished`, which Keptn counts. So a slow confirmation is waited for, not retried.
    const waited = new AbortController();
    await Promise.race([nc.flush().catch(() => undefined), sleep(this.confirmTimeoutMs, waited.signal)]);
    waited.abort();
  }

  async close(): Promise<void> {
    await this.holder.release();
  }
}
