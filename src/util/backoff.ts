/** Resolves after `ms`, or at once when `signal` aborts (never rejects: callers check `signal.aborted`). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Exponential backoff with jitter for loops that must keep going through outages (a Keptn API that answers
 * 503 for a minute must not end the service, as it ended JES after 10 failures). `reset()` after a success.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  get attempts(): number {
    return this.failures;
  }

  /** The delay before the next attempt, and counts one more failure. */
  next(): number {
    const raw = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    // ±20 %: replicas that failed together do not retry in lockstep.
    return Math.round(raw * (0.8 + Math.random() * 0.4));
  }

  reset(): void {
    this.failures = 0;
  }
}
