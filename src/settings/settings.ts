import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { JobExecutorError } from '../errors.js';

/**
 * The service's settings: each has a CLI flag and environment variables (JES names where JES had them),
 * one default, one description, one parser. The README's settings table is generated from this list
 * (`job-executor settings --markdown`), and a test keeps them in step.
 */
interface SettingDef<T> {
  readonly flag: string;
  readonly env: readonly string[];
  readonly default?: string;
  readonly description: string;
  /** Never printed: tokens. */
  readonly secret?: boolean;
  /** A switch: `--flag` alone means true. */
  readonly boolean?: boolean;
  readonly schema: z.ZodType<T>;
  /** Defaults that depend on the runner (`--runner`), over `default`. */
  readonly runnerDefaults?: Readonly<Record<string, string>>;
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const posInt = z.coerce.number().int().positive();
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);

/** Keeps each entry's own type (its schema's output, whether it has a default) for `Settings`. */
function def<const D extends SettingDef<unknown>>(d: D): D {
  return d;
}

export const SETTINGS = {
  host: def({
    flag: 'host',
    env: ['JOB_EXECUTOR_HOST'],
    default: '127.0.0.1',
    description: 'Address the HTTP server listens on (use 0.0.0.0 in a container)',
    schema: z.string().min(1),
  }),
  port: def({
    flag: 'port',
    env: ['JOB_EXECUTOR_PORT', 'RCV_PORT'],
    default: '8080',
    description: 'HTTP port for events, health and the API',
    schema: z.coerce.number().int().min(0).max(65535),
  }),
  config: def({
    flag: 'config',
    env: ['JOB_CONFIG'],
    default: 'job-config',
    description:
      'A job/config.yaml file, or a directory laid out by scope (<project>/<stage>/<service>/job/config.yaml)',
    schema: z.string().min(1),
  }),
  runner: def({
    flag: 'runner',
    env: ['JOB_RUNNER'],
    default: 'local',
    description: 'Where tasks run: `local` (child processes) or `kubernetes` (Jobs; in-cluster config or KUBECONFIG)',
    schema: z.enum(['local', 'kubernetes']),
  }),
  sink: def({
    flag: 'sink',
    env: ['JOB_EXECUTOR_SINK'],
    default: 'auto',
    description:
      'Where answers go, comma-separated: `stdout`, `file:PATH`, `keptn-api`, `distributor`, `nats`, `http:URL`; `auto` answers the way events came in: `stdout` for `http`, `keptn-api` for `keptn-api`, `nats` for `nats`',
    schema: list.pipe(z.array(z.string()).min(1)),
  }),
  keptnApiEndpoint: def({
    flag: 'keptn-api-endpoint',
    env: ['KEPTN_API_ENDPOINT'],
    description: 'Keptn API base, e.g. http://api-gateway-nginx.keptn/api (for the keptn-api sink)',
    schema: z.url(),
  }),
  keptnApiToken: def({
    flag: 'keptn-api-token',
    env: ['KEPTN_API_TOKEN'],
    description: 'Keptn API token, sent as x-token',
    secret: true,
    schema: z.string(),
  }),
  pubsubUrl: def({
    flag: 'pubsub-url',
    env: ['PUBSUB_URL'],
    description:
      "With `--transport nats`: the NATS server(s), comma-separated (default `nats://keptn-nats:4222`). Otherwise: the distributor's event endpoint for the `distributor` sink (default `http://localhost:8081/event`)",
    schema: z.string().min(1),
  }),
  transport: def({
    flag: 'transport',
    env: ['JOB_EXECUTOR_TRANSPORT'],
    default: 'http',
    description:
      "How events come in: `http` (pushed to POST /: distributor, webhook, any CloudEvents producer), `keptn-api` (register with Keptn and poll its API: a remote execution plane), `nats` (subscribe to Keptn's NATS, in the cluster). The HTTP server runs in every mode",
    schema: z.enum(['http', 'keptn-api', 'nats']),
  }),
  pubsubTopic: def({
    flag: 'pubsub-topic',
    env: ['PUBSUB_TOPIC'],
    default:
      'sh.keptn.event.deployment.triggered,sh.keptn.event.test.triggered,sh.keptn.event.evaluation.triggered,sh.keptn.event.release.triggered,sh.keptn.event.approval.triggered,sh.keptn.event.action.triggered',
    description:
      "Event types to subscribe to, comma-separated (JES's list by default). `nats` allows wildcards (`sh.keptn.event.*.triggered`); `keptn-api` needs concrete types",
    schema: list.pipe(z.array(z.string()).min(1)),
  }),
  pubsubTopicSync: def({
    flag: 'pubsub-topic-sync',
    env: ['PUBSUB_TOPIC_SYNC'],
    default: 'add',
    description:
      '`keptn-api`: Keptn keeps the subscriptions of the first registration, so at start the service updates them: `add` subscribes to PUBSUB_TOPIC types Keptn lacks and keeps the others (Bridge edits), `replace` also removes those PUBSUB_TOPIC does not list, `off` only warns',
    schema: z.enum(['add', 'replace', 'off']),
  }),
  pubsubGroup: def({
    flag: 'pubsub-group',
    env: ['PUBSUB_GROUP'],
    default: 'job-executor',
    description: '`nats`: queue group; replicas in one group share the events, each event goes to one of them',
    schema: z.string().min(1),
  }),
  integrationName: def({
    flag: 'integration-name',
    env: ['JOB_EXECUTOR_INTEGRATION_NAME'],
    default: 'job-executor-service',
    description: "`keptn-api`: the name registered with Keptn (shown in Bridge's Uniform page)",
    schema: z.string().min(1),
  }),
  k8sNamespace: def({
    flag: 'k8s-namespace',
    env: ['K8S_NAMESPACE'],
    description: "`keptn-api` registration: the service's namespace (default: the pod's, else `default`)",
    schema: z.string().min(1),
  }),
  k8sPodName: def({
    flag: 'k8s-pod-name',
    env: ['K8S_POD_NAME'],
    description: '`keptn-api` registration: the pod name',
    schema: z.string().min(1),
  }),
  k8sDeploymentName: def({
    flag: 'k8s-deployment-name',
    env: ['K8S_DEPLOYMENT_NAME'],
    description: '`keptn-api` registration: the deployment name',
    schema: z.string().min(1),
  }),
  k8sNodeName: def({
    flag: 'k8s-node-name',
    env: ['K8S_NODE_NAME'],
    description:
      "`keptn-api` registration: the hostname Keptn identifies the integration by (default: this host's name)",
    schema: z.string().min(1),
  }),
  k8sDeploymentVersion: def({
    flag: 'k8s-deployment-version',
    env: ['K8S_DEPLOYMENT_VERSION'],
    description: "`keptn-api` registration: the integration version (default: this package's version)",
    schema: z.string().min(1),
  }),
  location: def({
    flag: 'location',
    env: ['LOCATION'],
    default: 'control-plane',
    description: '`keptn-api` registration: where the integration runs, as Bridge shows it',
    schema: z.string().min(1),
  }),
  pollInterval: def({
    flag: 'poll-interval-ms',
    env: ['JOB_EXECUTOR_POLL_INTERVAL_MS'],
    default: '1000',
    description: '`keptn-api`: milliseconds between polls for open .triggered events (per subscription)',
    schema: posInt,
  }),
  heartbeatInterval: def({
    flag: 'heartbeat-interval-ms',
    env: ['JOB_EXECUTOR_HEARTBEAT_INTERVAL_MS'],
    default: '5000',
    description:
      '`keptn-api`: milliseconds between registration heartbeats (they also fetch subscriptions edited in Bridge)',
    schema: posInt,
  }),
  keptnApiTimeout: def({
    flag: 'keptn-api-timeout',
    env: ['API_PROXY_HTTP_TIMEOUT'],
    default: '30',
    description: 'Seconds one call to the Keptn API or the resource service may take',
    schema: posInt,
  }),
  configSource: def({
    flag: 'config-source',
    env: ['JOB_CONFIG_SOURCE'],
    default: 'local',
    description:
      "Where job/config.yaml and task files come from: `local` (the --config path) or `keptn` (Keptn's resource service, at the event's git commit)",
    schema: z.enum(['local', 'keptn']),
  }),
  resourceServiceUrl: def({
    flag: 'resource-service-url',
    env: ['RESOURCE_SERVICE_URL', 'CONFIGURATION_SERVICE'],
    description:
      '`--config-source keptn`: the resource service; default `KEPTN_API_ENDPOINT`/resource-service. In the cluster `http://resource-service:8080`; with the distributor `http://localhost:8081/resource-service`',
    schema: z.string().min(1),
  }),
  resourceUriEncoding: def({
    flag: 'resource-uri-encoding',
    env: ['RESOURCE_URI_ENCODING'],
    default: 'auto',
    description:
      "`--config-source keptn`: `double` (API gateway, or the resource service directly), `single` (the distributor's proxy); `auto` is `single` for localhost:8081, else `double`",
    schema: z.enum(['auto', 'single', 'double']),
  }),
  configCacheSeconds: def({
    flag: 'config-cache-seconds',
    env: ['JOB_CONFIG_CACHE_SECONDS'],
    default: '10',
    description: '`--config-source keptn`: seconds a lookup that can change is reused (configs at a commit are kept)',
    schema: z.coerce.number().int().min(0),
  }),
  allowedImages: def({
    flag: 'allowed-images',
    env: ['JOB_ALLOWED_IMAGE_LIST', 'ALLOWED_IMAGE_LIST'],
    default: '',
    description: 'Comma-separated image globs that may run; `*` allows all; empty allows none',
    schema: list,
  }),
  jobNamespace: def({
    flag: 'job-namespace',
    env: ['JOB_NAMESPACE'],
    default: 'default',
    description: 'Default namespace of jobs',
    schema: z.string().min(1),
  }),
  managedBy: def({
    flag: 'managed-by',
    env: ['FULL_DEPLOYMENT_NAME'],
    default: 'job-executor',
    description:
      'Kubernetes: value of app.kubernetes.io/managed-by on Jobs; how the service finds its own Jobs and claims',
    schema: z.string().regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'a label value'),
  }),
  jobServiceAccount: def({
    flag: 'job-service-account',
    env: ['DEFAULT_JOB_SERVICE_ACCOUNT'],
    description: 'Kubernetes: service account of Jobs that name none (they get no API token either way)',
    schema: z.string().min(1),
  }),
  limitsCpu: def({
    flag: 'default-limits-cpu',
    env: ['DEFAULT_RESOURCE_LIMITS_CPU'],
    default: '1',
    description: 'Kubernetes: CPU limit of tasks without resources',
    schema: z.string(),
  }),
  limitsMemory: def({
    flag: 'default-limits-memory',
    env: ['DEFAULT_RESOURCE_LIMITS_MEMORY'],
    default: '512Mi',
    description: 'Kubernetes: memory limit of tasks without resources',
    schema: z.string(),
  }),
  requestsCpu: def({
    flag: 'default-requests-cpu',
    env: ['DEFAULT_RESOURCE_REQUESTS_CPU'],
    default: '50m',
    description: 'Kubernetes: CPU request of tasks without resources',
    schema: z.string(),
  }),
  requestsMemory: def({
    flag: 'default-requests-memory',
    env: ['DEFAULT_RESOURCE_REQUESTS_MEMORY'],
    default: '128Mi',
    description: 'Kubernetes: memory request of tasks without resources',
    schema: z.string(),
  }),
  jobTtl: def({
    flag: 'job-ttl',
    env: ['JOB_TTL_SECONDS_AFTER_FINISHED'],
    default: '21600',
    description: 'Kubernetes: seconds a finished Job is kept, when the task says nothing (minimum 60)',
    schema: posInt,
  }),
  keptnVolumeSize: def({
    flag: 'keptn-volume-size',
    env: ['JOB_KEPTN_VOLUME_SIZE'],
    default: '20Mi',
    description: 'Kubernetes: size limit of the writable /keptn volume, when the task says nothing',
    schema: z.string().regex(/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/),
  }),
  imagePullSecrets: def({
    flag: 'image-pull-secrets',
    env: ['JOB_IMAGE_PULL_SECRETS'],
    default: '',
    description: 'Kubernetes: Secrets every Job pulls images with (comma-separated)',
    schema: list,
  }),
  deleteOnTimeout: def({
    flag: 'delete-on-timeout',
    env: ['JOB_DELETE_ON_TIMEOUT'],
    default: 'true',
    description:
      'Kubernetes: delete a Job that ran past its deadline or cannot start (background propagation); false keeps it for inspection',
    schema: bool,
  }),
  taskDeadline: def({
    flag: 'task-deadline',
    env: ['TASK_DEADLINE_SECONDS'],
    default: '0',
    description: "Upper bound for every task's maxPollDuration in seconds (0: none), as JES's TASK_DEADLINE_SECONDS",
    schema: z.coerce.number().int().nonnegative(),
  }),
  instanceId: def({
    flag: 'instance-id',
    env: ['JOB_EXECUTOR_INSTANCE_ID', 'POD_NAME'],
    description:
      'Kubernetes: who holds a run claim (default: the host name); stable across restarts of one instance, distinct between replicas',
    schema: z.string().min(1),
  }),
  allowedNamespaces: def({
    flag: 'allowed-namespaces',
    env: ['JOB_ALLOWED_NAMESPACES'],
    default: '',
    description: 'Other namespaces a task may name (`*` for any); the default namespace is always allowed',
    schema: list,
  }),
  allowPrivileged: def({
    flag: 'allow-privileged',
    boolean: true,
    env: ['ALLOW_PRIVILEGED_JOBS'],
    default: 'false',
    description: 'Allow tasks with securityContext.privileged: true',
    schema: bool,
  }),
  concurrency: def({
    flag: 'concurrency',
    env: ['JOB_CONCURRENCY'],
    default: '4',
    runnerDefaults: { kubernetes: '64' },
    description:
      'Runs carried out at the same time; by default 4 with the local runner (its tasks share this machine) and 64 with the Kubernetes runner (its tasks run in the cluster: each run costs the service little more than a watch entry)',
    schema: posInt,
  }),
  queueSize: def({
    flag: 'queue-size',
    env: ['JOB_QUEUE_SIZE'],
    default: '100',
    description: 'Runs waiting beyond that; more are refused with 503',
    schema: posInt,
  }),
  queueMaxBytes: def({
    flag: 'queue-max-bytes',
    env: ['JOB_QUEUE_MAX_BYTES'],
    default: String(16 * 1024 * 1024),
    description:
      'Bytes of events (as JSON) the queued and running runs may hold together; more are refused with 503 like a full queue (one run always fits)',
    schema: posInt,
  }),
  dedupWindow: def({
    flag: 'dedup-window',
    env: ['JOB_DEDUP_WINDOW_SECONDS'],
    default: '600',
    description: 'Seconds an event id is remembered so a redelivery is answered once',
    schema: posInt,
  }),
  messageLogBytes: def({
    flag: 'log-max-bytes',
    env: ['JOB_LOG_MAX_BYTES'],
    default: '65536',
    description: 'Bytes of task logs in one .finished message (the tail is kept, cut on a UTF-8 boundary)',
    schema: posInt,
  }),
  runLogBytes: def({
    flag: 'run-log-max-bytes',
    env: ['JOB_RUN_LOG_MAX_BYTES'],
    default: String(4 * 1024 * 1024),
    description: 'Bytes of log lines the run store keeps per run',
    schema: posInt,
  }),
  answerMaxBytes: def({
    flag: 'answer-max-bytes',
    env: ['JOB_ANSWER_MAX_BYTES'],
    default: '65536',
    description:
      'Largest answer event, as JSON bytes (Keptn refuses events over 64 KiB): task logs are cut to fit; an answer refused as too large anyway is sent again shortened',
    schema: z.coerce.number().int().min(4096),
  }),
  runStoreBytes: def({
    flag: 'run-store-max-bytes',
    env: ['JOB_RUN_STORE_MAX_BYTES'],
    default: String(32 * 1024 * 1024),
    description:
      'Bytes the in-memory run history may take in all (events, kept log lines, answers); the oldest finished runs go first',
    schema: posInt,
  }),
  dedupMaxBytes: def({
    flag: 'dedup-max-bytes',
    env: ['JOB_DEDUP_MAX_BYTES'],
    default: String(8 * 1024 * 1024),
    description: 'Bytes the dedup window may hold (event ids); past it the oldest ids are forgotten first',
    schema: posInt,
  }),
  journal: def({
    flag: 'journal',
    env: ['JOB_JOURNAL'],
    default: 'true',
    description:
      "Local runner: keep a journal of open runs under --work-dir (fsync'd), so that after a crash every open run is answered once and its processes are stopped",
    schema: bool,
  }),
  history: def({
    flag: 'history',
    env: ['JOB_RUN_HISTORY'],
    default: '200',
    description: 'Finished runs kept in memory for the API',
    schema: posInt,
  }),
  bodyLimit: def({
    flag: 'body-limit',
    env: ['JOB_EXECUTOR_BODY_LIMIT'],
    default: '1mb',
    description: 'Largest event body accepted (413 above)',
    schema: z.string().regex(/^\d+(b|kb|mb)?$/i),
  }),
  authToken: def({
    flag: 'auth-token',
    env: ['JOB_EXECUTOR_AUTH_TOKEN'],
    description: 'If set, POST / requires Authorization: Bearer <token>',
    secret: true,
    schema: z.string().min(1),
  }),
  secretsDir: def({
    flag: 'secrets-dir',
    env: ['JOB_SECRETS_DIR'],
    description: 'Local runner: secrets as files, <dir>/<secret-name>/<key>',
    schema: z.string().min(1),
  }),
  workDir: def({
    flag: 'work-dir',
    env: ['JOB_WORK_DIR'],
    default: path.join(os.tmpdir(), 'job-executor'),
    description: 'Local runner: where per-run directories (the /keptn of each task) are made',
    schema: z.string().min(1),
  }),
  keepWorkDirs: def({
    flag: 'keep-work-dirs',
    boolean: true,
    env: ['JOB_KEEP_WORK_DIRS'],
    default: 'false',
    description: 'Local runner: keep per-run directories after the run, for debugging',
    schema: bool,
  }),
  passEnv: def({
    flag: 'pass-env',
    env: ['JOB_LOCAL_PASS_ENV'],
    default: 'PATH,HOME,LANG,LC_ALL,TZ,TMPDIR',
    description: "Local runner: variables of the service's environment a task inherits",
    schema: list,
  }),
  localMaxOutputBytes: def({
    flag: 'local-max-output-bytes',
    env: ['JOB_LOCAL_MAX_OUTPUT_BYTES'],
    default: String(1024 * 1024),
    description: 'Local runner: bytes of $KEPTN_OUTPUT read back; a task that writes more fails, naming this limit',
    schema: posInt,
  }),
  localCgroup: def({
    flag: 'local-cgroup',
    env: ['JOB_LOCAL_CGROUP'],
    default: 'auto',
    description:
      "Local runner: contain each task in a cgroup v2 (its end, timeout or cancel kills every process in it, also those that left the process group): `auto` below the service's own cgroup where it may create one, `off`, or the absolute path of a cgroup folder to use",
    schema: z.union([z.enum(['auto', 'off']), z.string().regex(/^\//, 'auto, off or an absolute path')]),
  }),
  alwaysSendFinished: def({
    flag: 'always-send-finished',
    boolean: true,
    env: ['ALWAYS_SEND_FINISHED_EVENT'],
    default: 'false',
    description: 'Answer .started/.finished errored when the config is missing or invalid, instead of only logging',
    schema: bool,
  }),
  eventSource: def({
    flag: 'event-source',
    env: ['JOB_EXECUTOR_EVENT_SOURCE'],
    default: 'job-executor-service',
    description: "`source` of the events sent (JES's name by default, so Keptn views keep working)",
    schema: z.string().min(1),
  }),
  deliveryAttempts: def({
    flag: 'delivery-attempts',
    env: ['JOB_DELIVERY_MAX_ATTEMPTS'],
    default: '10',
    description: 'Attempts to deliver one answer (backoff from 200 ms to 30 s) before it is logged as lost',
    schema: posInt,
  }),
  shutdownGrace: def({
    flag: 'shutdown-grace',
    env: ['JOB_SHUTDOWN_GRACE_SECONDS'],
    default: '30',
    description: 'On SIGTERM: seconds running tasks may finish before they are stopped',
    schema: posInt,
  }),
  publicUrl: def({
    flag: 'public-url',
    env: ['JOB_EXECUTOR_PUBLIC_URL'],
    description: 'Base URL of this service, for links to runs in messages',
    schema: z.url(),
  }),
  logLevel: def({
    flag: 'log-level',
    env: ['LOG_LEVEL'],
    default: 'info',
    description: 'trace, debug, info, warn, error',
    schema: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  }),
  logFormat: def({
    flag: 'log-format',
    env: ['LOG_FORMAT'],
    default: 'json',
    description: '`json` (one object per line on stderr) or `pretty`',
    schema: z.enum(['json', 'pretty']),
  }),
} as const;

export type SettingKey = keyof typeof SETTINGS;

/** The settings that shape a Kubernetes Job when a task says nothing (`run` and `render` take them all). */
export const JOB_SPEC_SETTINGS: readonly SettingKey[] = [
  'managedBy',
  'jobServiceAccount',
  'limitsCpu',
  'limitsMemory',
  'requestsCpu',
  'requestsMemory',
  'jobTtl',
  'keptnVolumeSize',
  'imagePullSecrets',
];
type Out<K extends SettingKey> = z.output<(typeof SETTINGS)[K]['schema']>;
type WithDefault = { [K in SettingKey]: (typeof SETTINGS)[K] extends { default: string } ? K : never }[SettingKey];
export type Settings = Readonly<{ [K in WithDefault]: Out<K> } & { [K in Exclude<SettingKey, WithDefault>]?: Out<K> }>;

/**
 * Settings from flags (which win) and the environment, validated; throws SETTINGS_INVALID naming the flag
 * and variable at fault. The result is frozen.
 */
export function loadSettings(
  flags: Readonly<Record<string, string | boolean | undefined>>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Settings {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, d] of Object.entries(SETTINGS) as Array<[SettingKey, SettingDef<unknown>]>) {
    const flag = flags[d.flag];
    let raw: string | undefined;
    let from = `--${d.flag}`;
    if (flag !== undefined) raw = typeof flag === 'boolean' ? String(flag) : flag;
    else {
      const name = d.env.find((n) => env[n] !== undefined && env[n] !== '');
      if (name) {
        raw = env[name];
        from = name;
      }
    }
    raw ??= d.runnerDefaults?.[String(out.runner)] ?? d.default;
    if (raw === undefined) continue;
    const parsed = d.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else {
      const shown = d.secret ? '(hidden)' : JSON.stringify(raw);
      problems.push(
        `${from} (${[`--${d.flag}`, ...d.env].filter((n) => n !== from).join(', ')}): ${parsed.error.issues[0]?.message ?? 'invalid'}, got ${shown}`,
      );
    }
  }
  if (problems.length > 0)
    throw new JobExecutorError('SETTINGS_INVALID', `invalid settings:\n  ${problems.join('\n  ')}`);
  return Object.freeze(out) as Settings;
}

/** The flags for node:util parseArgs. */
export function settingFlags(keys: readonly SettingKey[]): Record<string, { type: 'string' | 'boolean' }> {
  return Object.fromEntries(
    keys.map((k) => {
      const d: SettingDef<unknown> = SETTINGS[k];
      return [d.flag, { type: d.boolean ? ('boolean' as const) : ('string' as const) }];
    }),
  );
}

/** The README table. */
export function settingsMarkdown(): string {
  const defs: SettingDef<unknown>[] = Object.values(SETTINGS);
  const rows = defs.map(
    (d) =>
      `| \`--${d.flag}\` | ${d.env.map((e) => `\`${e}\``).join(', ')} | ${d.default === undefined ? '' : `\`${d.default.includes(os.tmpdir()) ? d.default.replace(os.tmpdir(), '$TMPDIR') : d.default}\``} | ${d.description} |`,
  );
  return ['| flag | environment | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
