import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { TaskLog } from '../task-log.js';
import { CONTAINER_NAME } from './job-spec.js';
import { apiMessage } from './kube-client.js';

/** How long opening a log stream may take (client-node's Log has no timeout of its own). */
export const LOG_OPEN_TIMEOUT_MS = 30_000;
/** How long reading one container's whole log at the end may take. */
export const LOG_READ_TIMEOUT_MS = 60_000;

/**
 * A TaskLog used only to cut a stream into lines (its own tail is never read): the same line rules, long-line
 * pieces included, for the live stream and the read at the end, so their line counts agree.
 */
function splitter(onLine: (text: string) => void): TaskLog {
  return new TaskLog({ maxBytes: 1, onLine: (l) => onLine(l.text) });
}

/** Opens a pods/log request, giving up after `timeoutMs` (a request that answers later is aborted then). */
async function openLog(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, out: PassThrough, follow: boolean, timeoutMs: number): Promise<AbortController> {
  const pending = new k8s.Log(kc).log(namespace, pod, container, out, { follow });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000}s`)), timeoutMs);
  });
  try {
    return await Promise.race([pending, timeout]);
  } catch (e) {
    pending.then((c) => c.abort(), () => undefined);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The task container's log while it runs, streamed into the task's log as it comes (the run store and live
 * views see it before the Job ends). Counts the lines it passed on, so the read at the end skips them.
 */
export class LiveLog {
  private pod: string | undefined;
  private request: AbortController | undefined;
  private stopped = false;
  private attempts = 0;
  private passed = 0;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly namespace: string,
    private readonly log: TaskLog,
    private readonly onNote: (text: string) => void,
  ) {}

  /** Whether a stream is open or being opened (no other is started then). */
  get active(): boolean {
    return this.pod !== undefined;
  }

  /** Starts streaming `pod` unless a stream is open already; a stream that could not be opened is tried 3 times. */
  start(pod: string): void {
    if (this.pod !== undefined || this.stopped || this.attempts >= 3) return;
    this.pod = pod;
    this.attempts++;
    void this.open(pod);
  }

  private async open(pod: string): Promise<void> {
    const out = new PassThrough();
    const lines = splitter((text) => {
      this.passed++;
      this.log.writeLine('stdout', text);
    });
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      if (!this.stopped) lines.write('stdout', chunk);
    });
    try {
      const request = await openLog(this.kc, this.namespace, pod, CONTAINER_NAME, out, true, LOG_OPEN_TIMEOUT_MS);
      if (this.stopped) request.abort();
      else this.request = request;
    } catch (e) {
      // Not streamable yet (or at all): the whole log is read at the end anyway.
      if (this.attempts >= 3) this.onNote(`could not stream the log of pod ${pod} (${apiMessage(e)}); it is read when the Job ends`);
      this.pod = undefined;
    }
  }

  /** Stops the stream: what it passed on stays; the pod it streamed and the number of lines it passed. */
  stop(): { pod: string | undefined; lines: number } {
    this.stopped = true;
    this.request?.abort();
    return { pod: this.pod, lines: this.passed };
  }
}

/**
 * Reads one container's whole log (as a stream: memory stays bounded by the task's log tail, however long the
 * log) and passes each line after the first `skip` to `onLine`. Resolves with an error text instead of throwing.
 */
export async function readContainerLog(
  kc: k8s.KubeConfig,
  at: { namespace: string; pod: string; container: string },
  skip: number,
  onLine: (text: string) => void,
  signal: AbortSignal,
): Promise<string | undefined> {
  const out = new PassThrough();
  let seen = 0;
  const lines = splitter((text) => {
    if (seen++ >= skip) onLine(text);
  });
  out.setEncoding('utf8');
  out.on('data', (chunk: string) => lines.write('stdout', chunk));
  const ended = new Promise<void>((resolve) => out.once('end', () => resolve()));
  let request: AbortController;
  try {
    request = await openLog(kc, at.namespace, at.pod, at.container, out, false, LOG_OPEN_TIMEOUT_MS);
  } catch (e) {
    return apiMessage(e);
  }
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  // A body that breaks off never ends the stream it is piped into: the timeout and the signal end the wait.
  const stopped = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the log was not read within ${LOG_READ_TIMEOUT_MS / 1000}s`), LOG_READ_TIMEOUT_MS);
    onAbort = () => resolve('the service is stopping');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const problem = await Promise.race([ended.then(() => undefined), stopped]);
    if (problem === undefined) lines.end();
    return problem;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
    request.abort();
  }
}
