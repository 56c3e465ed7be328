import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { OutgoingEvent } from '../keptn/responses.js';
import { PermanentDeliveryError, type Sink } from '../keptn/sinks/sink.js';

export interface DeliveryResult {
  readonly delivered: boolean;
  readonly attempts: number;
  readonly error?: string;
}

export interface OutboxOptions {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly logger: Logger;
}

/**
 * Delivers answers with retries and backoff, in order per run (a `.finished` never overtakes its `.started`).
 * An answer that cannot be delivered is logged whole at error level and reported: none is dropped silently.
 */
export class Outbox {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly controller = new AbortController();
  private waiting = 0;

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

  get sinkNames(): string[] {
    return this.sinks.map((s) => s.name);
  }

  /** Queues `event` behind earlier answers of the same run. Resolves when delivered to every sink, or given up. */
  send(runId: string, event: OutgoingEvent): Promise<DeliveryResult> {
    this.waiting++;
    const previous = this.chains.get(runId) ?? Promise.resolve();
    const next = previous.then(() => this.deliverAll(event)).finally(() => {
      this.waiting--;
      if (this.chains.get(runId) === next) this.chains.delete(runId);
    });
    this.chains.set(runId, next);
    return next;
  }

  private async deliverAll(event: OutgoingEvent): Promise<DeliveryResult> {
    let attempts = 0;
    const errors: string[] = [];
    for (const sink of this.sinks) {
      const r = await this.deliver(sink, event);
      attempts = Math.max(attempts, r.attempts);
      if (!r.delivered) errors.push(`${sink.name}: ${r.error ?? 'failed'}`);
    }
    return errors.length === 0 ? { delivered: true, attempts } : { delivered: false, attempts, error: errors.join('; ') };
  }

  private async deliver(sink: Sink, event: OutgoingEvent): Promise<DeliveryResult> {
    // eventId as well as triggeredid: the same key as every other line of the run, so one filter finds them all.
    const log = this.options.logger.child({ shkeptncontext: event.shkeptncontext, eventId: event.triggeredid, triggeredid: event.triggeredid, sink: sink.name });
    let lastError = '';
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      if (this.controller.signal.aborted) {
        lastError = `not delivered: the service stopped (${lastError || 'before the first attempt'})`;
        break;
      }
      try {
        await sink.send(event, this.controller.signal);
        if (attempt > 1) log.info({ type: event.type, attempt }, 'answer delivered after retrying');
        return { delivered: true, attempts: attempt };
      } catch (e) {
        lastError = errorMessage(e);
        if (e instanceof PermanentDeliveryError) break;
        if (attempt < this.options.maxAttempts) {
          const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (attempt - 1));
          log.warn({ type: event.type, attempt, err: lastError, retryInMs: delay }, 'answer not delivered; retrying');
          await sleep(delay * (0.8 + Math.random() * 0.4), this.controller.signal);
        }
      }
    }
    log.error({ type: event.type, err: lastError, event }, 'answer could not be delivered and was given up');
    return { delivered: false, attempts: this.options.maxAttempts, error: lastError };
  }

  /** Waits for queued answers (up to `timeoutMs`), then gives up the rest, logging each. */
  async close(timeoutMs: number): Promise<void> {
    const all = Promise.allSettled([...this.chains.values()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.controller.abort();
    await all;
    await Promise.all(this.sinks.map((s) => s.close?.()));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
