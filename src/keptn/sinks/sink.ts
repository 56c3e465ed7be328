import { JobExecutorError } from '../../errors.js';
import type { OutgoingEvent } from '../responses.js';

/** Where answers go. `send` throws on failure; the outbox retries. A PermanentDeliveryError is not retried. */
export interface Sink {
  readonly name: string;
  send(event: OutgoingEvent, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

/** Refused for good: the same answer would be refused again, so it is not retried. */
export class PermanentDeliveryError extends JobExecutorError {
  constructor(message: string) {
    super('DELIVERY_FAILED', message);
    this.name = 'PermanentDeliveryError';
  }
}

/**
 * The receiver refused the answer for its size (413, or Keptn's 400 "request body too large"). Not retried
 * as it is: the outbox sends a shortened answer instead, so an answer is never given up for its size.
 */
export class AnswerTooLargeError extends PermanentDeliveryError {
  constructor(
    message: string,
    /** Bytes of the event as sent, when known. */
    readonly size?: number,
  ) {
    super(message);
    this.name = 'AnswerTooLargeError';
  }
}

/**
 * Told of every answer once it was delivered (Keptn's error-log ingestion, for instance). A side delivery:
 * its failures are logged and counted, never turned into a failed answer.
 */
export interface AnswerObserver {
  readonly name: string;
  delivered(event: OutgoingEvent, signal: AbortSignal): Promise<void>;
}
