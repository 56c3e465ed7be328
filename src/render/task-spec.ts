import type { Action, Resources, SecurityContext, Task } from '../config/schema.js';
import { JobExecutorError, errorMessage } from '../errors.js';
import type { KeptnEvent } from '../keptn/event.js';
import { eventDocument, queryJsonPath } from '../matching/match.js';
import { templateContext, type TemplateContext } from './context.js';
import { formatEventValue } from './go-format.js';
import { renderTemplate } from './handlebars.js';

/** One environment entry of a task: a literal, or every key of a Secret (resolved by the runner). */
export type EnvSpec =
  | { readonly kind: 'value'; readonly name: string; readonly value: string }
  | { readonly kind: 'secret'; readonly secretName: string };

/**
 * A task ready to run, runner-neutral: every template rendered, every event value resolved, `$(VAR)` left for
 * the runner to expand (Kubernetes does it in a Pod; the local runner does it the same way).
 */
export interface TaskSpec {
  readonly actionIndex: number;
  readonly taskIndex: number;
  readonly actionName: string;
  readonly name: string;
  readonly image: string;
  readonly imagePullPolicy?: string;
  readonly cmd: readonly string[];
  readonly args: readonly string[];
  readonly env: readonly EnvSpec[];
  readonly files: readonly string[];
  readonly workingDir?: string;
  /** Seconds. */
  readonly maxPollDuration: number;
  readonly namespace?: string;
  readonly resources?: Resources;
  readonly securityContext?: SecurityContext;
  readonly serviceAccount?: string;
  readonly ttlSecondsAfterFinished?: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly imagePullSecrets?: readonly string[];
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: Task['tolerations'];
  readonly keptnVolumeSize?: string;
  readonly onError: Task['onError'];
}

/** `LABELS_<KEY>`: `-` and spaces become `_`, then upper case (jes-anchor.md §1.6). */
export function labelEnvName(key: string): string {
  return `LABELS_${key.replace(/[- ]/g, '_').toUpperCase()}`;
}

/** KEPTN_PROJECT/STAGE/SERVICE, then one LABELS_* per label, sorted by key (JES's order was random). */
export function builtinEnv(event: KeptnEvent): EnvSpec[] {
  const env: EnvSpec[] = [
    { kind: 'value', name: 'KEPTN_PROJECT', value: event.data.project },
    { kind: 'value', name: 'KEPTN_STAGE', value: event.data.stage },
    { kind: 'value', name: 'KEPTN_SERVICE', value: event.data.service },
  ];
  const labels = event.data.labels ?? {};
  for (const key of Object.keys(labels).sort()) {
    env.push({ kind: 'value', name: labelEnvName(key), value: labels[key] as string });
  }
  return env;
}

function resolveEnv(task: Task, event: KeptnEvent, ctx: TemplateContext, field: string): EnvSpec[] {
  const env: EnvSpec[] = [];
  const doc = eventDocument(event);
  (task.env ?? []).forEach((entry, i) => {
    const at = `${field}.env[${i}]`;
    const name = renderTemplate(entry.name, ctx, `${at}.name`);
    const value = renderTemplate(entry.value, ctx, `${at}.value`);
    switch (entry.valueFrom) {
      case 'string':
        env.push({ kind: 'value', name, value });
        break;
      case 'secret':
        env.push({ kind: 'secret', secretName: name });
        break;
      case 'event': {
        let found: unknown[];
        try {
          found = queryJsonPath(value, doc);
        } catch (e) {
          throw new JobExecutorError('ENV_ERROR', `${at}: could not add env with name '${name}', value '${value}', valueFrom 'event': ${errorMessage(e)}`);
        }
        if (found.length === 0) {
          throw new JobExecutorError(
            'ENV_ERROR',
            `${at}: could not add env with name '${name}', value '${value}', valueFrom 'event': the event has no value at ${value}`,
          );
        }
        env.push({ kind: 'value', name, value: formatEventValue(found.length === 1 ? found[0] : found, entry.as) });
        break;
      }
    }
  });
  return [...env, ...builtinEnv(event)];
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];

/**
 * Renders one task of one matched action into a TaskSpec. Pure: the same task, event and indexes give the
 * same spec. Throws TEMPLATE_ERROR or ENV_ERROR naming the field.
 */
export function renderTask(
  task: Task,
  event: KeptnEvent,
  ctx: TemplateContext,
  where: { actionIndex: number; taskIndex: number; actionName: string },
): TaskSpec {
  const field = `actions[${where.actionIndex}].tasks[${where.taskIndex}]`;
  const r = (value: string, name: string) => renderTemplate(value, ctx, `${field}.${name}`);
  const opt = (value: string | undefined, name: string) => (value === undefined ? undefined : r(value, name));
  const image = r(task.image, 'image');
  if (image.trim() === '') throw new JobExecutorError('TEMPLATE_ERROR', `${field}.image: required`);
  const imagePullPolicy = opt(task.imagePullPolicy, 'imagePullPolicy') || undefined;
  if (imagePullPolicy !== undefined && !PULL_POLICIES.includes(imagePullPolicy)) {
    throw new JobExecutorError('TEMPLATE_ERROR', `${field}.imagePullPolicy: "${imagePullPolicy}" is not one of ${PULL_POLICIES.join(', ')}`);
  }
  const spec: TaskSpec = {
    actionIndex: where.actionIndex,
    taskIndex: where.taskIndex,
    actionName: where.actionName,
    name: r(task.name, 'name'),
    image,
    imagePullPolicy,
    cmd: (task.cmd ?? []).map((v, i) => r(v, `cmd[${i}]`)),
    args: (task.args ?? []).map((v, i) => r(v, `args[${i}]`)),
    env: resolveEnv(task, event, ctx, field),
    files: (task.files ?? []).map((v, i) => r(v, `files[${i}]`)),
    workingDir: opt(task.workingDir, 'workingDir') || undefined,
    maxPollDuration: task.maxPollDuration,
    namespace: opt(task.namespace, 'namespace') || undefined,
    resources: task.resources,
    securityContext: task.securityContext,
    serviceAccount: opt(task.serviceAccount, 'serviceAccount') || undefined,
    ttlSecondsAfterFinished: task.ttlSecondsAfterFinished,
    annotations: task.annotations,
    labels: task.labels,
    imagePullSecrets: task.imagePullSecrets,
    nodeSelector: task.nodeSelector,
    tolerations: task.tolerations,
    keptnVolumeSize: task.keptnVolumeSize,
    onError: task.onError,
  };
  return Object.freeze(spec);
}

/** The tasks of one matched action, rendered. */
export interface RenderedAction {
  readonly index: number;
  readonly name: string;
  readonly silent: boolean;
  readonly tasks: TaskSpec[];
}

/**
 * Every task of every matched action, rendered, with `maxPollDuration` capped by the service's task deadline
 * (JES's TASK_DEADLINE_SECONDS; 0 for none). The one way a run's tasks are made: the executor runs these, and
 * `render` prints them.
 */
export function renderActions(
  matched: ReadonlyArray<{ readonly action: Action; readonly index: number }>,
  event: KeptnEvent,
  taskDeadlineSeconds = 0,
): RenderedAction[] {
  const ctx = templateContext(event);
  return matched.map((m) => ({
    index: m.index,
    name: m.action.name,
    silent: m.action.silent,
    tasks: m.action.tasks.map((t, taskIndex) => {
      const spec = renderTask(t, event, ctx, { actionIndex: m.index, taskIndex, actionName: m.action.name });
      return taskDeadlineSeconds > 0 && spec.maxPollDuration > taskDeadlineSeconds ? { ...spec, maxPollDuration: taskDeadlineSeconds } : spec;
    }),
  }));
}
