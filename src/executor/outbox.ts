import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { OutgoingEvent } from '../keptn/responses.js';
import { AnswerTooLargeError, PermanentDeliveryError, type AnswerObserver, type Sink } from '../keptn/sinks/sink.js';
import { Backoff, sleep } from '../util/backoff.js';

export interface DeliveryResult {
  readonly delivered: boolean;
  readonly attempts: number;
  readonly error?: string;
  /** Refused for good (a 4xx, a malformed answer): sending it again would not help. */
  readonly permanent?: boolean;
  /** The answer as it was finally sent: a shortened form when a receiver refused the first for its size. */
  readonly sent: OutgoingEvent;
}

export interface OutboxOptions {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly logger: Logger;
  /** Told of each delivered answer (side deliveries such as Keptn's error log); their failures never fail it. */
  readonly observers?: readonly AnswerObserver[];
}

export interface SendOptions {
  /** A shorter form of the answer after a receiver refused it for its size; undefined when none is left. */
  readonly shrink?: (answer: OutgoingEvent) => OutgoingEvent | undefined;
}

/**
 * Delivers answers with retries and backoff, in order per run (a `.finished` never overtakes its `.started`).
 * An answer refused for its size is sent again shortened, until it fits. An answer that cannot be delivered
 * is logged whole at error level and reported: none is dropped silently.
 */
export class Outbox {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly controller = new AbortController();
  private waiting = 0;
  private observerFailures = 0;

  constructor(
    private readonly sinks: readonly Sink[],
    private readonly options: OutboxOptions,
  ) {
    // Every request in flight listens for the shutdown on this one signal.
    setMaxListeners(0, this.controller.signal);
  }

  /** Answers accepted but not yet delivered (or given up on). */
  get pending(): number {
    return this.waiting;
  }

  /** Side deliveries that failed (counted, logged, never failing an answer). */
  get sideFailures(): number {
    return this.observerFailures;
  }

  get sinkNames(): string[] {
    return this.sinks.map((s) => s.name);
  }

  /** Queues `event` behind earlier answers of the same run. Resolves when delivered to every sink, or given up. */
  send(runId: string, event: OutgoingEvent, options: SendOptions = {}): Promise<DeliveryResult> {
    this.waiting++;
    const previous = this.chains.get(runId) ?? Promise.resolve();
    const next = previous
      .then(() => this.deliverAll(event, options))
      .finally(() => {
        this.waiting--;
        if (this.chains.get(runId) === next) this.chains.delete(runId);
      });
    this.chains.set(runId, next);
    return next;
  }

  private async deliverAll(event: OutgoingEvent, options: SendOptions): Promise<DeliveryResult> {
    let attempts = 0;
    let sent = event;
    let permanent = false;
    const errors: string[] = [];
    for (const sink of this.sinks) {
      const r = await this.deliver(sink, sent, options);
      attempts = Math.max(attempts, r.attempts);
      // A shortened form goes to the sinks after this one too: one answer, one form.
      sent = r.sent;
      if (!r.delivered) errors.push(`${sink.name}: ${r.error ?? 'failed'}`);
      if (r.permanent) permanent = true;
    }
    if (errors.length > 0) return { delivered: false, attempts, error: errors.join('; '), sent, permanent };
    await this.observe(sent);
    return { delivered: true, attempts, sent };
  }

  private async observe(event: OutgoingEvent): Promise<void> {
    for (const observer of this.options.observers ?? []) {
      try {
        await observer.delivered(event, this.controller.signal);
      } catch (e) {
        this.observerFailures++;
        this.options.logger.warn(
          {
            shkeptncontext: event.shkeptncontext,
            eventId: event.triggeredid,
            observer: observer.name,
            err: errorMessage(e),
          },
          'side delivery failed; the answer itself was delivered',
        );
      }
    }
  }

  private async deliver(sink: Sink, first: OutgoingEvent, options: SendOptions): Promise<DeliveryResult> {
    // eventId as well as triggeredid: the same key as every other line of the run, so one filter finds them all.
    const log = this.options.logger.child({
      shkeptncontext: first.shkeptncontext,
      eventId: first.triggeredid,
      sink: sink.name,
    });
    const backoff = new Backoff(this.options.baseDelayMs, this.options.maxDelayMs);
    let event = first;
    let lastError = '';
    let permanent = false;
    let attempt = 0;
    while (attempt < this.options.maxAttempts) {
      attempt++;
      if (this.controller.signal.aborted) {
        lastError = `not delivered: the service stopped (${lastError || 'before the first attempt'})`;
        break;
      }
      try {
        await sink.send(event, this.controller.signal);
        if (attempt > 1) log.info({ answerType: event.type, attempt }, 'answer delivered after retrying');
        return { delivered: true, attempts: attempt, sent: event };
      } catch (e) {
        lastError = errorMessage(e);
        if (e instanceof AnswerTooLargeError) {
          const smaller = options.shrink?.(event);
          if (smaller) {
            log.warn(
              { answerType: event.type, err: lastError },
              'answer refused as too large; sending a shortened one',
            );
            event = smaller;
            // A refusal for size says nothing about the receiver being down: the shorter form goes at once.
            attempt--;
            continue;
          }
        }
        if (e instanceof PermanentDeliveryError) {
          permanent = true;
          break;
        }
        if (attempt < this.options.maxAttempts) {
          const delay = backoff.next();
          log.warn(
            { answerType: event.type, attempt, err: lastError, retryInMs: delay },
            'answer not delivered; retrying',
          );
          await sleep(delay, this.controller.signal);
        }
      }
    }
    log.error(
      { answerType: event.type, err: lastError, answer: event },
      'answer could not be delivered and was given up',
    );
    return { delivered: false, attempts: attempt, error: lastError, sent: event, permanent };
  }

  /** Waits for queued answers (up to `timeoutMs`), then gives up the rest, logging each. */
  async close(timeoutMs: number): Promise<void> {
    const all = Promise.allSettled([...this.chains.values()]);
    const waited = new AbortController();
    await Promise.race([all, sleep(timeoutMs, waited.signal)]);
    waited.abort();
    this.controller.abort();
    await all;
    await Promise.all(this.sinks.map(async (s) => s.close?.()));
  }
}
