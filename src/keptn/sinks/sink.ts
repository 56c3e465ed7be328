import type { OutgoingEvent } from '../responses.js';

/** Where answers go. `send` throws on failure; the outbox retries. A PermanentDeliveryError is not retried. */
export interface Sink {
  readonly name: string;
  send(event: OutgoingEvent, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

export class PermanentDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}
