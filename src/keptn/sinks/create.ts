import path from 'node:path';
import { JobExecutorError } from '../../errors.js';
import type { Settings } from '../../settings/settings.js';
import { CloudEventsHttpSink, DistributorSink, KeptnApiSink } from './http-sinks.js';
import type { Sink } from './sink.js';
import { FileSink, StdoutSink } from './stream-sinks.js';

/** The distributor sidecar's event endpoint (keptn-protocol.md §3.1); PUBSUB_URL names it outside NATS mode. */
export const DEFAULT_DISTRIBUTOR_URL = 'http://localhost:8081/event';

export interface SinkParts {
  /** The NATS publisher, shared with the NATS transport; only there with `--transport nats`. */
  readonly nats?: () => Sink;
}

/** `--sink auto`: answers leave the way events came in (keptn-protocol.md §3). */
function autoSinks(settings: Settings): string[] {
  switch (settings.transport) {
    case 'keptn-api':
      return ['keptn-api'];
    case 'nats':
      return ['nats'];
    default:
      return ['stdout'];
  }
}

/** `--sink stdout,file:answers.jsonl,keptn-api,distributor,nats,http:URL` → sinks, with a clear error for a bad one. */
export function createSinks(settings: Settings, parts: SinkParts = {}): Sink[] {
  const specs = settings.sink.flatMap((spec) => (spec === 'auto' ? autoSinks(settings) : [spec]));
  return specs.map((spec) => {
    if (spec === 'stdout') return new StdoutSink();
    if (spec.startsWith('file:') && spec.length > 5) return new FileSink(path.resolve(spec.slice(5)));
    if (spec === 'keptn-api') {
      if (!settings.keptnApiEndpoint) {
        throw new JobExecutorError(
          'SETTINGS_INVALID',
          '--sink keptn-api needs KEPTN_API_ENDPOINT (--keptn-api-endpoint)',
        );
      }
      return new KeptnApiSink(settings.keptnApiEndpoint, settings.keptnApiToken);
    }
    if (spec === 'distributor') {
      const url = settings.pubsubUrl ?? DEFAULT_DISTRIBUTOR_URL;
      if (!/^https?:\/\//.test(url)) {
        throw new JobExecutorError(
          'SETTINGS_INVALID',
          `--sink distributor: PUBSUB_URL (--pubsub-url) must be the distributor's http:// event endpoint, got "${url}"`,
        );
      }
      return new DistributorSink(url);
    }
    if (spec === 'nats') {
      if (!parts.nats)
        throw new JobExecutorError(
          'SETTINGS_INVALID',
          '--sink nats needs --transport nats (JOB_EXECUTOR_TRANSPORT=nats)',
        );
      return parts.nats();
    }
    if (spec.startsWith('http:') || spec.startsWith('https:')) {
      const url = spec.startsWith('http:http') ? spec.slice(5) : spec;
      try {
        new URL(url);
      } catch {
        throw new JobExecutorError('SETTINGS_INVALID', `--sink ${spec}: not a URL`);
      }
      return new CloudEventsHttpSink(url);
    }
    throw new JobExecutorError(
      'SETTINGS_INVALID',
      `--sink ${spec}: unknown sink; use auto, stdout, file:PATH, keptn-api, distributor, nats or http:URL`,
    );
  });
}
