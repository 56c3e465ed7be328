/**
 * Event ids seen within a window, so a redelivered event (a retrying sender, a second poll) is answered once.
 * Entries expire in insertion order; the window is also bounded in bytes (ids are short, but a flood of them
 * must not grow it without bound): past `maxBytes` the oldest ids are forgotten first.
 */
export class DedupWindow {
  private readonly seen = new Map<string, { runId: string; expires: number; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  /** Bytes the window holds (ids, run ids and a fixed overhead per entry). */
  get size(): number {
    return this.bytes;
  }

  /** The run that already took this event id, if it is still within the window. */
  lookup(eventId: string, now = Date.now()): string | undefined {
    this.prune(now);
    return this.seen.get(eventId)?.runId;
  }

  remember(eventId: string, runId: string, now = Date.now()): void {
    this.forget(eventId);
    // A Map entry costs about 100 bytes beyond its strings (two UTF-16 bytes a character).
    const bytes = 2 * (eventId.length + runId.length) + 100;
    this.seen.set(eventId, { runId, expires: now + this.windowMs, bytes });
    this.bytes += bytes;
    for (const id of this.seen.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.forget(id);
    }
  }

  private forget(id: string): void {
    const entry = this.seen.get(id);
    if (!entry) return;
    this.seen.delete(id);
    this.bytes -= entry.bytes;
  }

  private prune(now: number): void {
    for (const [id, entry] of this.seen) {
      if (entry.expires > now) break;
      this.forget(id);
    }
  }
}
