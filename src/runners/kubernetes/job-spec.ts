import type {
  V1ConfigMap,
  V1Container,
  V1EnvFromSource,
  V1EnvVar,
  V1Job,
  V1PodSecurityContext,
  V1PodSpec,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { SecurityContext } from '../../config/schema.js';
import type { TaskFile } from '../../config/source.js';
import { JobExecutorError } from '../../errors.js';
import type { KeptnEvent } from '../../keptn/event.js';
import type { TaskSpec } from '../../render/task-spec.js';
import { jobName, labelValue, runKey } from './naming.js';

/** The service's defaults for Jobs (from its settings). */
export interface JobDefaults {
  readonly namespace: string;
  /** `app.kubernetes.io/managed-by` on Jobs and pods: how the service finds its own Jobs again. */
  readonly managedBy: string;
  readonly serviceAccount?: string;
  readonly resources: { readonly limits: ResourceList; readonly requests: ResourceList };
  readonly ttlSecondsAfterFinished: number;
  readonly keptnVolumeSize: string;
  readonly imagePullSecrets: readonly string[];
}

interface ResourceList {
  readonly cpu?: string;
  readonly memory?: string;
}

export interface JobBuildInput {
  readonly task: TaskSpec;
  readonly event: KeptnEvent;
  readonly configHash: string;
  /** The task's files, already read from the config source. */
  readonly files: readonly TaskFile[];
  readonly defaults: JobDefaults;
}

export interface JobManifests {
  readonly job: V1Job;
  /** The files, split to fit; to be created after the Job, owned by it, before it is let run. */
  readonly configMaps: readonly V1ConfigMap[];
}

/** Labels and annotations the service sets; the `job-executor.keptn.sh/` ones are how it reads a Job back. */
export const LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  runKey: 'job-executor.keptn.sh/run-key',
  project: 'keptn.sh/project',
  stage: 'keptn.sh/stage',
  service: 'keptn.sh/service',
  context: 'keptn.sh/context',
  eventId: 'keptn.sh/event-id',
  action: 'keptn.sh/jes-action',
  task: 'keptn.sh/jes-task',
  configHash: 'keptn.sh/jes-job-confighash',
  actionIndex: 'keptn.sh/jes-action-index',
  taskIndex: 'keptn.sh/jes-task-index',
} as const;

export const ANNOTATION = {
  eventId: 'job-executor.keptn.sh/event-id',
  triggeredId: 'job-executor.keptn.sh/triggered-id',
  context: 'job-executor.keptn.sh/shkeptncontext',
  eventType: 'job-executor.keptn.sh/event-type',
  project: 'job-executor.keptn.sh/project',
  stage: 'job-executor.keptn.sh/stage',
  service: 'job-executor.keptn.sh/service',
  action: 'job-executor.keptn.sh/action',
  task: 'job-executor.keptn.sh/task',
} as const;

export const CONTAINER_NAME = 'task';
export const KEPTN_MOUNT = '/keptn';
/** The container's termination message: where `$KEPTN_OUTPUT` points on Kubernetes. */
export const OUTPUT_PATH = '/dev/termination-log';
/** What the API server accepts in one ConfigMap is 1 MiB; keep room for keys and metadata. */
export const CONFIGMAP_BUDGET = 900 * 1024;

/** Restricted Pod Security Standard, plus JES's user and group so images that default to root still start. */
export const DEFAULT_CONTAINER_SECURITY: V1SecurityContext = {
  privileged: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 2000,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export const DEFAULT_POD_SECURITY: V1PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 2000,
  fsGroup: 2000,
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Field by field over the default; `capabilities` replaces both lists, as in JES (jes-anchor.md §1.7). */
export function mergeSecurityContext(task: SecurityContext | undefined): V1SecurityContext {
  const out: V1SecurityContext = { ...DEFAULT_CONTAINER_SECURITY };
  if (!task) return out;
  for (const [k, v] of Object.entries(task)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

function resources(task: TaskSpec, defaults: JobDefaults): V1ResourceRequirements | undefined {
  const pick = (l: ResourceList | undefined) => {
    const out: Record<string, string> = {};
    if (l?.cpu) out.cpu = l.cpu;
    if (l?.memory) out.memory = l.memory;
    return Object.keys(out).length > 0 ? out : undefined;
  };
  // A task's resources block, even an empty one, replaces the defaults entirely (JES).
  const source = task.resources ?? defaults.resources;
  const limits = pick(source.limits);
  const requests = pick(source.requests);
  if (!limits && !requests) return undefined;
  return { ...(limits ? { limits } : {}), ...(requests ? { requests } : {}) };
}

/** Files into ConfigMaps of at most CONFIGMAP_BUDGET bytes each; text as `data`, anything else as `binaryData`. */
function packFiles(
  files: readonly TaskFile[],
  name: string,
): {
  configMaps: Array<{ name: string; data: Record<string, string>; binaryData: Record<string, string> }>;
  mounts: V1VolumeMount[];
} {
  const configMaps: Array<{
    name: string;
    data: Record<string, string>;
    binaryData: Record<string, string>;
    size: number;
  }> = [];
  const mounts: V1VolumeMount[] = [];
  const seen = new Set<string>();
  files.forEach((file, i) => {
    if (seen.has(file.path)) return;
    seen.add(file.path);
    if (file.content.length > CONFIGMAP_BUDGET) {
      throw new JobExecutorError(
        'FILE_NOT_FOUND',
        `files: ${file.path} is ${file.content.length} bytes; the Kubernetes runner delivers files up to ${CONFIGMAP_BUDGET} bytes each`,
      );
    }
    let cm = configMaps.at(-1);
    if (!cm || cm.size + file.content.length > CONFIGMAP_BUDGET) {
      cm = { name: `${name}-files-${configMaps.length}`, data: {}, binaryData: {}, size: 0 };
      configMaps.push(cm);
    }
    const key = `f${i}`;
    const text = file.content.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(file.content)) cm.data[key] = text;
    else cm.binaryData[key] = file.content.toString('base64');
    cm.size += file.content.length;
    mounts.push({
      name: `files-${configMaps.length - 1}`,
      mountPath: `${KEPTN_MOUNT}/${file.path}`,
      subPath: key,
      readOnly: true,
    });
  });
  return { configMaps, mounts };
}

/** The labels JES put on its Jobs (how users select them), plus the service's own. */
function jobLabels(input: JobBuildInput, key: string): Record<string, string> {
  const { task, event, defaults } = input;
  return {
    ...(task.labels ?? {}),
    [LABEL.managedBy]: defaults.managedBy,
    [LABEL.runKey]: key,
    [LABEL.project]: labelValue(event.data.project),
    [LABEL.stage]: labelValue(event.data.stage),
    [LABEL.service]: labelValue(event.data.service),
    [LABEL.context]: labelValue(event.shkeptncontext),
    [LABEL.eventId]: labelValue(event.id),
    [LABEL.action]: labelValue(task.actionName),
    [LABEL.task]: labelValue(task.name),
    [LABEL.configHash]: input.configHash,
    [LABEL.actionIndex]: String(task.actionIndex),
    [LABEL.taskIndex]: String(task.taskIndex),
  };
}

/** The event and task, unabridged (labels are cut to 63 characters): how a restarted service reads a Job back. */
function jobAnnotations(task: TaskSpec, event: KeptnEvent): Record<string, string> {
  return {
    ...(task.annotations ?? {}),
    [ANNOTATION.eventId]: event.id,
    [ANNOTATION.triggeredId]: event.id,
    [ANNOTATION.context]: event.shkeptncontext,
    [ANNOTATION.eventType]: event.type,
    [ANNOTATION.project]: event.data.project,
    [ANNOTATION.stage]: event.data.stage,
    [ANNOTATION.service]: event.data.service,
    [ANNOTATION.action]: task.actionName,
    [ANNOTATION.task]: task.name,
  };
}

function taskContainer(task: TaskSpec, defaults: JobDefaults, mounts: readonly V1VolumeMount[]): V1Container {
  const env: V1EnvVar[] = [];
  const envFrom: V1EnvFromSource[] = [];
  for (const e of task.env) {
    if (e.kind === 'secret') envFrom.push({ secretRef: { name: e.secretName } });
    else env.push({ name: e.name, value: e.value });
  }
  env.push({ name: 'KEPTN_OUTPUT', value: OUTPUT_PATH });
  const res = resources(task, defaults);
  return {
    name: CONTAINER_NAME,
    image: task.image,
    ...(task.imagePullPolicy ? { imagePullPolicy: task.imagePullPolicy } : {}),
    ...(task.cmd.length > 0 ? { command: [...task.cmd] } : {}),
    ...(task.args.length > 0 ? { args: [...task.args] } : {}),
    ...(task.workingDir ? { workingDir: task.workingDir } : {}),
    env,
    ...(envFrom.length > 0 ? { envFrom } : {}),
    ...(res ? { resources: res } : {}),
    securityContext: mergeSecurityContext(task.securityContext),
    terminationMessagePath: OUTPUT_PATH,
    terminationMessagePolicy: 'File',
    volumeMounts: [{ name: 'keptn', mountPath: KEPTN_MOUNT }, ...mounts],
  };
}

function podSpec(task: TaskSpec, defaults: JobDefaults, container: V1Container, volumes: V1Volume[]): V1PodSpec {
  const serviceAccount = task.serviceAccount ?? defaults.serviceAccount;
  const pullSecrets = [...defaults.imagePullSecrets, ...(task.imagePullSecrets ?? [])];
  return {
    restartPolicy: 'Never',
    ...(serviceAccount ? { serviceAccountName: serviceAccount } : {}),
    // No API token in the pod unless the task names a service account on purpose.
    ...(task.serviceAccount ? {} : { automountServiceAccountToken: false }),
    securityContext: { ...DEFAULT_POD_SECURITY },
    ...(pullSecrets.length > 0 ? { imagePullSecrets: [...new Set(pullSecrets)].map((n) => ({ name: n })) } : {}),
    ...(task.nodeSelector ? { nodeSelector: { ...task.nodeSelector } } : {}),
    ...(task.tolerations ? { tolerations: task.tolerations.map((t) => ({ ...t })) } : {}),
    containers: [container],
    volumes,
  };
}

/**
 * TaskSpec to Job (pure). The Job runs the task once (`backoffLimit: 0`), within `maxPollDuration`
 * (`activeDeadlineSeconds`), non-root with no privilege escalation and no API token unless a service account
 * is named, with a writable `/keptn` emptyDir and the task's files mounted into it from ConfigMaps. It is
 * created suspended when it has files, so no pod starts before they exist.
 */
export function buildJob(input: JobBuildInput): JobManifests {
  const { task, event, defaults } = input;
  const name = jobName(event.id, task.actionIndex, task.taskIndex);
  const namespace = task.namespace ?? defaults.namespace;
  const key = runKey(event.id);
  const packed = packFiles(input.files, name);
  const volumes: V1Volume[] = [
    { name: 'keptn', emptyDir: { sizeLimit: task.keptnVolumeSize ?? defaults.keptnVolumeSize } },
    ...packed.configMaps.map((cm, i) => ({
      name: `files-${i}`,
      configMap: {
        name: cm.name,
        items: Object.keys({ ...cm.data, ...cm.binaryData }).map((k) => ({ key: k, path: k })),
      },
    })),
  ];
  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace, labels: jobLabels(input, key), annotations: jobAnnotations(task, event) },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: task.maxPollDuration,
      ttlSecondsAfterFinished: Math.max(60, task.ttlSecondsAfterFinished ?? defaults.ttlSecondsAfterFinished),
      ...(packed.configMaps.length > 0 ? { suspend: true } : {}),
      template: {
        metadata: {
          labels: { ...(task.labels ?? {}), [LABEL.managedBy]: defaults.managedBy, [LABEL.runKey]: key },
          annotations: { ...(task.annotations ?? {}) },
        },
        spec: podSpec(task, defaults, taskContainer(task, defaults, packed.mounts), volumes),
      },
    },
  };
  const configMaps: V1ConfigMap[] = packed.configMaps.map((cm) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: cm.name, namespace, labels: { [LABEL.managedBy]: defaults.managedBy, [LABEL.runKey]: key } },
    ...(Object.keys(cm.data).length > 0 ? { data: cm.data } : {}),
    ...(Object.keys(cm.binaryData).length > 0 ? { binaryData: cm.binaryData } : {}),
  }));
  return { job, configMaps };
}
