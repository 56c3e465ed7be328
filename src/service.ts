import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createConfigSource } from './config/sources/create.js';
import type { ConfigSource } from './config/source.js';
import { Executor } from './executor/executor.js';
import { Outbox } from './executor/outbox.js';
import { RunStore } from './executor/run-store.js';
import { planIntake, type IntakePlan } from './keptn/transports/create.js';
import { Metrics } from './metrics/metrics.js';
import type { Sink } from './keptn/sinks/sink.js';
import type { PolicySettings } from './policy/checks.js';
import { imagePolicy } from './policy/images.js';
import os from 'node:os';
import path from 'node:path';
import { JournalClaims } from './executor/journal-claims.js';
import { RunJournal } from './executor/journal.js';
import type { RunClaims } from './executor/claims.js';
import type { Runner } from './runners/runner.js';
import type { JobDefaults } from './runners/kubernetes/job-spec.js';
import { LocalRunner } from './runners/local/local-runner.js';
import { DirectorySecretStore } from './runners/local/secrets.js';
import { createApp } from './server/app.js';
import type { Settings } from './settings/settings.js';

export interface Service {
  readonly executor: Executor;
  readonly store: RunStore;
  readonly outbox: Outbox;
  readonly configSource: ConfigSource;
  readonly runner: Runner;
  /** This service's own Prometheus registry and counters (also handed to runners that report API errors). */
  readonly metrics: Metrics;
  /** How events come in (--transport) and go out by default. */
  readonly intake: IntakePlan;
}

export interface ServiceOverrides {
  readonly sinks?: Sink[];
  /**
   * Keep the local runner's journal (settings.journal). `job-executor run` does not: its one run ends with the
   * process, and a second `run` of the same event file must run again.
   */
  readonly journal?: boolean;
}

export interface RunnerParts {
  readonly runner: Runner;
  readonly claims?: RunClaims;
}

export async function createRunner(settings: Settings, logger: Logger, metrics?: Metrics): Promise<RunnerParts> {
  if (settings.runner === 'kubernetes') {
    // Loaded only when used. The runner speaks to the API server through its own small client: client-node's
    // barrel (every generated API and model) alone added about 50 MB to the process (bench/module-cost.mjs).
    const [{ KubernetesClaims }, { apiStatus, kubeApi }, { KubernetesRunner }] = await Promise.all([
      import('./runners/kubernetes/claims.js'),
      import('./runners/kubernetes/kube-client.js'),
      import('./runners/kubernetes/kubernetes-runner.js'),
    ]);
    const api = kubeApi();
    const onApiError = (operation: string, e: unknown) => metrics?.kubernetesApiError(operation, apiStatus(e));
    const claims = new KubernetesClaims({
      api,
      namespace: settings.jobNamespace,
      managedBy: settings.managedBy,
      identity: settings.instanceId ?? os.hostname(),
      renewMs: 10_000,
      staleMs: 45_000,
      retentionMs: settings.dedupWindow * 1000,
      logger,
      onApiError,
    });
    const runner = new KubernetesRunner({
      api,
      defaults: jobDefaults(settings),
      deleteOnTimeout: settings.deleteOnTimeout,
      // The tail the answer can show, as for the local runner: the run store keeps every line apart from it.
      maxLogBytes: settings.messageLogBytes,
      logger,
      onApiError,
      // A Job of the run shows that its .started went out: the claim need not be written for it.
      onJob: (event, namespace) => claims.jobMade(event, namespace),
    });
    return { runner, claims };
  }
  const runner = new LocalRunner({
    workDir: settings.workDir,
    secrets: new DirectorySecretStore(settings.secretsDir),
    passEnv: settings.passEnv,
    // The tail the answer can show: the run store keeps every line (up to its own cap) apart from it.
    maxLogBytes: settings.messageLogBytes,
    maxOutputBytes: settings.localMaxOutputBytes,
    cgroup: settings.localCgroup,
    killGraceMs: 5000,
    keepWorkDirs: settings.keepWorkDirs,
    logger,
  });
  return { runner };
}

/** What the policy allows, from the settings (the image policy may be passed in when already made). */
export function policyFromSettings(settings: Settings, images = imagePolicy(settings.allowedImages)): PolicySettings {
  return {
    images,
    allowedNamespaces: settings.allowedNamespaces,
    defaultNamespace: settings.jobNamespace,
    allowPrivileged: settings.allowPrivileged,
  };
}

/** The service's defaults for Jobs, from its settings. */
export function jobDefaults(settings: Settings): JobDefaults {
  return {
    namespace: settings.jobNamespace,
    managedBy: settings.managedBy,
    ...(settings.jobServiceAccount ? { serviceAccount: settings.jobServiceAccount } : {}),
    resources: {
      limits: { cpu: settings.limitsCpu, memory: settings.limitsMemory },
      requests: { cpu: settings.requestsCpu, memory: settings.requestsMemory },
    },
    ttlSecondsAfterFinished: settings.jobTtl,
    keptnVolumeSize: settings.keptnVolumeSize,
    imagePullSecrets: settings.imagePullSecrets,
  };
}

/** The embedded default's durable claims: a journal of open runs below the work directory. */
async function journalClaims(settings: Settings, logger: Logger): Promise<RunClaims> {
  const journal = await RunJournal.openIn({
    dir: path.join(settings.workDir, 'journal'),
    retentionMs: settings.dedupWindow * 1000,
    maxClosedBytes: settings.dedupMaxBytes,
    compactBytes: 4 * 1024 * 1024,
    logger,
  });
  return new JournalClaims(journal);
}

/** Everything but the HTTP server: used by `serve` and by `run`. */
export async function createService(
  settings: Settings,
  logger: Logger,
  overrides: ServiceOverrides = {},
): Promise<Service> {
  // The way events come in decides the default way out (--sink auto); checked before anything starts.
  const intake = planIntake(settings, logger);
  const configSource = await createConfigSource(settings, logger);
  const images = imagePolicy(settings.allowedImages);
  if (images.allowAll) logger.warn('JOB_ALLOWED_IMAGE_LIST contains "*": every image may run');
  else if (images.patterns.length === 0)
    logger.warn('JOB_ALLOWED_IMAGE_LIST is empty: no task will run until images are allowed');
  const store = new RunStore(settings.history, settings.runLogBytes, settings.runStoreBytes);
  const outbox = new Outbox(overrides.sinks ?? intake.sinks(), {
    observers: intake.observers(),
    maxAttempts: settings.deliveryAttempts,
    baseDelayMs: 200,
    maxDelayMs: 30_000,
    logger,
  });
  // Made before the runner so a runner can report into it (kubernetes_api_errors_total).
  const metrics = new Metrics();
  const parts = await createRunner(settings, logger, metrics);
  const { runner } = parts;
  const claims =
    parts.claims ??
    (settings.runner === 'local' && settings.journal && overrides.journal !== false
      ? await journalClaims(settings, logger)
      : undefined);
  const publicUrl = settings.publicUrl?.replace(/\/+$/, '');
  const executor = new Executor({
    configSource,
    runner,
    outbox,
    store,
    logger,
    policy: policyFromSettings(settings, images),
    concurrency: settings.concurrency,
    queueSize: settings.queueSize,
    queueMaxBytes: settings.queueMaxBytes,
    dedupWindowMs: settings.dedupWindow * 1000,
    messageLogBytes: settings.messageLogBytes,
    maxEventBytes: settings.answerMaxBytes,
    dedupMaxBytes: settings.dedupMaxBytes,
    eventSource: settings.eventSource,
    alwaysSendFinished: settings.alwaysSendFinished,
    subscribedByName: (type) => intake.subscribedByName().has(type),
    taskDeadlineSeconds: settings.taskDeadline,
    ...(claims ? { claims } : {}),
    ...(publicUrl ? { runUrl: (id: string) => `${publicUrl}/api/runs/${id}` } : {}),
  });
  metrics.watch({ executor, store, outbox });
  return { executor, store, outbox, configSource, runner, metrics, intake };
}

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  /** Stops taking events, lets runs finish within the grace period, delivers answers, closes the port. */
  close(): Promise<void>;
}

export async function startServer(settings: Settings, logger: Logger, service: Service): Promise<RunningServer> {
  const app = createApp({
    executor: service.executor,
    store: service.store,
    logger,
    bodyLimit: settings.bodyLimit,
    metrics: service.metrics,
    ...(settings.authToken ? { authToken: settings.authToken } : {}),
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(settings.port, settings.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  // Headers must come within 10 s and the whole request within 30 s (the body has its own 10 s limit in the
  // app): a client that trickles bytes cannot hold a connection for Node's default five minutes.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const port = (server.address() as AddressInfo).port;
  logger.info(
    {
      host: settings.host,
      port,
      config: service.configSource.describe(),
      runner: service.runner.name,
      sinks: service.outbox.sinkNames,
      transport: service.intake.kind,
    },
    `job-executor listening on http://${settings.host}:${port}`,
  );
  // Runs claimed but not carried out by anyone (this instance before a restart, or a peer that went away)
  // are taken over now and then every 15 s.
  const resume = () =>
    void service.executor.resume().then(
      (n) => n > 0 && logger.info({ runs: n }, 'took over runs left unanswered'),
      (e: unknown) => logger.warn({ err: (e as Error).message }, 'taking over runs failed'),
    );
  resume();
  const resumeTimer = setInterval(resume, 15_000);
  resumeTimer.unref();
  // keptn-api / nats: start pulling events now that health and the API answer; http push needs nothing.
  const transport = service.intake.start(service.executor);
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    close() {
      closing ??= (async () => {
        clearInterval(resumeTimer);
        // The transport first: no new events while running ones finish and their answers go out.
        await transport?.close();
        await service.executor.close(settings.shutdownGrace * 1000);
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await closed;
      })();
      return closing;
    },
  };
}
