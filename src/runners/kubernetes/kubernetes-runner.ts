import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TaskFile } from '../../config/source.js';
import { errorMessage } from '../../errors.js';
import type { TaskSpec } from '../../render/task-spec.js';
import { isPlainObject } from '../../util/objects.js';
import { TailBuffer } from '../../util/tail-buffer.js';
import type { LogStream, Runner, TaskContext, TaskResult } from '../runner.js';
import { CONTAINER_NAME, LABEL, buildJob, type JobDefaults } from './job-spec.js';
import { JobWatcher } from './job-watcher.js';
import { apiMessage, apiStatus, mergePatch, type KubeClients } from './kube-client.js';
import { runKey } from './naming.js';

export interface KubernetesRunnerOptions {
  readonly clients: KubeClients;
  readonly defaults: JobDefaults;
  /** Delete a Job that ran past its deadline (background propagation), or keep it for inspection. */
  readonly deleteOnTimeout: boolean;
  readonly maxLogBytes: number;
  readonly logger: Logger;
  /** Counts failed Kubernetes API calls (metrics): the operation and the error. */
  readonly onApiError?: (operation: string, e: unknown) => void;
}

/** Waiting reasons that mean the container will not start by itself (JES users waited for the timeout: #125). */
const STUCK = ['CreateContainerConfigError', 'CreateContainerError', 'InvalidImageName', 'ImagePullBackOff', 'ErrImageNeverPull'];

/**
 * Tasks as Kubernetes Jobs: create (or adopt the Job of the same name: redelivery, restart, a second replica),
 * follow it through one shared watch, stream its log while it runs, read everything at the end, and answer
 * with the reason, the relevant events and the logs when it failed. The termination message is `$KEPTN_OUTPUT`.
 * When the service shuts down the runner lets go of its Jobs instead of stopping them: a restarted service
 * adopts them and answers.
 */
export class KubernetesRunner implements Runner {
  readonly name = 'kubernetes';
  readonly watcher: JobWatcher;

  constructor(private readonly options: KubernetesRunnerOptions) {
    this.watcher = new JobWatcher(
      options.clients,
      `${LABEL.managedBy}=${options.defaults.managedBy}`,
      options.logger,
      (op, e) => options.onApiError?.(op, e),
    );
  }

  private apiError(operation: string, e: unknown): void {
    this.options.onApiError?.(operation, e);
  }

  async run(task: TaskSpec, ctx: TaskContext): Promise<TaskResult> {
    const log = new TailBuffer(this.options.maxLogBytes);
    const emit = (stream: LogStream, text: string) => {
      log.push(`${text}\n`);
      ctx.onLog({ stream, text, time: Date.now() });
    };
    const fail = (reason: string): TaskResult => {
      emit('system', reason);
      return { outcome: 'failed', reason, logs: log.text() };
    };

    const files: TaskFile[] = [];
    for (const entry of task.files) {
      try {
        files.push(...(await ctx.files.read(entry, ctx.signal)));
      } catch (e) {
        return fail(`could not find file or directory ${entry} for task ${task.name}: ${errorMessage(e)}`);
      }
    }
    let manifests;
    try {
      manifests = buildJob({ task, event: ctx.event, configHash: ctx.configHash, files, defaults: this.options.defaults });
    } catch (e) {
      return fail(errorMessage(e));
    }
    const { job, configMaps } = manifests;
    const namespace = job.metadata?.namespace as string;
    const name = job.metadata?.name as string;
    const { batch, core } = this.options.clients;

    let created: k8s.V1Job;
    try {
      created = await batch.createNamespacedJob({ namespace, body: job });
      emit('system', `created Job ${namespace}/${name}`);
    } catch (e) {
      if (apiStatus(e) !== 409) {
        this.apiError('create-job', e);
        return fail(`Error while creating job: ${apiMessage(e)}`);
      }
      try {
        created = await batch.readNamespacedJob({ name, namespace });
      } catch (e2) {
        this.apiError('read-job', e2);
        return fail(`Error while adopting job ${namespace}/${name}: ${apiMessage(e2)}`);
      }
      if (created.metadata?.labels?.[LABEL.runKey] !== runKey(ctx.event.id)) {
        return fail(`a Job ${namespace}/${name} exists that was not made for event ${ctx.event.id}; not touching it`);
      }
      emit('system', `adopted existing Job ${namespace}/${name}`);
    }

    if (configMaps.length > 0) {
      const owner: k8s.V1OwnerReference = { apiVersion: 'batch/v1', kind: 'Job', name, uid: created.metadata?.uid as string, blockOwnerDeletion: false };
      try {
        for (const cm of configMaps) {
          try {
            await core.createNamespacedConfigMap({ namespace, body: { ...cm, metadata: { ...cm.metadata, ownerReferences: [owner] } } });
          } catch (e) {
            if (apiStatus(e) !== 409) throw e;
          }
        }
        if (created.spec?.suspend) {
          created = await batch.patchNamespacedJob({ name, namespace, body: { spec: { suspend: false } } }, mergePatch);
        }
      } catch (e) {
        this.apiError('deliver-files', e);
        await this.deleteJob(namespace, name);
        return fail(`Error while delivering files to job ${namespace}/${name}: ${apiMessage(e)}`);
      }
    }
    return this.follow(task, ctx, namespace, name, log, emit);
  }

  private follow(
    task: TaskSpec,
    ctx: TaskContext,
    namespace: string,
    name: string,
    log: TailBuffer,
    emit: (stream: LogStream, text: string) => void,
  ): Promise<TaskResult> {
    return new Promise<TaskResult>((resolve) => {
      let done = false;
      let streamed = 0;
      let logRequest: AbortController | undefined;
      let stuckTimer: NodeJS.Timeout | undefined;
      let stuckDelay = 5000;
      // The Job's own activeDeadlineSeconds stops it in the cluster; this is the service's backstop.
      const backstop = setTimeout(() => void finish('timeout-backstop'), (task.maxPollDuration + 60) * 1000);

      const startLogs = async (podName: string) => {
        if (logRequest || done) return;
        const out = new PassThrough();
        let pending = '';
        out.setEncoding('utf8');
        out.on('data', (chunk: string) => {
          const lines = (pending + chunk).split('\n');
          pending = lines.pop() ?? '';
          for (const l of lines) {
            streamed++;
            ctx.onLog({ stream: 'stdout', text: l, time: Date.now() });
          }
        });
        try {
          logRequest = await new k8s.Log(this.options.clients.kc).log(namespace, podName, CONTAINER_NAME, out, { follow: true });
          if (done) logRequest.abort();
        } catch {
          // Not streamable yet (or at all): the whole log is read at the end anyway.
          logRequest = undefined;
        }
      };

      const checkStuck = async () => {
        stuckTimer = undefined;
        if (done) return;
        const pods = await this.pods(namespace, name);
        for (const pod of pods) {
          for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
            const waiting = s.state?.waiting;
            if (waiting?.reason && STUCK.includes(waiting.reason)) {
              void finish('stuck', `container ${s.name} of pod ${pod.metadata?.name} cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
              return;
            }
          }
        }
        stuckDelay = Math.min(stuckDelay * 2, 60_000);
        stuckTimer = setTimeout(() => void checkStuck(), stuckDelay);
      };

      const onAbort = () => void finish('detached');
      ctx.signal.addEventListener('abort', onAbort, { once: true });

      const unsubscribe = this.watcher.follow(namespace, name, (job) => {
        if (done) return;
        if (!job) {
          void finish('deleted');
          return;
        }
        const conditions = job.status?.conditions ?? [];
        const complete = conditions.find((c) => c.type === 'Complete' && c.status === 'True');
        const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
        if (complete) return void finish('complete');
        if (failed) return void finish(failed.reason === 'DeadlineExceeded' ? 'deadline' : 'failed', `${failed.reason ?? 'Failed'}: ${failed.message ?? ''}`);
        if ((job.status?.ready ?? 0) > 0 && !logRequest) {
          void this.pods(namespace, name).then((pods) => {
            const running = pods.find((p) => p.status?.phase === 'Running');
            if (running?.metadata?.name) void startLogs(running.metadata.name);
          });
        }
        if ((job.status?.active ?? 0) > 0 && (job.status?.ready ?? 0) === 0 && !stuckTimer) {
          stuckTimer = setTimeout(() => void checkStuck(), stuckDelay);
        }
      });

      type Ending = 'complete' | 'failed' | 'deadline' | 'timeout-backstop' | 'deleted' | 'stuck' | 'detached';
      // Whatever goes wrong while reading the end of a Job, the task gets an answer and the promise settles.
      const finish = (how: Ending, detail?: string): Promise<void> =>
        end(how, detail).catch((e: unknown) => {
          resolve({ outcome: 'failed', reason: `could not read the end of Job ${namespace}/${name}: ${errorMessage(e)}`, logs: log.text() });
        });
      const end = async (how: Ending, detail?: string) => {
        if (done) return;
        done = true;
        unsubscribe();
        clearTimeout(backstop);
        if (stuckTimer) clearTimeout(stuckTimer);
        ctx.signal.removeEventListener('abort', onAbort);
        logRequest?.abort();
        if (how === 'detached') {
          emit('system', `the service is stopping; Job ${namespace}/${name} keeps running and is adopted after a restart`);
          resolve({ outcome: 'detached', reason: 'the service stopped while the task ran', logs: log.text() });
          return;
        }
        const pods = await this.pods(namespace, name);
        const { text, output, terminated, exitCode } = await this.collect(namespace, pods, how !== 'complete');
        // Lines the live stream did not deliver (a task faster than the stream) go to the run store now.
        const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
        for (const l of lines.slice(streamed)) ctx.onLog({ stream: 'stdout', text: l, time: Date.now() });
        log.push(text);
        if (how === 'complete') {
          resolve({ outcome: 'succeeded', exitCode: 0, logs: log.text(), ...(output ? { output } : {}) });
          return;
        }
        const events = await this.events(namespace, name, pods);
        for (const e of events) emit('system', e);
        if (how === 'deadline' || how === 'timeout-backstop' || how === 'stuck') {
          if (this.options.deleteOnTimeout) await this.deleteJob(namespace, name);
        }
        const deleted = this.options.deleteOnTimeout ? '; the Job was deleted' : '; the Job was kept';
        const reason =
          how === 'deadline'
            ? `task exceeded maxPollDuration of ${task.maxPollDuration}s (the Job's activeDeadlineSeconds)${deleted}`
            : how === 'timeout-backstop'
              ? `task exceeded maxPollDuration of ${task.maxPollDuration}s and the Job did not stop by itself${deleted}`
              : how === 'deleted'
                ? `Job ${namespace}/${name} was deleted before it finished`
                : how === 'stuck'
                  ? `${detail ?? 'the container cannot start'}${deleted}`
                  : `job ${namespace}/${name} failed. ${terminated ?? detail ?? ''}`.trim();
        resolve({
          outcome: how === 'failed' || how === 'deleted' || how === 'stuck' ? 'failed' : 'timeout',
          reason,
          logs: log.text(),
          ...(exitCode !== undefined ? { exitCode } : {}),
          ...(output ? { output } : {}),
        });
      };
    });
  }

  private async pods(namespace: string, job: string): Promise<k8s.V1Pod[]> {
    try {
      const list = await this.options.clients.core.listNamespacedPod({ namespace, labelSelector: `batch.kubernetes.io/job-name=${job}` });
      return list.items;
    } catch (e) {
      this.apiError('list-pods', e);
      return [];
    }
  }

  /** Logs of the task container (and of init containers when the task failed), the output, and why it ended. */
  private async collect(
    namespace: string,
    pods: k8s.V1Pod[],
    failed: boolean,
  ): Promise<{ text: string; output?: Record<string, unknown>; terminated?: string; exitCode?: number }> {
    let text = '';
    let output: Record<string, unknown> | undefined;
    let terminated: string | undefined;
    let exitCode: number | undefined;
    for (const pod of pods) {
      const podName = pod.metadata?.name as string;
      const statuses = [...(failed ? (pod.status?.initContainerStatuses ?? []) : []), ...(pod.status?.containerStatuses ?? [])];
      for (const s of statuses) {
        const t = s.state?.terminated;
        if (!t && s.name !== CONTAINER_NAME) continue;
        let logs = '';
        try {
          logs = await this.options.clients.core.readNamespacedPodLog({ name: podName, namespace, container: s.name });
        } catch (e) {
          logs = `Unable to query logs of container ${s.name}: ${apiMessage(e)}\n`;
        }
        if (s.name !== CONTAINER_NAME) text += `Container ${s.name} of pod ${podName}:\n`;
        text += logs.endsWith('\n') || logs === '' ? logs : `${logs}\n`;
        if (s.name === CONTAINER_NAME && t) {
          exitCode = t.exitCode;
          if (t.exitCode !== 0 || (t.reason && t.reason !== 'Completed')) {
            terminated = `container ${s.name} of pod ${podName} exit code ${t.exitCode} (Reason: ${t.reason ?? 'unknown'}${t.message ? `, Message: ${t.message}` : ''})`;
          }
          if (t.message) {
            try {
              const value: unknown = JSON.parse(t.message);
              if (isPlainObject(value)) output = value;
            } catch {
              /* a termination message that is not JSON is just a message */
            }
          }
        }
      }
    }
    return { text, ...(output ? { output } : {}), ...(terminated ? { terminated } : {}), ...(exitCode !== undefined ? { exitCode } : {}) };
  }

  /** Kubernetes events about the Job and its pods that explain a failure (warnings and `Failed*` reasons). */
  private async events(namespace: string, job: string, pods: k8s.V1Pod[]): Promise<string[]> {
    const names = [job, ...pods.map((p) => p.metadata?.name as string)];
    const out: string[] = [];
    for (const n of names) {
      try {
        const list = await this.options.clients.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${n}` });
        for (const e of list.items) {
          if (e.type === 'Warning' || e.reason?.startsWith('Failed')) out.push(`Kubernetes event on ${n}: ${e.reason ?? ''}: ${e.message ?? ''}`);
        }
      } catch (e) {
        this.apiError('list-events', e);
      }
    }
    return out;
  }

  private async deleteJob(namespace: string, name: string): Promise<void> {
    try {
      await this.options.clients.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' });
    } catch (e) {
      if (apiStatus(e) !== 404) {
        this.apiError('delete-job', e);
        this.options.logger.warn({ namespace, job: name, err: apiMessage(e) }, 'could not delete Job');
      }
    }
  }

  async close(): Promise<void> {
    this.watcher.close();
  }
}
