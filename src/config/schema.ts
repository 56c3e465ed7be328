import { z } from 'zod';

/**
 * The one schema of `job/config.yaml` (apiVersion v2). It drives the loader, `lint`, the JSON Schema for
 * editors (`job-config/job-config.schema.json`) and the field reference (`job-config/REFERENCE.md`).
 * Every JES 0.3 field is here, with JES's strictness: unknown keys are errors (jes-anchor.md §1).
 */

const templated = (description: string) => z.string().describe(`${description} (may be a Handlebars template)`);

export const EnvSchema = z
  .object({
    name: z.string().min(1).describe('Name of the environment variable; for `valueFrom: secret`, the name of the Secret'),
    value: z
      .string()
      .default('')
      .describe('For `event`: a JSONPath into the event (`$.data.x`); for `string`: the literal value; ignored for `secret`'),
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
    image: templated('Container image; checked against the image allow-list before anything runs').default(''),
    imagePullPolicy: templated('Always, IfNotPresent or Never').optional(),
    cmd: z
      .array(templated('Program and its leading arguments (container `command`)'), {
        error: (issue) =>
          typeof issue.input === 'string'
            ? 'expected a list of strings, got a string: split the program and its arguments, e.g. cmd: ["ls"], args: ["-la"]'
            : undefined,
      })
      .optional()
      .describe('The container `command`; `$(VAR)` expands as in Kubernetes'),
    args: z
      .array(templated('One argument'), {
        error: (issue) => (typeof issue.input === 'string' ? 'expected a list of strings, got a string' : undefined),
      })
      .optional()
      .describe('The container `args`; `$(VAR)` expands as in Kubernetes'),
    env: z.array(EnvSchema).optional().describe('Environment, in order; the built-ins come after it'),
    files: z.array(templated('A file or folder path')).optional().describe('Files or folders delivered under `/keptn/`'),
    workingDir: templated('Working directory').optional(),
    maxPollDuration: z
      .number()
      .int()
      .positive()
      .default(300)
      .describe('Seconds the task may run before it is stopped and answered as timed out'),
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
    imagePullSecrets: z.array(z.string().min(1)).optional().describe('Kubernetes: Secrets to pull a private image with'),
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
      .describe('On failure: `fail` stops the run (errored/fail), `warn` goes on and the run ends with result warning, `ignore` goes on'),
  })
  .strict()
  .describe('One container run, in order');

export const EventSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .describe('CloudEvent type, an anchored glob: `*` matches any characters (`sh.keptn.event.*.triggered`)'),
    jsonpath: z
      .object({
        property: z.string().min(1).describe('JSONPath into the event, e.g. `$.data.action.action`'),
        match: z.string().describe('The value, compared with the string form of the result'),
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
    events: z.array(EventSchema).default([]).describe('The action matches when any entry matches'),
    tasks: z.array(TaskSchema).default([]).describe('Run in order'),
    silent: z.boolean().default(false).describe('Run without sending `.started`/`.finished`'),
  })
  .strict()
  .describe('A set of tasks run for matching events');

export const JobConfigSchema = z
  .object({
    apiVersion: z.string({ error: 'apiVersion must be specified' }).refine((v) => v === 'v2', {
      error: (issue) => `apiVersion ${String(issue.input)} is not supported, use v2`,
    }).describe('Always `v2` (the JES config version)'),
    actions: z.array(ActionSchema).default([]).describe('All matching actions run, in order, as one run'),
  })
  .strict()
  .describe('job/config.yaml of the job executor (JES apiVersion v2 compatible)');

export type JobConfig = z.output<typeof JobConfigSchema>;
export type Action = z.output<typeof ActionSchema>;
export type Task = z.output<typeof TaskSchema>;
export type EnvEntry = z.output<typeof EnvSchema>;
export type SecurityContext = z.output<typeof SecurityContextSchema>;
export type Resources = z.output<typeof ResourcesSchema>;
