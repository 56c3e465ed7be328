import type { SubmitResult } from '../../executor/executor.js';
import type { KeptnEvent } from '../event.js';

/** What a transport hands events to: the executor (it decides, deduplicates and answers). */
export interface EventIntake {
  submit(event: KeptnEvent): Promise<SubmitResult>;
}

/** A way events come in besides HTTP push: started once, closed on shutdown before the executor drains. */
export interface Transport {
  readonly name: string;
  /** Resolves once events flow: registered with Keptn (keptn-api), subscribed (nats). */
  readonly ready: Promise<void>;
  /** Stops taking events; resolves when no handler of this transport is still submitting. */
  close(): Promise<void>;
}

export type TransportKind = 'http' | 'keptn-api' | 'nats';
