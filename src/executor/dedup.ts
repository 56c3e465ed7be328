/**
 * Event ids seen within a window, so a redelivered event (a retrying sender, a second poll) is answered once.
 * Entries expire in insertion order; the map is also capped so a flood cannot grow it without bound.
 */
export class DedupWindow {
  private readonly seen = new Map<string, { runId: string; expires: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** The run that already took this event id, if it is still within the window. */
  lookup(eventId: string, now = Date.now()): string | undefined {
    this.prune(now);
    return this.seen.get(eventId)?.runId;
  }

  remember(eventId: string, runId: string, now = Date.now()): void {
    this.seen.set(eventId, { runId, expires: now + this.windowMs });
    if (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  private prune(now: number): void {
    for (const [id, entry] of this.seen) {
      if (entry.expires > now) break;
      this.seen.delete(id);
    }
  }
}
