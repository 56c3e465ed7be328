import type { CoreV1Event, V1ContainerStatus, V1Job, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  EVENT_MESSAGE_CHARS,
  MAX_EVENTS,
  STUCK_REASONS,
  containerEnd,
  containerStopped,
  deletesJob,
  describeEnding,
  explainingEvents,
  jobEnding,
  logSources,
  podsSettled,
  streamablePod,
  type JobState,
} from '../../src/runners/kubernetes/job-ending.js';

// Plain objects shaped as the API server sends them (only the fields the functions read).
const job = (
  conditions: Array<{ type: string; status?: string; reason?: string; message?: string }> = [],
  meta: Partial<V1Job['metadata']> = {},
): V1Job => ({
  metadata: { name: 'je-x-000-001', namespace: 'jobs', uid: 'uid-1', ...meta },
  status: { conditions: conditions.map((c) => ({ status: 'True', ...c })) },
});
const status = (name: string, state: V1ContainerStatus['state']): V1ContainerStatus => ({
  name,
  image: 'alpine',
  imageID: '',
  ready: false,
  restartCount: 0,
  state,
});
const pod = (
  name: string,
  phase: string,
  containers: V1ContainerStatus[],
  init: V1ContainerStatus[] = [],
  created = '2026-01-01T00:00:00Z',
): V1Pod => ({
  metadata: { name, creationTimestamp: new Date(created) },
  status: { phase, containerStatuses: containers, initContainerStatuses: init },
});
const state = (p: Partial<JobState>): JobState => ({ job: job(), gone: false, pods: [], uid: 'uid-1', ...p });

describe('jobEnding', () => {
  it('is undefined while the Job runs, and before it was seen at all', () => {
    expect(jobEnding(state({}))).toBeUndefined();
    expect(jobEnding(state({ job: undefined }))).toBeUndefined();
    expect(jobEnding(state({ pods: [pod('p', 'Running', [status('task', { running: {} })])] }))).toBeUndefined();
    // Not final yet: the Job controller sets these before the pods have stopped.
    expect(
      jobEnding(
        state({ job: job([{ type: 'SuccessCriteriaMet' }, { type: 'FailureTarget', reason: 'DeadlineExceeded' }]) }),
      ),
    ).toBeUndefined();
    expect(
      jobEnding(
        state({
          job: job([
            { type: 'Complete', status: 'False' },
            { type: 'Failed', status: 'False' },
          ]),
        }),
      ),
    ).toBeUndefined();
  });

  it('complete: the Complete condition', () => {
    expect(jobEnding(state({ job: job([{ type: 'SuccessCriteriaMet' }, { type: 'Complete' }]) }))).toEqual({
      kind: 'complete',
    });
  });

  it('failed: the Failed condition with its reason and message', () => {
    expect(
      jobEnding(
        state({
          job: job([
            { type: 'Failed', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' },
          ]),
        }),
      ),
    ).toEqual({
      kind: 'failed',
      reason: 'BackoffLimitExceeded: Job has reached the specified backoff limit',
    });
    expect(jobEnding(state({ job: job([{ type: 'Failed' }]) }))).toEqual({ kind: 'failed', reason: 'Failed:' });
  });

  it('deadline: Failed with DeadlineExceeded', () => {
    expect(
      jobEnding(
        state({
          job: job([
            { type: 'Failed', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' },
          ]),
        }),
      ),
    ).toEqual({
      kind: 'deadline',
      reason: 'DeadlineExceeded: Job was active longer than specified deadline',
    });
  });

  it('deleted: gone after it was seen, or being deleted, unless it had already finished', () => {
    expect(jobEnding(state({ gone: true }))).toEqual({
      kind: 'deleted',
      reason: 'Job jobs/je-x-000-001 was deleted before it finished',
    });
    expect(jobEnding(state({ job: job([], { deletionTimestamp: new Date() }) }))).toEqual({
      kind: 'deleted',
      reason: 'Job jobs/je-x-000-001 is being deleted before it finished',
    });
    // Completed, then deleted before the loop looked: it still completed.
    expect(jobEnding(state({ gone: true, job: job([{ type: 'Complete' }]) }))).toEqual({ kind: 'complete' });
  });

  it('deleted: another Job of the same name (a different uid) is not this task’s, whatever its state', () => {
    expect(jobEnding(state({ uid: 'uid-1', job: job([{ type: 'Complete' }], { uid: 'uid-2' }) }))).toEqual({
      kind: 'deleted',
      reason: 'Job jobs/je-x-000-001 was replaced by another Job of the same name before it finished',
    });
    // Without a known uid (nothing to compare) the Job is taken as it is.
    expect(jobEnding(state({ uid: undefined, job: job([{ type: 'Complete' }], { uid: 'uid-2' }) }))).toEqual({
      kind: 'complete',
    });
  });

  it.each(STUCK_REASONS)('stuck: a container waiting with %s, named with its pod and message', (reason) => {
    const p = pod('je-x-000-001-abcde', 'Pending', [
      status('task', { waiting: { reason, message: 'it will not get better' } }),
    ]);
    expect(jobEnding(state({ pods: [p] }))).toEqual({
      kind: 'stuck',
      reason: `container task of pod je-x-000-001-abcde cannot start: ${reason}: it will not get better`,
    });
  });

  it('stuck: init containers count too; transient waits, stopped and deleted pods do not', () => {
    const init = pod(
      'p',
      'Pending',
      [status('task', { waiting: { reason: 'PodInitializing' } })],
      [status('init-files', { waiting: { reason: 'CreateContainerConfigError' } })],
    );
    expect(jobEnding(state({ pods: [init] }))).toEqual({
      kind: 'stuck',
      reason: 'container init-files of pod p cannot start: CreateContainerConfigError',
    });
    for (const reason of ['ContainerCreating', 'ErrImagePull', 'PodInitializing']) {
      expect(
        jobEnding(state({ pods: [pod('p', 'Pending', [status('task', { waiting: { reason } })])] })),
      ).toBeUndefined();
    }
    const failedPod = pod('p', 'Failed', [status('task', { waiting: { reason: 'ImagePullBackOff' } })]);
    expect(jobEnding(state({ pods: [failedPod] }))).toBeUndefined();
    const deleting = {
      ...pod('p', 'Pending', [status('task', { waiting: { reason: 'ImagePullBackOff' } })]),
      metadata: { name: 'p', deletionTimestamp: new Date() },
    };
    expect(jobEnding(state({ pods: [deleting] }))).toBeUndefined();
  });

  it('a final condition wins over a stuck container', () => {
    const p = pod('p', 'Pending', [status('task', { waiting: { reason: 'ImagePullBackOff' } })]);
    expect(jobEnding(state({ job: job([{ type: 'Failed', reason: 'DeadlineExceeded' }]), pods: [p] }))?.kind).toBe(
      'deadline',
    );
  });
});

describe('pods', () => {
  const running = (name: string, created: string) =>
    pod(name, 'Running', [status('task', { running: {} })], [], created);

  it('streamablePod: the oldest pod whose task container runs', () => {
    expect(streamablePod([])).toBeUndefined();
    expect(
      streamablePod([pod('p', 'Pending', [status('task', { waiting: { reason: 'ContainerCreating' } })])]),
    ).toBeUndefined();
    expect(streamablePod([pod('p', 'Running', [status('task', { terminated: { exitCode: 0 } })])])).toBeUndefined();
    expect(streamablePod([running('b', '2026-01-01T00:00:02Z'), running('a', '2026-01-01T00:00:01Z')])).toBe('a');
  });

  it('containerStopped: the task container of that pod has terminated, or the pod has ended (a live log that ends then had it all)', () => {
    expect(containerStopped([], 'a')).toBe(false);
    expect(containerStopped([running('a', '2026-01-01T00:00:01Z')], 'a')).toBe(false);
    expect(containerStopped([pod('a', 'Running', [status('task', { terminated: { exitCode: 0 } })])], 'a')).toBe(true);
    expect(containerStopped([pod('a', 'Succeeded', [])], 'a')).toBe(true);
    expect(containerStopped([pod('a', 'Failed', [])], 'a')).toBe(true);
    // Another container (a sidecar, an init container) stopping is not the task's end; another pod is not this one.
    expect(
      containerStopped(
        [pod('a', 'Running', [status('sidecar', { terminated: { exitCode: 0 } }), status('task', { running: {} })])],
        'a',
      ),
    ).toBe(false);
    expect(containerStopped([pod('b', 'Succeeded', [])], 'a')).toBe(false);
  });

  it('podsSettled: every pod stopped, and there is at least one', () => {
    expect(podsSettled([])).toBe(false);
    expect(podsSettled([pod('a', 'Succeeded', []), pod('b', 'Failed', [])])).toBe(true);
    expect(podsSettled([pod('a', 'Succeeded', []), pod('b', 'Running', [])])).toBe(false);
  });

  it('containerEnd: exit code, why it ended badly, and the termination message as $KEPTN_OUTPUT', () => {
    expect(containerEnd([])).toEqual({});
    expect(
      containerEnd([
        pod('p', 'Succeeded', [
          status('task', { terminated: { exitCode: 0, reason: 'Completed', message: '{"a":[1]}' } }),
        ]),
      ]),
    ).toEqual({ exitCode: 0, output: { a: [1] } });
    expect(
      containerEnd([
        pod('p', 'Failed', [status('task', { terminated: { exitCode: 3, reason: 'Error', message: 'disk full' } })]),
      ]),
    ).toEqual({
      exitCode: 3,
      terminated: 'container task of pod p exit code 3 (Reason: Error, Message: disk full)',
    });
    // Exit code 0 but killed (OOMKilled after the process ended, DeadlineExceeded): still a bad end.
    expect(
      containerEnd([pod('p', 'Failed', [status('task', { terminated: { exitCode: 0, reason: 'OOMKilled' } })])])
        .terminated,
    ).toBe('container task of pod p exit code 0 (Reason: OOMKilled)');
    // Only a JSON object is output; other JSON and text are not.
    for (const message of ['[1,2]', '"text"', 'not json', 'null']) {
      expect(
        containerEnd([pod('p', 'Succeeded', [status('task', { terminated: { exitCode: 0, message } })])]).output,
      ).toBeUndefined();
    }
    // Of two pods, the newer one ended the task.
    const older = pod(
      'old',
      'Failed',
      [status('task', { terminated: { exitCode: 1, reason: 'Error' } })],
      [],
      '2026-01-01T00:00:00Z',
    );
    const newer = pod(
      'new',
      'Succeeded',
      [status('task', { terminated: { exitCode: 0, reason: 'Completed' } })],
      [],
      '2026-01-01T00:01:00Z',
    );
    expect(containerEnd([newer, older])).toEqual({ exitCode: 0 });
  });

  it('logSources: the task container of every pod, and the init containers that ran only on failure', () => {
    const p = pod(
      'p',
      'Failed',
      [status('task', { terminated: { exitCode: 1 } })],
      [status('init-a', { terminated: { exitCode: 0 } }), status('init-b', { waiting: {} })],
    );
    expect(logSources([p], false)).toEqual([{ pod: 'p', container: 'task' }]);
    expect(logSources([p], true)).toEqual([
      { pod: 'p', container: 'init-a' },
      { pod: 'p', container: 'task' },
    ]);
    // A task container that never ran is still asked for (the API says why there is no log).
    expect(
      logSources([pod('q', 'Pending', [status('task', { waiting: { reason: 'ImagePullBackOff' } })])], false),
    ).toEqual([{ pod: 'q', container: 'task' }]);
  });
});

describe('describeEnding', () => {
  const base = { job: 'jobs/je-x-000-001', maxPollDuration: 3, deleted: true, container: {}, events: [] as string[] };

  it('complete succeeds without a reason', () => {
    expect(describeEnding({ kind: 'complete' }, base)).toEqual({ outcome: 'succeeded' });
  });

  it('failed names the Job and the container, or the condition when no container ended', () => {
    expect(
      describeEnding(
        { kind: 'failed', reason: 'BackoffLimitExceeded: x' },
        { ...base, container: { terminated: 'container task of pod p exit code 3 (Reason: Error)' } },
      ),
    ).toEqual({
      outcome: 'failed',
      reason: 'job jobs/je-x-000-001 failed. container task of pod p exit code 3 (Reason: Error)',
    });
    expect(describeEnding({ kind: 'failed', reason: 'BackoffLimitExceeded: x' }, base).reason).toBe(
      'job jobs/je-x-000-001 failed. BackoffLimitExceeded: x',
    );
  });

  it('deadline and backstop are timeouts that name maxPollDuration and what became of the Job', () => {
    expect(describeEnding({ kind: 'deadline', reason: 'DeadlineExceeded: x' }, base)).toEqual({
      outcome: 'timeout',
      reason: "task exceeded maxPollDuration of 3s (the Job's activeDeadlineSeconds); the Job was deleted",
    });
    expect(describeEnding({ kind: 'backstop' }, { ...base, deleted: false })).toEqual({
      outcome: 'timeout',
      reason: 'task exceeded maxPollDuration of 3s and the Job did not stop by itself; the Job was kept',
    });
  });

  it('stuck and deleted fail with their reason; events follow on their own lines', () => {
    expect(
      describeEnding(
        { kind: 'stuck', reason: 'container task of pod p cannot start: ImagePullBackOff' },
        { ...base, events: ['Kubernetes event on p: Failed: pull'] },
      ),
    ).toEqual({
      outcome: 'failed',
      reason:
        'container task of pod p cannot start: ImagePullBackOff; the Job was deleted\nKubernetes event on p: Failed: pull',
    });
    expect(describeEnding({ kind: 'deleted', reason: 'Job jobs/x was deleted before it finished' }, base)).toEqual({
      outcome: 'failed',
      reason: 'Job jobs/x was deleted before it finished',
    });
  });

  it('deletesJob: only endings where the Job would hold on', () => {
    expect(
      (['deadline', 'backstop', 'stuck'] as const).map((kind) =>
        deletesJob(kind === 'backstop' ? { kind } : { kind, reason: '' }),
      ),
    ).toEqual([true, true, true]);
    expect(deletesJob({ kind: 'complete' })).toBe(false);
    expect(deletesJob({ kind: 'failed', reason: '' })).toBe(false);
    expect(deletesJob({ kind: 'deleted', reason: '' })).toBe(false);
  });
});

describe('explainingEvents', () => {
  const ev = (reason: string, type: string, message: string, at: number): CoreV1Event => ({
    involvedObject: {},
    metadata: {},
    reason,
    type,
    message,
    lastTimestamp: new Date(at),
  });

  it('keeps warnings and Failed* reasons, oldest first, one line each', () => {
    expect(
      explainingEvents([
        { object: 'pod-a', event: ev('Pulled', 'Normal', 'pulled', 3) },
        { object: 'pod-a', event: ev('BackOff', 'Warning', 'Back-off\npulling image', 2) },
        { object: 'job-a', event: ev('FailedCreate', 'Normal', 'quota', 1) },
      ]),
    ).toEqual([
      'Kubernetes event on job-a: FailedCreate: quota',
      'Kubernetes event on pod-a: BackOff: Back-off pulling image',
    ]);
  });

  it('is capped in count and length, saying how many were left out', () => {
    const many = Array.from({ length: MAX_EVENTS + 5 }, (_, i) => ({
      object: 'p',
      event: ev('Failed', 'Warning', `${i} ${'x'.repeat(EVENT_MESSAGE_CHARS * 2)}`, i),
    }));
    const lines = explainingEvents(many);
    expect(lines).toHaveLength(MAX_EVENTS + 1);
    expect(lines[0]).toBe('(5 earlier Kubernetes events not shown)');
    expect(lines[1]?.startsWith('Kubernetes event on p: Failed: 5 ')).toBe(true);
    for (const l of lines.slice(1))
      expect(l.length).toBeLessThanOrEqual('Kubernetes event on p: Failed: '.length + EVENT_MESSAGE_CHARS + 1);
  });

  it('says a repeated event once', () => {
    expect(
      explainingEvents([1, 2, 3].map((at) => ({ object: 'p', event: ev('BackOff', 'Warning', 'same', at) }))),
    ).toHaveLength(1);
  });
});
