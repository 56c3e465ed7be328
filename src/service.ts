import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { configSourceFor } from './config/sources/directory.js';
import type { ConfigSource } from './config/source.js';
import { Executor } from './executor/executor.js';
import { Outbox } from './executor/outbox.js';
import { RunStore } from './executor/run-store.js';
import { createSinks } from './keptn/sinks/create.js';
import { Metrics } from './metrics/metrics.js';
import type { Sink } from './keptn/sinks/sink.js';
import { imagePolicy } from './policy/images.js';
import type { Runner } from './runners/runner.js';
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
}

export interface ServiceOverrides {
  readonly sinks?: Sink[];
}

export function createRunner(settings: Settings, logger: Logger): Runner {
  return new LocalRunner({
    workDir: settings.workDir,
    secrets: new DirectorySecretStore(settings.secretsDir),
    passEnv: settings.passEnv,
    maxLogBytes: settings.runLogBytes,
    killGraceMs: 5000,
    keepWorkDirs: settings.keepWorkDirs,
    logger,
  });
}

/** Everything but the HTTP server: used by `serve` and by `run`. */
export async function createService(settings: Settings, logger: Logger, overrides: ServiceOverrides = {}): Promise<Service> {
  const configSource = await configSourceFor(settings.config);
  const images = imagePolicy(settings.allowedImages);
  if (images.allowAll) logger.warn('JOB_ALLOWED_IMAGE_LIST contains "*": every image may run');
  else if (images.patterns.length === 0) logger.warn('JOB_ALLOWED_IMAGE_LIST is empty: no task will run until images are allowed');
  const store = new RunStore(settings.history, settings.runLogBytes);
  const outbox = new Outbox(overrides.sinks ?? createSinks(settings), {
    maxAttempts: settings.deliveryAttempts,
    baseDelayMs: 200,
    maxDelayMs: 30_000,
    logger,
  });
  // Made before the runner so a runner can report into it (kubernetes_api_errors_total).
  const metrics = new Metrics();
  const runner = createRunner(settings, logger);
  const publicUrl = settings.publicUrl?.replace(/\/+$/, '');
  const executor = new Executor({
    configSource,
    runner,
    outbox,
    store,
    logger,
    policy: {
      images,
      allowedNamespaces: settings.allowedNamespaces,
      defaultNamespace: settings.jobNamespace,
      allowPrivileged: settings.allowPrivileged,
    },
    concurrency: settings.concurrency,
    queueSize: settings.queueSize,
    dedupWindowMs: settings.dedupWindow * 1000,
    messageLogBytes: settings.messageLogBytes,
    eventSource: settings.eventSource,
    alwaysSendFinished: settings.alwaysSendFinished,
    ...(publicUrl ? { runUrl: (id: string) => `${publicUrl}/api/runs/${id}` } : {}),
  });
  metrics.watch({ executor, store, outbox });
  return { executor, store, outbox, configSource, runner, metrics };
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
  const port = (server.address() as AddressInfo).port;
  logger.info(
    { host: settings.host, port, config: service.configSource.describe(), runner: service.runner.name, sinks: service.outbox.sinkNames },
    `job-executor listening on http://${settings.host}:${port}`,
  );
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    close() {
      closing ??= (async () => {
        await service.executor.close(settings.shutdownGrace * 1000);
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await closed;
      })();
      return closing;
    },
  };
}
