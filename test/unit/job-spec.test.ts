import { describe, expect, it } from 'vitest';
import {
  buildJob,
  CONFIGMAP_BUDGET,
  mergeSecurityContext,
  type JobDefaults,
} from '../../src/runners/kubernetes/job-spec.js';
import { jobName, labelValue, runKey } from '../../src/runners/kubernetes/naming.js';
import type { TaskSpec } from '../../src/render/task-spec.js';
import { keptnEvent } from '../helpers/service.js';

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const defaults: JobDefaults = {
  namespace: 'jobs',
  managedBy: 'job-executor',
  resources: { limits: { cpu: '1', memory: '512Mi' }, requests: { cpu: '50m', memory: '128Mi' } },
  ttlSecondsAfterFinished: 21600,
  keptnVolumeSize: '20Mi',
  imagePullSecrets: ['regcred'],
};
const task = (p: Partial<TaskSpec> = {}): TaskSpec => ({
  actionIndex: 1,
  taskIndex: 0,
  actionName: 'Scale',
  name: 'Scale with Helm',
  image: 'alpine/helm:3.9.0',
  cmd: ['helm'],
  args: ['upgrade'],
  env: [],
  files: [],
  maxPollDuration: 300,
  onError: 'fail',
  ...p,
});

describe('Job names', () => {
  it.each([
    'f2b878d3-03c0-4e8f-bc3f-454bc1b3d79d',
    'x',
    '',
    'UPPER_case.and spaces!',
    'é'.repeat(300),
    '--',
    'a'.repeat(100),
  ])('are valid DNS-1123 labels of at most 63 characters for %j', (id) => {
    const name = jobName(id, 999, 998);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(DNS1123);
    expect(jobName(id, 999, 998)).toBe(name); // deterministic
  });

  it('keep ids apart that differ only in what is cut or replaced', () => {
    expect(runKey('A.b')).not.toBe(runKey('a-b'));
    expect(runKey(`${'a'.repeat(40)}1`)).not.toBe(runKey(`${'a'.repeat(40)}2`));
    expect(jobName('f2b878d3-03c0-4e8f-bc3f-454bc1b3d79d', 2, 0)).toMatch(
      /^je-f2b878d3-03c0-4e8f-bc3f-454bc1b3-[0-9a-f]{8}-002-001$/,
    );
  });

  it('label values follow the label rules', () => {
    expect(labelValue('Remediation: Scaling with Helm')).toBe('Remediation_Scaling_with_Helm');
    expect(labelValue('-x-')).toBe('x');
    expect(labelValue('a'.repeat(80))).toHaveLength(63);
  });
});

describe('Job spec', () => {
  const event = keptnEvent('sh.keptn.event.action.triggered', { labels: { team: 'sre' } });

  it('runs once, within maxPollDuration, non-root, without privilege escalation, capabilities or API token', () => {
    const { job, configMaps } = buildJob({ task: task(), event, configHash: 'h', files: [], defaults });
    expect(configMaps).toEqual([]);
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 300, ttlSecondsAfterFinished: 21600 });
    expect(job.spec?.suspend).toBeUndefined();
    const pod = job.spec?.template.spec;
    expect(pod).toMatchObject({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      imagePullSecrets: [{ name: 'regcred' }],
    });
    expect(pod?.containers[0]).toMatchObject({
      image: 'alpine/helm:3.9.0',
      command: ['helm'],
      args: ['upgrade'],
      resources: { limits: { cpu: '1', memory: '512Mi' }, requests: { cpu: '50m', memory: '128Mi' } },
      securityContext: {
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      },
      terminationMessagePath: '/dev/termination-log',
      volumeMounts: [{ name: 'keptn', mountPath: '/keptn' }],
    });
    expect(pod?.volumes?.[0]).toEqual({ name: 'keptn', emptyDir: { sizeLimit: '20Mi' } });
    expect(job.metadata?.namespace).toBe('jobs');
  });

  it('takes every task field', () => {
    const { job } = buildJob({
      task: task({
        namespace: 'other',
        serviceAccount: 'deployer',
        imagePullPolicy: 'Always',
        workingDir: '/keptn',
        resources: { limits: { memory: '1Gi' } },
        ttlSecondsAfterFinished: 0,
        annotations: { 'vault.hashicorp.com/agent-inject': 'true' },
        labels: { team: 'sre' },
        imagePullSecrets: ['private'],
        nodeSelector: { pool: 'jobs' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'jobs', effect: 'NoSchedule' }],
        keptnVolumeSize: '1Gi',
        securityContext: { readOnlyRootFilesystem: false, capabilities: { add: ['NET_BIND_SERVICE'] } },
        env: [
          { kind: 'value', name: 'A', value: 'b' },
          { kind: 'secret', secretName: 'creds' },
        ],
      }),
      event,
      configHash: 'h',
      files: [],
      defaults,
    });
    const pod = job.spec?.template;
    expect(job.metadata?.namespace).toBe('other');
    expect(job.spec?.ttlSecondsAfterFinished).toBe(60);
    expect(job.metadata?.annotations?.['vault.hashicorp.com/agent-inject']).toBe('true');
    expect(pod?.metadata?.annotations?.['vault.hashicorp.com/agent-inject']).toBe('true');
    expect(pod?.metadata?.labels?.team).toBe('sre');
    expect(pod?.spec).toMatchObject({
      serviceAccountName: 'deployer',
      nodeSelector: { pool: 'jobs' },
      imagePullSecrets: [{ name: 'regcred' }, { name: 'private' }],
    });
    expect(pod?.spec?.automountServiceAccountToken).toBeUndefined();
    expect(pod?.spec?.tolerations).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'jobs', effect: 'NoSchedule' },
    ]);
    const c = pod?.spec?.containers[0];
    expect(c).toMatchObject({
      imagePullPolicy: 'Always',
      workingDir: '/keptn',
      resources: { limits: { memory: '1Gi' } },
    });
    expect(c?.resources?.requests).toBeUndefined(); // a resources block replaces all defaults (JES)
    expect(c?.env?.map((e) => e.name)).toEqual(['A', 'KEPTN_OUTPUT']);
    expect(c?.envFrom).toEqual([{ secretRef: { name: 'creds' } }]);
    expect(c?.securityContext?.readOnlyRootFilesystem).toBe(false);
    expect(c?.securityContext?.capabilities).toEqual({ add: ['NET_BIND_SERVICE'] });
    expect(pod?.spec?.volumes?.[0]?.emptyDir?.sizeLimit).toBe('1Gi');
  });

  it('carries project, stage, service, event id, context and task in labels and annotations', () => {
    const odd = keptnEvent('sh.keptn.event.action.triggered', {
      project: 'My Project!',
      stage: 'prod',
      service: 'svc',
    });
    const { job } = buildJob({ task: task(), event: odd, configHash: 'abc', files: [], defaults });
    for (const [k, v] of Object.entries(job.metadata?.labels ?? {})) {
      expect(v.length, k).toBeLessThanOrEqual(63);
      expect(v, k).toMatch(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/);
    }
    expect(job.metadata?.labels).toMatchObject({
      'keptn.sh/project': 'My_Project',
      'keptn.sh/jes-action-index': '1',
      'keptn.sh/jes-task-index': '0',
      'keptn.sh/jes-job-confighash': 'abc',
    });
    expect(job.metadata?.annotations).toMatchObject({
      'job-executor.keptn.sh/project': 'My Project!',
      'job-executor.keptn.sh/event-id': odd.id,
      'job-executor.keptn.sh/triggered-id': odd.id,
      'job-executor.keptn.sh/shkeptncontext': odd.shkeptncontext,
      'job-executor.keptn.sh/task': 'Scale with Helm',
    });
  });

  it('mounts files at their paths from ConfigMaps split to fit, and starts suspended until they exist', () => {
    const big = Buffer.alloc(600 * 1024, 0xfe); // not UTF-8: goes to binaryData
    const { job, configMaps } = buildJob({
      task: task(),
      event,
      configHash: 'h',
      files: [
        { path: 'charts/app.tgz', content: big },
        { path: 'locust/basic.py', content: Buffer.from('print(1)\n') },
        { path: 'locust/big.bin', content: Buffer.alloc(500 * 1024, 0xff) },
      ],
      defaults,
    });
    expect(job.spec?.suspend).toBe(true);
    expect(configMaps).toHaveLength(2);
    expect(configMaps[0]?.binaryData?.f0).toBe(big.toString('base64'));
    expect(configMaps[0]?.data?.f1).toBe('print(1)\n');
    expect(configMaps[1]?.binaryData?.f2).toBeDefined();
    const mounts = job.spec?.template.spec?.containers[0]?.volumeMounts?.slice(1);
    expect(mounts?.map((m) => [m.mountPath, m.name, m.subPath, m.readOnly])).toEqual([
      ['/keptn/charts/app.tgz', 'files-0', 'f0', true],
      ['/keptn/locust/basic.py', 'files-0', 'f1', true],
      ['/keptn/locust/big.bin', 'files-1', 'f2', true],
    ]);
    expect(() =>
      buildJob({
        task: task(),
        event,
        configHash: 'h',
        files: [{ path: 'huge', content: Buffer.alloc(CONFIGMAP_BUDGET + 1) }],
        defaults,
      }),
    ).toThrow(/files: huge is \d+ bytes; the Kubernetes runner delivers files up to/);
  });

  it('merges the security context field by field; capabilities replace both lists (JES)', () => {
    expect(mergeSecurityContext({ runAsUser: 2000 })).toMatchObject({
      runAsUser: 2000,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(mergeSecurityContext({ capabilities: { add: ['X'] } }).capabilities).toEqual({ add: ['X'] });
  });
});
