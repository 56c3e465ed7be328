import { z } from 'zod';
import { globProblem } from '../matching/glob.js';
import { isTemplate, templateProblem } from '../render/template-check.js';
import { LIMITS } from './limits.js';
import { envNameProblem, filesEntryProblem, secretNameProblem } from './rules.js';

/**
 * The one schema of `job/config.yaml` (apiVersion v2). It drives the loader, `lint`, the JSON Schema for
 * editors (`job-config/job-config.schema.json`) and the field reference (`job-config/REFERENCE.md`).
 * Every JES 0.3 field is here, with JES's strictness: unknown keys are errors (jes-anchor.md §1).
 */

/**
 * Everything that is a property of the config alone is checked here, so the loader, `lint` and `render` refuse
 * the same configs with the same messages: template syntax and helpers, globs, JSONPaths, names, `files`
 * paths and the size limits (src/config/limits.ts). What depends on the service (image allow-list, privilege)
 * is policy, checked by `lint` options and at run time.
 */

/** `.max()` with a message that names the limit. */
const most = (limit: number, what: string) => ({
  error: (issue: { input?: unknown }) => {
    const n = Array.isArray(issue.input) || typeof issue.input === 'string' ? ` (${issue.input.length})` : '';
    return `too many ${what}${n}: the limit is ${limit}`;
  },
});

const text = () => z.string().max(LIMITS.stringLength, most(LIMITS.stringLength, 'characters'));

/** A string field that is rendered with Handlebars: the template must be usable (checked without an event). */
const templated = (description: string) =>
  text()
    .superRefine((value, ctx) => {
      const problem = templateProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(`${description} (may be a Handlebars template)`);

/** A check that applies to the value as written; a template is checked after rendering instead. */
const literal = (check: (value: string) => string | undefined) => (value: string, ctx: z.RefinementCtx) => {
  if (isTemplate(value)) return;
  const problem = check(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
};

/** JSONPaths run with script evaluation off (configs are data), so filter and script expressions cannot work. */
export function jsonPathProblem(path: string): string | undefined {
  if (!path.startsWith('$')) return 'a JSONPath starts with "$", e.g. $.data.action.action';
  if (/\[\s*\??\s*\(/.test(path)) return 'JSONPath filter and script expressions ([?(...)], [(...)]) are not supported';
  return undefined;
}

export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

export const EnvSchema = z
  .object({
    name: templated(
      'Name of the environment variable (letters, digits, `_`, `-`, `.`); for `valueFrom: secret`, the name of the Secret',
    ).pipe(z.string().min(1, 'required')),
    value: templated('The value')
      .default('')
      .describe(
        'For `event`: a JSONPath into the event (`$.data.x`); for `string`: the literal value; ignored for `secret`',
      ),
    valueFrom: z
      .enum(['event', 'secret', 'string'], {
        error: (issue) =>
          issue.input === undefined
            ? 'required: one of event, secret, string'
            : `unknown valueFrom "${String(issue.input)}", use one of event, secret, string`,
      })
      .describe('Where the value comes from'),
    as: z
      .preprocess(
        (v) => (typeof v === 'string' ? v.toLowerCase() : v),
        z.enum(['string', 'json', 'yaml'], { error: 'one of string, json, yaml' }),
      )
      .optional()
      .describe('For `valueFrom: event`: how a non-string value is formatted (`json`, `yaml`, or Go-style `string`)'),
  })
  .strict()
  .superRefine((entry, ctx) => {
    // Runs also when a field failed; only look at what has the right type.
    if (typeof entry.name === 'string' && !isTemplate(entry.name)) {
      const problem = entry.valueFrom === 'secret' ? secretNameProblem(entry.name) : envNameProblem(entry.name);
      if (problem && entry.name !== '') ctx.addIssue({ code: 'custom', path: ['name'], message: problem });
    }
    if (entry.valueFrom === 'event' && typeof entry.value === 'string' && !isTemplate(entry.value)) {
      const problem = jsonPathProblem(entry.value);
      if (problem)
        ctx.addIssue({ code: 'custom', path: ['value'], message: `valueFrom event takes a JSONPath: ${problem}` });
    }
  })
  .describe('One environment variable, or one per key of a Secret');

const Quantity = z.string().describe('A Kubernetes quantity, e.g. `500m` or `128Mi`');
const ResourceList = z.object({ cpu: Quantity.optional(), memory: Quantity.optional() }).strict();

export const ResourcesSchema = z
  .object({ limits: ResourceList.optional(), requests: ResourceList.optional() })
  .strict()
  .describe('Resource limits and requests; when present, none of the service defaults apply (as in JES)');

export const SecurityContextSchema = z
  .object({
    capabilities: z
      .object({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() })
      .strict()
      .optional(),
    privileged: z.boolean().optional(),
    runAsUser: z.number().int().optional(),
    runAsGroup: z.number().int().optional(),
    runAsNonRoot: z.boolean().optional(),
    readOnlyRootFilesystem: z.boolean().optional(),
    allowPrivilegeEscalation: z.boolean().optional(),
    procMount: z.string().optional(),
    seccompProfile: z
      .object({ type: z.string().min(1), localhostProfile: z.string().optional() })
      .strict()
      .optional(),
  })
  .strict()
  .describe('Container security context, merged field by field over the restricted default');

export const TaskSchema = z
  .object({
    name: templated('Task name, shown in messages and labels').default(''),
    image: templated('Container image; checked against the image allow-list before anything runs').pipe(
      z.string().min(1, 'required'),
    ),
    imagePullPolicy: templated('Always, IfNotPresent or Never')
      .superRefine(
        literal((v) =>
          (PULL_POLICIES as readonly string[]).includes(v)
            ? undefined
            : `"${v}" is not one of ${PULL_POLICIES.join(', ')}`,
        ),
      )
      .optional(),
    cmd: z
      .array(templated('Program and its leading arguments (container `command`)'), {
        error: (issue) =>
          typeof issue.input === 'string'
            ? 'expected a list of strings, got a string: split the program and its arguments, e.g. cmd: ["ls"], args: ["-la"]'
            : undefined,
      })
      .max(LIMITS.argsPerTask, most(LIMITS.argsPerTask, 'cmd entries'))
      .superRefine((cmd, ctx) => {
        const [only] = cmd;
        if (cmd.length === 1 && only !== undefined && /\s/.test(only) && !isTemplate(only)) {
          ctx.addIssue({
            code: 'custom',
            path: [0],
            message: `"${only}" holds spaces: put the program in cmd and its arguments in args`,
          });
        }
      })
      .optional()
      .describe('The container `command`; `$(VAR)` expands as in Kubernetes'),
    args: z
      .array(templated('One argument'), {
        error: (issue) => (typeof issue.input === 'string' ? 'expected a list of strings, got a string' : undefined),
      })
      .max(LIMITS.argsPerTask, most(LIMITS.argsPerTask, 'args'))
      .optional()
      .describe('The container `args`; `$(VAR)` expands as in Kubernetes'),
    env: z
      .array(EnvSchema)
      .max(LIMITS.envPerTask, most(LIMITS.envPerTask, 'env entries'))
      .optional()
      .describe('Environment, in order; the built-ins come after it'),
    files: z
      .array(templated('A file or folder path below the config folder').superRefine(literal(filesEntryProblem)))
      .max(LIMITS.filesPerTask, most(LIMITS.filesPerTask, 'files entries'))
      .optional()
      .describe('Files or folders delivered under `/keptn/`'),
    workingDir: templated('Working directory').optional(),
    maxPollDuration: z
      .number()
      .int()
      .positive()
      // A timer of more than 2^31-1 ms fires at once in Node: the longest wait that means what it says (24.8 days).
      .max(2_147_483, 'at most 2147483 seconds (24.8 days)')
      .default(300)
      .describe('Seconds the task may run before it is stopped and answered as timed out (at most 2147483)'),
    namespace: templated('Kubernetes namespace of the Job').optional(),
    resources: ResourcesSchema.optional(),
    securityContext: SecurityContextSchema.optional(),
    serviceAccount: templated('Service account of the Job pod').optional(),
    ttlSecondsAfterFinished: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Seconds a finished Job is kept (minimum 60, default 21600)'),
    annotations: z.record(z.string(), z.string()).optional().describe('Annotations on the Job and its pod'),
    labels: z.record(z.string(), z.string()).optional().describe('Kubernetes: extra labels on the Job and its pod'),
    imagePullSecrets: z
      .array(z.string().min(1))
      .optional()
      .describe('Kubernetes: Secrets to pull a private image with'),
    nodeSelector: z.record(z.string(), z.string()).optional().describe('Kubernetes: node labels the pod must run on'),
    tolerations: z
      .array(
        z
          .object({
            key: z.string().optional(),
            operator: z.enum(['Exists', 'Equal']).optional(),
            value: z.string().optional(),
            effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
            tolerationSeconds: z.number().int().optional(),
          })
          .strict(),
      )
      .optional()
      .describe('Kubernetes: taints the pod tolerates'),
    keptnVolumeSize: z
      .string()
      .regex(/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'a Kubernetes quantity such as 20Mi or 1Gi')
      .optional()
      .describe('Kubernetes: size limit of the writable /keptn volume (default from the service, 20Mi)'),
    onError: z
      .enum(['fail', 'warn', 'ignore'])
      .default('fail')
      .describe(
        'On failure: `fail` stops the run (errored/fail), `warn` goes on and the run ends with result warning, `ignore` goes on',
      ),
  })
  .strict()
  .describe('One container run, in order');

export const EventSchema = z
  .object({
    name: text()
      .min(1, 'required')
      .superRefine(literal(globProblem))
      .describe(
        'CloudEvent type, an anchored glob: `*` matches any characters, `?` one, `{a,b}` either (`sh.keptn.event.*.triggered`)',
      ),
    jsonpath: z
      .object({
        property: text()
          .min(1, 'required')
          .superRefine(literal(jsonPathProblem))
          .describe('JSONPath into the event, e.g. `$.data.action.action`'),
        match: text().describe('The value, compared with the string form of the result'),
      })
      .strict()
      .optional()
      .describe('Optional filter on the event content'),
  })
  .strict()
  .describe('Selects events by type and, optionally, content');

export const ActionSchema = z
  .object({
    name: z.string().default('').describe('Action name'),
    events: z
      .array(EventSchema)
      .max(LIMITS.eventsPerAction, most(LIMITS.eventsPerAction, 'events'))
      .default([])
      .describe('The action matches when any entry matches'),
    tasks: z
      .array(TaskSchema)
      .max(LIMITS.tasksPerAction, most(LIMITS.tasksPerAction, 'tasks'))
      .default([])
      .describe('Run in order'),
    silent: z.boolean().default(false).describe('Run without sending `.started`/`.finished`'),
  })
  .strict()
  .describe('A set of tasks run for matching events');

export const JobConfigSchema = z
  .object({
    apiVersion: z
      .string({ error: 'apiVersion must be specified' })
      .refine((v) => v === 'v2', {
        error: (issue) => `apiVersion ${String(issue.input)} is not supported, use v2`,
      })
      .describe('Always `v2` (the JES config version)'),
    actions: z
      .array(ActionSchema)
      .max(LIMITS.actions, most(LIMITS.actions, 'actions'))
      .default([])
      .describe('All matching actions run, in order, as one run'),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (!Array.isArray(config.actions)) return;
    const tasks = config.actions.reduce((n, a) => n + (Array.isArray(a?.tasks) ? a.tasks.length : 0), 0);
    if (tasks > LIMITS.tasksPerConfig) {
      ctx.addIssue({
        code: 'custom',
        path: ['actions'],
        message: `too many tasks in the config (${tasks}): the limit is ${LIMITS.tasksPerConfig}, as all of them can run in one run`,
      });
    }
  })
  .describe('job/config.yaml of the job executor (JES apiVersion v2 compatible)');

export type JobConfig = z.output<typeof JobConfigSchema>;
export type Action = z.output<typeof ActionSchema>;
export type Task = z.output<typeof TaskSchema>;
export type EnvEntry = z.output<typeof EnvSchema>;
export type SecurityContext = z.output<typeof SecurityContextSchema>;
export type Resources = z.output<typeof ResourcesSchema>;
