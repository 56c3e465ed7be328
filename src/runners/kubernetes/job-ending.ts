import type { CoreV1Event, V1ContainerStatus, V1Job, V1Pod } from '@kubernetes/client-node';
import { isPlainObject } from '../../util/objects.js';
import type { TaskOutcome } from '../runner.js';
import { CONTAINER_NAME } from './job-spec.js';

/**
 * How a task's Job ended, read from the Job and its pods as the watches last saw them (pure: no I/O, no clock).
 * The runner's follow loop asks `jobEnding` after every change and stops at the first answer.
 */

/** Waiting reasons that mean the container will not start by itself (JES users waited for the timeout: #125). */
export const STUCK_REASONS: readonly string[] = [
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'ImagePullBackOff',
  'ErrImageNeverPull',
];

export interface JobState {
  /** The Job as last seen (its last state when it was deleted); undefined until it is seen at all. */
  readonly job: V1Job | undefined;
  /** The Job was deleted after it was seen (a delete event, or a fresh list no longer had it). */
  readonly gone: boolean;
  /** Its pods as last seen. */
  readonly pods: readonly V1Pod[];
  /** The uid of the Job this task created or adopted: another Job of the same name is not this task's. */
  readonly uid: string | undefined;
}

export type JobEnding =
  | { readonly kind: 'complete' }
  /** The Job's Failed condition (not the deadline): its reason and message. */
  | { readonly kind: 'failed'; readonly reason: string }
  /** Failed with DeadlineExceeded: `activeDeadlineSeconds` (the task's maxPollDuration) ran out. */
  | { readonly kind: 'deadline'; readonly reason: string }
  /** A container waits for something that will not come by itself (a bad image, a missing Secret). */
  | { readonly kind: 'stuck'; readonly reason: string }
  /** The Job was deleted, or replaced by another of the same name, before it finished. */
  | { readonly kind: 'deleted'; readonly reason: string };

/** Endings the Job itself does not show: the service's own backstop after the deadline. */
export type TaskEnding = JobEnding | { readonly kind: 'backstop' };

const conditionTrue = (job: V1Job, type: string) =>
  job.status?.conditions?.find((c) => c.type === type && c.status === 'True');

const podTerminal = (pod: V1Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

const statusesOf = (pod: V1Pod): V1ContainerStatus[] => [
  ...(pod.status?.initContainerStatuses ?? []),
  ...(pod.status?.containerStatuses ?? []),
];

function jobName(job: V1Job | undefined): string {
  return `${job?.metadata?.namespace ?? '?'}/${job?.metadata?.name ?? '?'}`;
}

/** The first container of a live pod that waits for a reason that never clears by itself. */
export function stuckContainer(pods: readonly V1Pod[]): string | undefined {
  for (const pod of pods) {
    if (podTerminal(pod) || pod.metadata?.deletionTimestamp) continue;
    for (const s of statusesOf(pod)) {
      const waiting = s.state?.waiting;
      if (waiting?.reason && STUCK_REASONS.includes(waiting.reason)) {
        return `container ${s.name} of pod ${pod.metadata?.name ?? '?'} cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
      }
    }
  }
  return undefined;
}

/**
 * The ending the Job has reached, or undefined while it runs. Its conditions come first: a Job that completed
 * and was deleted right after still completed. `Complete`/`Failed` (not `SuccessCriteriaMet`/`FailureTarget`)
 * are final: the Job controller sets them once its pods have stopped, so their end can be read.
 */
export function jobEnding(state: JobState): JobEnding | undefined {
  const { job } = state;
  if (replaced(job, state.uid)) {
    return {
      kind: 'deleted',
      reason: `Job ${jobName(job)} was replaced by another Job of the same name before it finished`,
    };
  }
  const final = job ? conditionEnding(job) : undefined;
  if (final) return final;
  if (state.gone) return { kind: 'deleted', reason: `Job ${jobName(job)} was deleted before it finished` };
  if (job?.metadata?.deletionTimestamp)
    return { kind: 'deleted', reason: `Job ${jobName(job)} is being deleted before it finished` };
  const stuck = stuckContainer(state.pods);
  return stuck ? { kind: 'stuck', reason: stuck } : undefined;
}

/** The Job seen is another one than this task's (both uids known, and different). */
function replaced(job: V1Job | undefined, uid: string | undefined): boolean {
  const seen = job?.metadata?.uid;
  return Boolean(uid && seen && seen !== uid);
}

/** Complete, or Failed (the deadline apart), from the Job's conditions. */
function conditionEnding(job: V1Job): JobEnding | undefined {
  if (conditionTrue(job, 'Complete')) return { kind: 'complete' };
  const failed = conditionTrue(job, 'Failed');
  if (!failed) return undefined;
  const reason = `${failed.reason ?? 'Failed'}: ${failed.message ?? ''}`.trim();
  return failed.reason === 'DeadlineExceeded' ? { kind: 'deadline', reason } : { kind: 'failed', reason };
}

/** Code-unit order: the same everywhere (localeCompare depends on the locale, and its ICU data costs resident memory). */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const byCreation = (a: V1Pod, b: V1Pod) =>
  new Date(a.metadata?.creationTimestamp ?? 0).getTime() - new Date(b.metadata?.creationTimestamp ?? 0).getTime() ||
  compareText(a.metadata?.name ?? '', b.metadata?.name ?? '');

/** The pods, oldest first (the order their logs are shown in). */
export function podsInOrder(pods: readonly V1Pod[]): V1Pod[] {
  return [...pods].sort(byCreation);
}

/** The pod whose task container runs now: the one to stream the log of. */
export function streamablePod(pods: readonly V1Pod[]): string | undefined {
  const pod = podsInOrder(pods).find(
    (p) =>
      p.status?.phase === 'Running' &&
      !p.metadata?.deletionTimestamp &&
      p.status.containerStatuses?.some((s) => s.name === CONTAINER_NAME && s.state?.running),
  );
  return pod?.metadata?.name;
}

/** The task container of pod `name` has stopped (or the whole pod has). */
export function containerStopped(pods: readonly V1Pod[], name: string): boolean {
  const pod = pods.find((p) => p.metadata?.name === name);
  if (!pod) return false;
  return (
    podTerminal(pod) ||
    Boolean(pod.status?.containerStatuses?.find((s) => s.name === CONTAINER_NAME)?.state?.terminated)
  );
}

/** Every pod has stopped (its end, exit code and termination message, can be read). */
export function podsSettled(pods: readonly V1Pod[]): boolean {
  return pods.length > 0 && pods.every(podTerminal);
}

export interface ContainerEnd {
  readonly exitCode?: number;
  /** Why the task container ended badly: its exit code, reason and message. */
  readonly terminated?: string;
  /** `$KEPTN_OUTPUT`: the termination message when it is a JSON object. */
  readonly output?: Record<string, unknown>;
}

/** `$KEPTN_OUTPUT`: a termination message that is a JSON object (anything else is just a message). */
function outputOf(message: string | undefined): Record<string, unknown> | undefined {
  if (!message) return undefined;
  try {
    const value: unknown = JSON.parse(message);
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The end of the task container, from the newest pod where it terminated. */
export function containerEnd(pods: readonly V1Pod[]): ContainerEnd {
  for (const pod of podsInOrder(pods).reverse()) {
    const t = pod.status?.containerStatuses?.find((s) => s.name === CONTAINER_NAME)?.state?.terminated;
    if (!t) continue;
    const bad = t.exitCode !== 0 || (t.reason !== undefined && t.reason !== 'Completed');
    const output = outputOf(t.message);
    const why = `(Reason: ${t.reason ?? 'unknown'}${t.message ? `, Message: ${t.message}` : ''})`;
    return {
      exitCode: t.exitCode,
      ...(bad
        ? {
            terminated: `container ${CONTAINER_NAME} of pod ${pod.metadata?.name ?? '?'} exit code ${t.exitCode} ${why}`,
          }
        : {}),
      ...(output ? { output } : {}),
    };
  }
  return {};
}

/** The containers whose logs make up the task's output: the task container, and on failure the init containers that ran. */
export function logSources(pods: readonly V1Pod[], failed: boolean): Array<{ pod: string; container: string }> {
  const out: Array<{ pod: string; container: string }> = [];
  for (const pod of podsInOrder(pods)) {
    const name = pod.metadata?.name;
    if (!name) continue;
    const statuses = [
      ...(failed ? (pod.status?.initContainerStatuses ?? []) : []),
      ...(pod.status?.containerStatuses ?? []),
    ];
    for (const s of statuses) {
      if (s.name === CONTAINER_NAME || s.state?.terminated) out.push({ pod: name, container: s.name });
    }
  }
  return out;
}

export interface EndingContext {
  /** `namespace/name` of the Job. */
  readonly job: string;
  readonly maxPollDuration: number;
  /** Whether a Job that ran out of time (or cannot start) was deleted. */
  readonly deleted: boolean;
  readonly container: ContainerEnd;
  /** Kubernetes events that explain the failure, already capped. */
  readonly events: readonly string[];
}

/** The task's outcome and the reason a user reads in the answer. */
export function describeEnding(ending: TaskEnding, c: EndingContext): { outcome: TaskOutcome; reason?: string } {
  if (ending.kind === 'complete') return { outcome: 'succeeded' };
  const kept = c.deleted ? '; the Job was deleted' : '; the Job was kept';
  let outcome: TaskOutcome = 'failed';
  let reason: string;
  switch (ending.kind) {
    case 'deadline':
      outcome = 'timeout';
      reason = `task exceeded maxPollDuration of ${c.maxPollDuration}s (the Job's activeDeadlineSeconds)${kept}`;
      break;
    case 'backstop':
      outcome = 'timeout';
      reason = `task exceeded maxPollDuration of ${c.maxPollDuration}s and the Job did not stop by itself${kept}`;
      break;
    case 'stuck':
      reason = `${ending.reason}${kept}`;
      break;
    case 'deleted':
      reason = ending.reason;
      break;
    case 'failed':
      reason = `job ${c.job} failed. ${c.container.terminated ?? ending.reason}`.trim();
      break;
  }
  return { outcome, reason: [reason, ...c.events].join('\n') };
}

/** Endings after which the Job is deleted when the service is set to (DELETE_ON_TIMEOUT): it would only hold on. */
export function deletesJob(ending: TaskEnding): boolean {
  return ending.kind === 'deadline' || ending.kind === 'backstop' || ending.kind === 'stuck';
}

/** At most this many events go into a failure's reason, each cut to EVENT_MESSAGE_CHARS: the message stays readable. */
export const MAX_EVENTS = 10;
export const EVENT_MESSAGE_CHARS = 300;

/** The events that explain a failure (warnings and `Failed*` reasons), one line each, oldest first, capped. */
export function explainingEvents(
  events: ReadonlyArray<{ readonly object: string; readonly event: CoreV1Event }>,
): string[] {
  const time = (e: CoreV1Event) => new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0).getTime();
  const lines = events
    .filter(({ event: e }) => e.type === 'Warning' || e.reason?.startsWith('Failed'))
    .sort((a, b) => time(a.event) - time(b.event))
    .map(({ object, event: e }) => {
      const message = (e.message ?? '').replace(/\s+/g, ' ').trim();
      const cut = message.length > EVENT_MESSAGE_CHARS ? `${message.slice(0, EVENT_MESSAGE_CHARS)}…` : message;
      return `Kubernetes event on ${object}: ${e.reason ?? ''}: ${cut}`;
    });
  const unique = [...new Set(lines)];
  return unique.length > MAX_EVENTS
    ? [`(${unique.length - MAX_EVENTS} earlier Kubernetes events not shown)`, ...unique.slice(-MAX_EVENTS)]
    : unique;
}
