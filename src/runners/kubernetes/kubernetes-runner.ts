import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { errorMessage } from '../../errors.js';
import type { TaskSpec } from '../../render/task-spec.js';
import type { Runner, ShutdownBehaviour, TaskContext, TaskResult } from '../runner.js';
import { TaskLog } from '../task-log.js';
import {
  containerEnd,
  containerStopped,
  deletesJob,
  describeEnding,
  explainingEvents,
  jobEnding,
  logSources,
  podsSettled,
  streamablePod,
  type TaskEnding,
} from './job-ending.js';
import { CONTAINER_NAME, LABEL, buildJob, type JobDefaults, type JobManifests } from './job-spec.js';
import { JobWatcher, type JobFollow } from './job-watcher.js';
import { apiMessage, apiStatus, type KubeApi } from './kube-client.js';
import { runKey } from './naming.js';
import { LIVE_LOG_AFTER_MS, LiveLog, readContainerLog, type Streamed } from './pod-logs.js';

export interface KubernetesRunnerOptions {
  readonly api: KubeApi;
  readonly defaults: JobDefaults;
  /** Delete a Job that ran past its deadline (background propagation), or keep it for inspection. */
  readonly deleteOnTimeout: boolean;
  /** Bytes of the task's output kept for its answer. */
  readonly maxLogBytes: number;
  readonly logger: Logger;
  /** Counts failed Kubernetes API calls (metrics): the operation and the error. */
  readonly onApiError?: (operation: string, e: unknown) => void;
  /** A Job of this event now exists (made or adopted) in `namespace`: the run claims take it as proof of `.started`. */
  readonly onJob?: (event: TaskContext['event'], namespace: string) => void;
}

/** The service's own limit past the Job's deadline, for a Job that does not stop by itself. */
const BACKSTOP_GRACE_S = 60;
/** After Complete/Failed, how long the pod watch may lag behind the Job watch before the pods are listed. */
const SETTLE_MS = 5000;
/** While the pods are not watched (RBAC without `watch`, or the watch is down): how often they are listed. */
const POLL_MIN_MS = 2000;
const POLL_MAX_MS = 30_000;

interface JobRef {
  readonly namespace: string;
  readonly name: string;
}

interface EndContext {
  readonly task: TaskSpec;
  readonly ctx: TaskContext;
  readonly ref: JobRef;
  readonly follow: JobFollow;
  readonly log: TaskLog;
  /** What the live stream passed on. */
  readonly streamed: Streamed;
}

/** The pod whose task container was last seen running, and since when. */
interface Running {
  pod: string | undefined;
  since: number;
}

/**
 * Starts the live log once the running pod has run for LIVE_LOG_AFTER_MS; returns when to look again for
 * that (Infinity: no need).
 */
function liveLogWake(running: Running, pod: string | undefined, live: LiveLog): number {
  if (!pod) return Number.POSITIVE_INFINITY;
  if (running.pod !== pod) {
    running.pod = pod;
    running.since = Date.now();
  }
  const at = running.since + LIVE_LOG_AFTER_MS;
  if (Date.now() >= at) live.start(pod);
  return live.startable ? Math.max(at, Date.now()) : Number.POSITIVE_INFINITY;
}

const detached = (log: TaskLog): TaskResult => ({
  outcome: 'detached',
  reason: 'the service stopped while the task ran',
  ...log.result(),
});

/**
 * Tasks as Kubernetes Jobs: create (or adopt the Job of the same name: redelivery, restart, a second replica),
 * follow it through the namespace's shared Job and pod watches until `jobEnding` says it ended, stream its log
 * while it runs, read the rest at the end, and answer with the reason (and the events that explain a failure).
 * The termination message is `$KEPTN_OUTPUT`. The runner's own notes go to `onNote`, never into the logs.
 * When the service stops, Jobs are let go (`detach`), not stopped: whoever takes the run over adopts them.
 */
export class KubernetesRunner implements Runner {
  readonly name = 'kubernetes';
  readonly onShutdown: ShutdownBehaviour = 'detach';
  readonly watcher: JobWatcher;

  constructor(private readonly options: KubernetesRunnerOptions) {
    this.watcher = new JobWatcher(
      options.api,
      `${LABEL.managedBy}=${options.defaults.managedBy}`,
      options.logger,
      (op, e) => options.onApiError?.(op, e),
    );
  }

  private apiError(operation: string, e: unknown, signal?: AbortSignal): void {
    // A call cut short because the service stops is not an API error.
    if (!signal?.aborted) this.options.onApiError?.(operation, e);
  }

  async run(task: TaskSpec, ctx: TaskContext): Promise<TaskResult> {
    const log = new TaskLog({ maxBytes: this.options.maxLogBytes, onLine: ctx.onLog });
    let manifests: JobManifests;
    try {
      manifests = buildJob({
        task,
        event: ctx.event,
        configHash: ctx.configHash,
        files: ctx.files,
        defaults: this.options.defaults,
      });
    } catch (e) {
      return { outcome: 'failed', reason: errorMessage(e), logs: '' };
    }
    const started = await this.start(manifests, ctx);
    if (ctx.signal.aborted) return detached(log);
    if (typeof started === 'string') return { outcome: 'failed', reason: started, logs: '' };
    return this.follow(task, ctx, started, log);
  }

  /** Creates the Job (or adopts the one of its name made for this event) and delivers its files; a string is why not. */
  private async start(manifests: JobManifests, ctx: TaskContext): Promise<k8s.V1Job | string> {
    const made = await this.createOrAdopt(manifests.job, ctx);
    if (typeof made !== 'string') this.options.onJob?.(ctx.event, made.metadata?.namespace as string);
    if (typeof made === 'string' || manifests.configMaps.length === 0) return made;
    return this.deliverFiles(made, manifests.configMaps, ctx);
  }

  private async createOrAdopt(job: k8s.V1Job, ctx: TaskContext): Promise<k8s.V1Job | string> {
    const ref: JobRef = { namespace: job.metadata?.namespace as string, name: job.metadata?.name as string };
    const { api } = this.options;
    try {
      const made = await api.createJob(ref.namespace, job, ctx.signal);
      ctx.onNote(`created Job ${ref.namespace}/${ref.name}`);
      return made;
    } catch (e) {
      if (apiStatus(e) !== 409) {
        this.apiError('create-job', e, ctx.signal);
        return `Error while creating job: ${apiMessage(e)}`;
      }
    }
    let found: k8s.V1Job;
    try {
      found = await api.readJob(ref.namespace, ref.name, ctx.signal);
    } catch (e) {
      this.apiError('read-job', e, ctx.signal);
      return `Error while adopting job ${ref.namespace}/${ref.name}: ${apiMessage(e)}`;
    }
    if (found.metadata?.labels?.[LABEL.runKey] !== runKey(ctx.event.id)) {
      return `a Job ${ref.namespace}/${ref.name} exists that was not made for event ${ctx.event.id}; not touching it`;
    }
    ctx.onNote(`adopted existing Job ${ref.namespace}/${ref.name}`);
    return found;
  }

  /** The files' ConfigMaps, owned by the Job (existing ones are kept: an adopted Job has them), then the Job let run. */
  private async deliverFiles(
    made: k8s.V1Job,
    configMaps: readonly k8s.V1ConfigMap[],
    ctx: TaskContext,
  ): Promise<k8s.V1Job | string> {
    const ref: JobRef = { namespace: made.metadata?.namespace as string, name: made.metadata?.name as string };
    const { api } = this.options;
    const owner: k8s.V1OwnerReference = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: ref.name,
      uid: made.metadata?.uid as string,
      blockOwnerDeletion: false,
    };
    try {
      for (const cm of configMaps) {
        try {
          await api.createConfigMap(
            ref.namespace,
            { ...cm, metadata: { ...cm.metadata, ownerReferences: [owner] } },
            ctx.signal,
          );
        } catch (e) {
          if (apiStatus(e) !== 409) throw e;
        }
      }
      if (!made.spec?.suspend) return made;
      return await api.patchJob(ref.namespace, ref.name, { spec: { suspend: false } }, ctx.signal);
    } catch (e) {
      this.apiError('deliver-files', e, ctx.signal);
      if (ctx.signal.aborted) return made;
      await this.deleteJob(ref);
      return `Error while delivering files to job ${ref.namespace}/${ref.name}: ${apiMessage(e)}`;
    }
  }

  /** Follows the Job to its end and reads that end; with the service stopping, lets it go instead. */
  private async follow(task: TaskSpec, ctx: TaskContext, mine: k8s.V1Job, log: TaskLog): Promise<TaskResult> {
    const ref: JobRef = { namespace: mine.metadata?.namespace as string, name: mine.metadata?.name as string };
    const follow = this.watcher.follow(ref.namespace, ref.name, mine);
    const live = new LiveLog(this.options.api, ref.namespace, log, ctx.onNote, (pod) =>
      containerStopped(follow.pods(), pod),
    );
    let ending: TaskEnding | undefined;
    let streamed: Streamed;
    try {
      try {
        ending = await this.ending(task, ctx, mine, follow, live);
      } finally {
        // The live stream stops either way; a detached Job's adopter reads its log again.
        streamed = live.stop();
      }
      if (!ending || ctx.signal.aborted) return this.detach(ref, ctx, log);
      return await this.end(ending, { task, ctx, ref, follow, log, streamed });
    } catch (e) {
      // Whatever goes wrong while reading a Job's end, the task gets an answer.
      return {
        outcome: 'failed',
        reason: `could not read the end of Job ${ref.namespace}/${ref.name}: ${errorMessage(e)}`,
        ...log.result(),
      };
    } finally {
      follow.close();
    }
  }

  /**
   * The follow loop, flat: look at the Job and its pods, stop at the first ending (`jobEnding`, or the service's
   * backstop past the deadline), start the live log once a pod has run for LIVE_LOG_AFTER_MS, wait for the next
   * change. Undefined when the service stops first.
   */
  private async ending(
    task: TaskSpec,
    ctx: TaskContext,
    mine: k8s.V1Job,
    follow: JobFollow,
    live: LiveLog,
  ): Promise<TaskEnding | undefined> {
    const ref: JobRef = { namespace: mine.metadata?.namespace as string, name: mine.metadata?.name as string };
    const backstopAt = Date.now() + (task.maxPollDuration + BACKSTOP_GRACE_S) * 1000;
    const poll = { at: Date.now() + POLL_MIN_MS, every: POLL_MIN_MS, pods: [] as k8s.V1Pod[] };
    const running: Running = { pod: undefined, since: 0 };
    while (!ctx.signal.aborted) {
      const seen = follow.snapshot();
      if (!seen.podsLive && !live.active && Date.now() >= poll.at) {
        // Without a pod watch the pods are listed now and then, until the log streams (stuck containers show then).
        poll.pods = await this.listPods(ref, ctx.signal);
        poll.every = Math.min(poll.every * 2, POLL_MAX_MS);
        poll.at = Date.now() + poll.every;
      }
      const pods = seen.podsLive ? seen.pods : poll.pods;
      const ending = jobEnding({ job: seen.job, gone: seen.gone, pods, uid: mine.metadata?.uid });
      if (ending) return ending;
      if (Date.now() >= backstopAt) return { kind: 'backstop' };
      const liveWake = liveLogWake(running, streamablePod(pods), live);
      const wakeAt = Math.min(seen.podsLive || live.active ? backstopAt : Math.min(backstopAt, poll.at), liveWake);
      await follow.changed(ctx.signal, wakeAt - Date.now());
    }
    return undefined;
  }

  private detach(ref: JobRef, ctx: TaskContext, log: TaskLog): TaskResult {
    ctx.onNote(
      `the service is stopping; Job ${ref.namespace}/${ref.name} keeps running and is adopted after a restart`,
    );
    return detached(log);
  }

  /** The Job ended: its pods' final state, the log, the events that explain a failure, and the answer. */
  private async end(ending: TaskEnding, c: EndContext): Promise<TaskResult> {
    const { ctx, ref, log } = c;
    const pods = await this.finalPods(ending, c.follow, ref, ctx.signal);
    const container = containerEnd(pods);
    const failed = ending.kind !== 'complete';
    await this.readLogs(pods, failed, c);
    const events = failed ? await this.events(ref, pods, ctx.signal) : [];
    for (const e of events) ctx.onNote(e);
    const deleted = this.options.deleteOnTimeout && deletesJob(ending);
    if (deleted) await this.deleteJob(ref);
    if (ctx.signal.aborted) return this.detach(ref, ctx, log);
    const { outcome, reason } = describeEnding(ending, {
      job: `${ref.namespace}/${ref.name}`,
      maxPollDuration: c.task.maxPollDuration,
      deleted,
      container,
      events,
    });
    if (ending.kind !== 'complete' && ending.kind !== 'failed')
      ctx.onNote(`Job ${ref.namespace}/${ref.name}: ${reason?.split('\n')[0] ?? ending.kind}`);
    const exitCode = container.exitCode ?? (ending.kind === 'complete' ? 0 : undefined);
    return {
      outcome,
      ...(reason ? { reason } : {}),
      ...(exitCode !== undefined ? { exitCode } : {}),
      ...log.result(),
      ...(container.output ? { output: container.output } : {}),
    };
  }

  /**
   * The containers' logs, whole, into the task's log (one read each); what the live stream passed on already is
   * skipped, and a stream that ended by itself had it all.
   */
  private async readLogs(pods: readonly k8s.V1Pod[], failed: boolean, c: EndContext): Promise<void> {
    const { ctx, ref, log, streamed } = c;
    for (const source of logSources(pods, failed)) {
      const streamedHere = source.container === CONTAINER_NAME && source.pod === streamed.pod;
      if (streamedHere && streamed.whole) continue;
      if (source.container !== CONTAINER_NAME)
        log.writeLine('stdout', `Container ${source.container} of pod ${source.pod}:`);
      const skip = streamedHere ? streamed.lines : 0;
      const problem = await readContainerLog(
        this.options.api,
        { namespace: ref.namespace, ...source },
        skip,
        (text) => log.writeLine('stdout', text),
        ctx.signal,
      );
      if (problem)
        ctx.onNote(`could not read the log of container ${source.container} of pod ${source.pod}: ${problem}`);
    }
  }

  /**
   * The pods as they ended. The pod watch may lag a moment behind the Job watch, so after Complete/Failed it is
   * given SETTLE_MS for the pods to show as stopped; without a live pod watch (or still not settled), they are listed.
   */
  private async finalPods(
    ending: TaskEnding,
    follow: JobFollow,
    ref: JobRef,
    signal: AbortSignal,
  ): Promise<k8s.V1Pod[]> {
    const until = Date.now() + SETTLE_MS;
    const waits = ending.kind === 'complete' || ending.kind === 'failed';
    for (;;) {
      const seen = follow.snapshot();
      if (!seen.podsLive) break;
      if (!waits || podsSettled(seen.pods)) return seen.pods;
      if (Date.now() >= until || signal.aborted) break;
      await follow.changed(signal, until - Date.now());
    }
    return this.listPods(ref, signal);
  }

  private async listPods(ref: JobRef, signal: AbortSignal): Promise<k8s.V1Pod[]> {
    try {
      const list = await this.options.api.listPods(
        ref.namespace,
        { labelSelector: `batch.kubernetes.io/job-name=${ref.name}` },
        signal,
      );
      return list.items ?? [];
    } catch (e) {
      this.apiError('list-pods', e, signal);
      return [];
    }
  }

  /** Kubernetes events about the Job and its pods that explain a failure (warnings and `Failed*` reasons). */
  private async events(ref: JobRef, pods: readonly k8s.V1Pod[], signal: AbortSignal): Promise<string[]> {
    const found: Array<{ object: string; event: k8s.CoreV1Event }> = [];
    for (const object of [ref.name, ...pods.map((p) => p.metadata?.name as string)]) {
      try {
        const list = await this.options.api.listEvents(
          ref.namespace,
          { fieldSelector: `involvedObject.name=${object}`, limit: 100 },
          signal,
        );
        for (const event of list.items ?? []) found.push({ object, event });
      } catch (e) {
        this.apiError('list-events', e, signal);
      }
    }
    return explainingEvents(found);
  }

  private async deleteJob(ref: JobRef): Promise<void> {
    try {
      await this.options.api.deleteJob(ref.namespace, ref.name);
    } catch (e) {
      if (apiStatus(e) !== 404) {
        this.apiError('delete-job', e);
        this.options.logger.warn(
          { namespace: ref.namespace, job: ref.name, err: apiMessage(e) },
          'could not delete Job',
        );
      }
    }
  }

  async close(): Promise<void> {
    this.watcher.close();
  }
}
