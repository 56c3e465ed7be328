import type { KeptnEvent } from '../keptn/event.js';
import type { OutgoingEvent } from '../keptn/responses.js';
import type { ProcessHandle } from '../runners/runner.js';
import type { RunClaims, TakenOver } from './claims.js';
import type { RunJournal } from './journal.js';

/**
 * Run claims on the local journal: the embedded default's durability. A claim is the run written to disk
 * before `.started`; every answer is written before it is sent; after a crash `takeOver` hands the executor
 * each run that was never closed, once, with what the journal knew.
 */
export class JournalClaims implements RunClaims {
  private handedOver = false;

  constructor(private readonly journal: RunJournal) {}

  async claim(event: KeptnEvent): Promise<'claimed' | 'taken'> {
    // An id the journal knows (open, or closed within the window) came before, maybe before a restart.
    if (this.journal.has(event.id)) return 'taken';
    await this.journal.openRun(event);
    return 'claimed';
  }

  /** The journal already holds the `.started` (answerQueued) and its delivery (answerDelivered). */
  async started(): Promise<void> {}

  async answered(event: KeptnEvent): Promise<void> {
    await this.journal.close(event.id);
  }

  async answerQueued(event: KeptnEvent, answer: OutgoingEvent): Promise<void> {
    await this.journal.answer(event.id, answer);
  }

  async answerDelivered(event: KeptnEvent, answerId: string): Promise<void> {
    await this.journal.delivered(event.id, answerId);
  }

  async taskStarted(event: KeptnEvent, task: string): Promise<void> {
    await this.journal.task(event.id, task);
  }

  process(event: KeptnEvent, handle: ProcessHandle): void {
    // Not awaited: the task is already running, and a lost record only means a process that outlives a crash.
    void this.journal.process(event.id, handle).catch(() => undefined);
  }

  /** The runs open when the service last stopped: handed over once, on the first call after the start. */
  async takeOver(): Promise<TakenOver[]> {
    if (this.handedOver) return [];
    this.handedOver = true;
    return [...this.journal.open.values()].map((run) => ({
      event: run.event,
      // A `.started` written to the journal is taken as delivered: sent twice, Keptn would wait for a second
      // `.finished` for good, while the window in which it was written but not sent is a few microseconds.
      startedDelivered: run.answers.some((a) => a.answer.type.endsWith('.started')),
      journal: { answers: run.answers.map((a) => ({ ...a })), tasks: [...run.tasks], processes: [...run.processes] },
    }));
  }

  async close(): Promise<void> {
    await this.journal.closeFile();
  }
}
