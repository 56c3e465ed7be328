import { LIMITS } from '../config/limits.js';
import { envNameProblem, filesEntryProblem, secretNameProblem } from '../config/rules.js';
import type { Action, EnvEntry, Resources, SecurityContext, Task } from '../config/schema.js';
import { JobExecutorError, errorMessage } from '../errors.js';
import type { KeptnEvent } from '../keptn/event.js';
import { eventDocument, queryJsonPath } from '../matching/match.js';
import { expansionContext, templateContext, type TemplateContext } from './context.js';
import { escapeForExpansion } from './expand.js';
import { formatEventValue } from './go-format.js';
import { RenderBudget, renderTemplate, type FieldKind } from './handlebars.js';

/** One environment entry of a task: a literal, or every key of a Secret (resolved by the runner). */
export type EnvSpec =
  | { readonly kind: 'value'; readonly name: string; readonly value: string }
  | { readonly kind: 'secret'; readonly secretName: string };

/**
 * A task ready to run, runner-neutral: every template rendered, every event value resolved, `$(VAR)` left for
 * the runner to expand (Kubernetes does it in a Pod; the local runner does it the same way).
 *
 * `cmd`, `args` and env values are in Kubernetes' expansion syntax: a `$(VAR)` the config wrote expands, and
 * every piece of event text in them is escaped (`$(` as `$$(`), so expansion gives that text back literally.
 * The other fields hold plain text (Kubernetes does not expand them, and neither does the local runner).
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

/**
 * `LABELS_<KEY>`, as JES names them (`-` and spaces become `_`, then upper case), and further every character
 * that cannot be in an environment variable name (anything but ASCII letters, digits and `_`) becomes `_`,
 * so an event's label keys can never make an invalid or surprising name (`a=b` gives `LABELS_A_B`).
 */
export function labelEnvName(key: string): string {
  return `LABELS_${key.replace(/[^A-Za-z0-9_]/g, '_').toUpperCase()}`;
}

/**
 * KEPTN_PROJECT/STAGE/SERVICE, then one LABELS_* per label, sorted by key (JES's order was random). When two
 * keys give the same name, the first in that order wins and the other is left out. The values are event
 * text, escaped for `$(VAR)` expansion.
 */
export function builtinEnv(event: KeptnEvent): EnvSpec[] {
  const value = (name: string, text: string): EnvSpec => ({ kind: 'value', name, value: escapeForExpansion(text) });
  const env: EnvSpec[] = [
    value('KEPTN_PROJECT', event.data.project),
    value('KEPTN_STAGE', event.data.stage),
    value('KEPTN_SERVICE', event.data.service),
  ];
  const labels = event.data.labels ?? {};
  const seen = new Set<string>();
  for (const key of Object.keys(labels).sort()) {
    const name = labelEnvName(key);
    if (seen.has(name)) continue;
    seen.add(name);
    env.push(value(name, labels[key] as string));
  }
  return env;
}

/** Everything rendering one run needs: the contexts for plain and for expanded fields, and the run's budget. */
export interface RenderContext {
  readonly event: KeptnEvent;
  readonly plain: TemplateContext;
  readonly expanded: TemplateContext;
  readonly budget: RenderBudget;
}

export function renderContext(event: KeptnEvent, budgetChars: number = LIMITS.renderedRunChars): RenderContext {
  return {
    event,
    plain: templateContext(event),
    expanded: expansionContext(event),
    budget: new RenderBudget(budgetChars),
  };
}

function render(rc: RenderContext, template: string, field: string, kind: FieldKind = 'plain'): string {
  return renderTemplate(template, kind === 'expanded' ? rc.expanded : rc.plain, field, { budget: rc.budget, kind });
}

function eventValue(entry: EnvEntry, name: string, path: string, doc: Record<string, unknown>, at: string): string {
  const fail = (why: string) =>
    new JobExecutorError(
      'ENV_ERROR',
      `${at}: could not add env with name '${name}', value '${path}', valueFrom 'event': ${why}`,
    );
  let found: unknown[];
  try {
    found = queryJsonPath(path, doc);
  } catch (e) {
    throw fail(errorMessage(e));
  }
  if (found.length === 0) throw fail(`the event has no value at ${path}`);
  return escapeForExpansion(formatEventValue(found.length === 1 ? found[0] : found, entry.as));
}

function resolveEnv(task: Task, rc: RenderContext, field: string): EnvSpec[] {
  const env: EnvSpec[] = [];
  const doc = eventDocument(rc.event);
  (task.env ?? []).forEach((entry, i) => {
    const at = `${field}.env[${i}]`;
    const name = render(rc, entry.name, `${at}.name`);
    if (entry.valueFrom === 'secret') {
      const problem = secretNameProblem(name);
      if (problem) throw new JobExecutorError('ENV_ERROR', `${at}.name: ${problem}`);
      env.push({ kind: 'secret', secretName: name });
      return;
    }
    const problem = envNameProblem(name);
    if (problem) throw new JobExecutorError('ENV_ERROR', `${at}.name: ${problem}`);
    if (entry.valueFrom === 'string') {
      env.push({ kind: 'value', name, value: render(rc, entry.value, `${at}.value`, 'expanded') });
      return;
    }
    const value = eventValue(entry, name, render(rc, entry.value, `${at}.value`), doc, at);
    rc.budget.charge(value.length);
    env.push({ kind: 'value', name, value });
  });
  const builtins = builtinEnv(rc.event);
  for (const b of builtins) if (b.kind === 'value') rc.budget.charge(b.name.length + b.value.length);
  return [...env, ...builtins];
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];

/**
 * Renders one task of one matched action into a TaskSpec. Pure: the same task, event and indexes give the
 * same spec. Throws TEMPLATE_ERROR or ENV_ERROR naming the field.
 */
export function renderTask(
  task: Task,
  rc: RenderContext,
  where: { actionIndex: number; taskIndex: number; actionName: string },
): TaskSpec {
  const field = `actions[${where.actionIndex}].tasks[${where.taskIndex}]`;
  const r = (value: string, name: string, kind?: FieldKind) => render(rc, value, `${field}.${name}`, kind);
  const opt = (value: string | undefined, name: string) => (value === undefined ? undefined : r(value, name));
  const image = r(task.image, 'image');
  if (image.trim() === '')
    throw new JobExecutorError(
      'TEMPLATE_ERROR',
      `${field}.image: the template "${task.image}" rendered an empty image`,
    );
  const imagePullPolicy = opt(task.imagePullPolicy, 'imagePullPolicy') || undefined;
  if (imagePullPolicy !== undefined && !PULL_POLICIES.includes(imagePullPolicy)) {
    throw new JobExecutorError(
      'TEMPLATE_ERROR',
      `${field}.imagePullPolicy: "${imagePullPolicy}" is not one of ${PULL_POLICIES.join(', ')}`,
    );
  }
  const files = (task.files ?? []).map((v, i) => {
    const entry = r(v, `files[${i}]`);
    const problem = filesEntryProblem(entry);
    if (problem) throw new JobExecutorError('TEMPLATE_ERROR', `${field}.files[${i}]: ${problem}`);
    return entry;
  });
  const spec: TaskSpec = {
    actionIndex: where.actionIndex,
    taskIndex: where.taskIndex,
    actionName: where.actionName,
    name: r(task.name, 'name'),
    image,
    imagePullPolicy,
    cmd: (task.cmd ?? []).map((v, i) => r(v, `cmd[${i}]`, 'expanded')),
    args: (task.args ?? []).map((v, i) => r(v, `args[${i}]`, 'expanded')),
    env: resolveEnv(task, rc, field),
    files,
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
  const rc = renderContext(event);
  return matched.map((m) => ({
    index: m.index,
    name: m.action.name,
    silent: m.action.silent,
    tasks: m.action.tasks.map((t, taskIndex) => {
      const spec = renderTask(t, rc, { actionIndex: m.index, taskIndex, actionName: m.action.name });
      return taskDeadlineSeconds > 0 && spec.maxPollDuration > taskDeadlineSeconds
        ? { ...spec, maxPollDuration: taskDeadlineSeconds }
        : spec;
    }),
  }));
}
