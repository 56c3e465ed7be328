import type { IncomingMessage } from 'node:http';
import { TaskLog } from '../task-log.js';
import { CONTAINER_NAME } from './job-spec.js';
import { apiMessage, type KubeApi } from './kube-client.js';

/** How long opening a log stream may take. */
export const LOG_OPEN_TIMEOUT_MS = 30_000;
/** How long reading one container's whole log at the end may take. */
export const LOG_READ_TIMEOUT_MS = 60_000;
/**
 * A task container's log is streamed while it runs only once it has run this long: the log of a shorter task
 * is read once, when it ends (one request instead of two), and a longer one shows in the live views this late.
 */
export const LIVE_LOG_AFTER_MS = 3000;

/**
 * A TaskLog used only to cut a stream into lines (its own tail is never read): the same line rules, long-line
 * pieces included, for the live stream and the read at the end, so their line counts agree.
 */
function splitter(onLine: (text: string) => void): TaskLog {
  return new TaskLog({ maxBytes: 1, onLine: (l) => onLine(l.text) });
}

/** What the live stream did: the pod it followed, the lines it passed on, and whether it got the whole log. */
export interface Streamed {
  readonly pod: string | undefined;
  readonly lines: number;
  /**
   * The stream ended by itself, complete, with the container stopped: the kubelet ends a follow stream once the
   * container has stopped and its log is read to the end, so there is nothing left to read.
   */
  readonly whole: boolean;
}

/**
 * The task container's log while it runs, streamed into the task's log as it comes (the run store and live
 * views see it before the Job ends). Counts the lines it passed on, so the read at the end skips them.
 */
export class LiveLog {
  private pod: string | undefined;
  private readonly controller = new AbortController();
  private stopped = false;
  private attempts = 0;
  private passed = 0;
  private whole = false;

  constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly log: TaskLog,
    private readonly onNote: (text: string) => void,
    /** Whether the task container of the pod has stopped, as the pod watch shows it now. */
    private readonly containerStopped: (pod: string) => boolean,
  ) {}

  /** Whether a stream is open or being opened (no other is started then). */
  get active(): boolean {
    return this.pod !== undefined;
  }

  /** No stream is open or being opened, and one may still be (not stopped, fewer than 3 attempts). */
  get startable(): boolean {
    return this.pod === undefined && !this.stopped && this.attempts < 3;
  }

  /** Starts streaming `pod` unless a stream is open already; a stream that could not be opened is tried 3 times. */
  start(pod: string): void {
    if (this.pod !== undefined || this.stopped || this.attempts >= 3) return;
    this.pod = pod;
    this.attempts++;
    void this.open(pod);
  }

  private async open(pod: string): Promise<void> {
    const lines = splitter((text) => {
      this.passed++;
      this.log.writeLine('stdout', text);
    });
    let res: IncomingMessage;
    try {
      res = await this.api.podLog(
        this.namespace,
        pod,
        CONTAINER_NAME,
        true,
        this.controller.signal,
        LOG_OPEN_TIMEOUT_MS,
      );
    } catch (e) {
      // Not streamable yet (or at all): the whole log is read at the end anyway.
      if (this.stopped) return;
      if (this.attempts >= 3)
        this.onNote(`could not stream the log of pod ${pod} (${apiMessage(e)}); it is read when the Job ends`);
      this.pod = undefined;
      return;
    }
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (!this.stopped) lines.write('stdout', chunk);
    });
    res.once('end', () => {
      if (this.stopped || !res.complete) return;
      lines.end();
      // Whole only if it ended because the container stopped: a stream that ends while the container runs
      // (whatever the reason) leaves the rest to the read at the end.
      this.whole = this.containerStopped(pod);
    });
    // Ended by stop() (aborted), or broken off: the read at the end takes the rest.
    res.once('error', () => undefined);
  }

  /** Stops the stream: what it passed on stays. */
  stop(): Streamed {
    this.stopped = true;
    this.controller.abort();
    return { pod: this.pod, lines: this.passed, whole: this.whole };
  }
}

/**
 * Reads one container's whole log (as a stream: memory stays bounded by the task's log tail, however long the
 * log) and passes each line after the first `skip` to `onLine`. Resolves with an error text instead of throwing.
 */
export async function readContainerLog(
  api: KubeApi,
  at: { namespace: string; pod: string; container: string },
  skip: number,
  onLine: (text: string) => void,
  signal: AbortSignal,
): Promise<string | undefined> {
  let seen = 0;
  const lines = splitter((text) => {
    if (seen++ >= skip) onLine(text);
  });
  const controller = new AbortController();
  const stop = () => controller.abort();
  signal.addEventListener('abort', stop, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, LOG_READ_TIMEOUT_MS);
  const why = (e: unknown) =>
    signal.aborted
      ? 'the service is stopping'
      : timedOut
        ? `the log was not read within ${LOG_READ_TIMEOUT_MS / 1000}s`
        : apiMessage(e);
  try {
    let res: IncomingMessage;
    try {
      res = await api.podLog(at.namespace, at.pod, at.container, false, controller.signal, LOG_OPEN_TIMEOUT_MS);
    } catch (e) {
      return why(e);
    }
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => lines.write('stdout', chunk));
    const problem = await new Promise<string | undefined>((resolve) => {
      res.once('end', () => resolve(res.complete ? undefined : 'the log was cut short'));
      res.once('error', (e) => resolve(why(e)));
    });
    if (problem === undefined) lines.end();
    return problem;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
    controller.abort();
  }
}
