import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { JobExecutorError } from '../../errors.js';
import type { Settings } from '../../settings/settings.js';
import { KeptnApiClient } from '../api-client.js';
import { createSinks } from '../sinks/create.js';
import type { AnswerObserver, Sink } from '../sinks/sink.js';
import { KeptnApiTransport, KeptnErrorLogObserver, type RegistrationInfo } from './keptn-api.js';
import { NatsConnectionHolder, NatsSink, NatsTransport } from './nats.js';
import type { EventIntake, Transport, TransportKind } from './transport.js';

export const DEFAULT_NATS_URL = 'nats://keptn-nats:4222';
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * The way events come in (`--transport`) and the matching way out. HTTP push needs nothing started here (the
 * HTTP server takes the events); `keptn-api` and `nats` are started by `start` once the executor exists.
 */
export interface IntakePlan {
  readonly kind: TransportKind;
  /** The sinks for `--sink` (`auto` answers the way events came in). */
  sinks(): Sink[];
  /** Side deliveries told of each delivered answer: Keptn's error log in keptn-api mode, none otherwise. */
  observers(): AnswerObserver[];
  /**
   * The event types the service subscribed to by name (not through a wildcard): PUBSUB_TOPIC's entries
   * without `*` or `>`, and in keptn-api mode also the types of the subscriptions Keptn holds for it now
   * (Bridge edits; polling knows no wildcards). An event of such a type was asked for explicitly.
   */
  subscribedByName(): ReadonlySet<string>;
  start(intake: EventIntake): Transport | undefined;
  /** The transport `start` made, if any. */
  readonly transport: Transport | undefined;
}

/** The version in package.json, for the registration (Bridge shows it). */
function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'job-executor' && pkg.version) return pkg.version;
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

/** The namespace Keptn files the integration under: K8S_NAMESPACE, else the pod's own, else `default`. */
function namespace(settings: Settings): string {
  if (settings.k8sNamespace) return settings.k8sNamespace;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

export function registrationInfo(settings: Settings): RegistrationInfo {
  return {
    name: settings.integrationName,
    namespace: namespace(settings),
    hostname: settings.k8sNodeName ?? os.hostname(),
    integrationVersion: settings.k8sDeploymentVersion ?? packageVersion(),
    location: settings.location,
    ...(settings.k8sPodName ? { podName: settings.k8sPodName } : {}),
    ...(settings.k8sDeploymentName ? { deploymentName: settings.k8sDeploymentName } : {}),
  };
}

/** PUBSUB_TOPIC entries without NATS wildcards (`*` matches one token, `>` the rest): the types named outright. */
export function namedTopics(topics: readonly string[]): ReadonlySet<string> {
  return new Set(topics.filter((t) => !t.includes('*') && !t.includes('>')));
}

/** PUBSUB_URL in NATS mode: one or more `nats://`/`tls://`/`ws(s)://` URLs. */
export function natsUrl(settings: Settings): string {
  const url = settings.pubsubUrl ?? DEFAULT_NATS_URL;
  for (const one of url.split(',').map((s) => s.trim())) {
    if (!/^(nats|tls|ws|wss):\/\/[^/\s]+/.test(one)) {
      throw new JobExecutorError(
        'SETTINGS_INVALID',
        `PUBSUB_URL (--pubsub-url): with --transport nats it is the NATS server, e.g. ${DEFAULT_NATS_URL}; got "${one}"${/^https?:/.test(one) ? ' (an http URL is the distributor endpoint of the http transport)' : ''}`,
      );
    }
  }
  return url;
}

/** Reads and checks the transport settings; throws SETTINGS_INVALID naming the variable at fault. */
export function planIntake(settings: Settings, logger: Logger): IntakePlan {
  switch (settings.transport) {
    case 'keptn-api': {
      if (!settings.keptnApiEndpoint) {
        throw new JobExecutorError(
          'SETTINGS_INVALID',
          '--transport keptn-api needs KEPTN_API_ENDPOINT (--keptn-api-endpoint), e.g. http://api-gateway-nginx.keptn/api',
        );
      }
      const wild = settings.pubsubTopic.filter((t) => t.includes('*') || t.includes('>'));
      if (wild.length > 0) {
        throw new JobExecutorError(
          'SETTINGS_INVALID',
          `PUBSUB_TOPIC (--pubsub-topic): Keptn's API polls concrete event types only; replace ${wild.join(', ')} with types such as sh.keptn.event.test.triggered`,
        );
      }
      const api = new KeptnApiClient({
        baseUrl: settings.keptnApiEndpoint,
        ...(settings.keptnApiToken ? { token: settings.keptnApiToken } : {}),
        timeoutMs: settings.keptnApiTimeout * 1000,
        endpointSetting: 'KEPTN_API_ENDPOINT',
      });
      const registration = registrationInfo(settings);
      let transport: KeptnApiTransport | undefined;
      return {
        kind: 'keptn-api',
        get transport() {
          return transport;
        },
        sinks: () => createSinks(settings),
        observers: () => [new KeptnErrorLogObserver(api, () => transport?.integrationId)],
        subscribedByName: () =>
          new Set([...namedTopics(settings.pubsubTopic), ...(transport?.subscriptions ?? []).map((s) => s.event)]),
        start(intake) {
          transport = new KeptnApiTransport({
            api,
            intake,
            registration,
            topics: settings.pubsubTopic,
            subscriptionSync: settings.pubsubTopicSync,
            pollIntervalMs: settings.pollInterval,
            heartbeatIntervalMs: settings.heartbeatInterval,
            maxBackoffMs: 30_000,
            logger,
          });
          return transport;
        },
      };
    }
    case 'nats': {
      const url = natsUrl(settings);
      let holder: NatsConnectionHolder | undefined;
      let transport: NatsTransport | undefined;
      // Made on first use, so a service built only for its sinks (tests, `run`) does not connect.
      const connection = () => (holder ??= new NatsConnectionHolder({ url, name: settings.integrationName, logger }));
      return {
        kind: 'nats',
        get transport() {
          return transport;
        },
        sinks: () => createSinks(settings, { nats: () => new NatsSink(connection()) }),
        observers: () => [],
        subscribedByName: () => namedTopics(settings.pubsubTopic),
        start: (intake) =>
          (transport = new NatsTransport({
            holder: connection(),
            intake,
            topics: settings.pubsubTopic,
            group: settings.pubsubGroup,
            logger,
          })),
      };
    }
    default:
      return {
        kind: 'http',
        transport: undefined,
        sinks: () => createSinks(settings),
        observers: () => [],
        subscribedByName: () => namedTopics(settings.pubsubTopic),
        start: () => undefined,
      };
  }
}
