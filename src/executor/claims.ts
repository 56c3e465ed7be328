import type { KeptnEvent } from '../keptn/event.js';

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
  takeOver(): Promise<Array<{ event: KeptnEvent; startedDelivered: boolean }>>;
  close(): Promise<void>;
}

/**
 * Claims in memory: enough for one process (the local runner), where a restart ends every run anyway. The
 * executor's dedup window already covers redelivery; this adds nothing durable.
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
