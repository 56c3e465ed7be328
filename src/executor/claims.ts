import type { KeptnEvent } from '../keptn/event.js';
import type { OutgoingEvent } from '../keptn/responses.js';
import type { ProcessHandle } from '../runners/runner.js';

/** What a journal knew of a run when the service stopped without closing it (local runner). */
export interface JournalledRun {
  /** Answers recorded before they were sent, with whether their delivery was confirmed. */
  readonly answers: ReadonlyArray<{ readonly answer: OutgoingEvent; readonly delivered: boolean }>;
  /** Tasks that had started, by name, in order. */
  readonly tasks: readonly string[];
  /** Process groups of those tasks, to stop after a crash. */
  readonly processes: readonly ProcessHandle[];
}

export interface TakenOver {
  readonly event: KeptnEvent;
  /** `.started` went out before the restart: it must not be sent again (Keptn would wait for two `.finished`). */
  readonly startedDelivered: boolean;
  /** Set by a journal: what it recorded of the run. */
  readonly journal?: JournalledRun;
}

/**
 * Who answers an event. An instance claims an event before it sends `.started`; only the one that claims it
 * runs it and answers it, whatever the number of replicas, redeliveries and restarts. The claim records that
 * `.started` went out and, at the end, that the run was answered.
 */
export interface RunClaims {
  /** `claimed`: this instance runs the event. `taken`: another instance (or an earlier run) has it. */
  claim(event: KeptnEvent): Promise<'claimed' | 'taken'>;
  /** `.started` was delivered. */
  started(event: KeptnEvent): Promise<void>;
  /** `.finished` was delivered (or the run ended without answers): nothing left to do for this event. */
  answered(event: KeptnEvent): Promise<void>;
  /**
   * Claimed runs no instance is carrying out any longer (this instance before a restart, or a peer that
   * stopped renewing), now taken over by this instance.
   */
  takeOver(): Promise<TakenOver[]>;
  close(): Promise<void>;
  /** Durable claims that keep answers: `answer` is recorded before it is sent. */
  answerQueued?(event: KeptnEvent, answer: OutgoingEvent): Promise<void>;
  /** …and its delivery once confirmed. */
  answerDelivered?(event: KeptnEvent, answerId: string): Promise<void>;
  /** A task of the run started (its name is what the answer after a crash can tell). */
  taskStarted?(event: KeptnEvent, task: string): Promise<void>;
  /** A task's process group exists (stopped after a crash). */
  process?(event: KeptnEvent, handle: ProcessHandle): void;
}

/**
 * Claims in memory, for a process whose runs need not outlive it (`job-executor run`, tests). The executor's
 * dedup window covers redelivery; this adds nothing durable.
 */
export class MemoryClaims implements RunClaims {
  async claim(): Promise<'claimed'> {
    return 'claimed';
  }
  async started(): Promise<void> {}
  async answered(): Promise<void> {}
  async takeOver(): Promise<[]> {
    return [];
  }
  async close(): Promise<void> {}
}
