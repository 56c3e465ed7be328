import path from 'node:path';
import { JobExecutorError } from '../../errors.js';
import type { Settings } from '../../settings/settings.js';
import { CloudEventsHttpSink, DistributorSink, KeptnApiSink } from './http-sinks.js';
import type { Sink } from './sink.js';
import { FileSink, StdoutSink } from './stream-sinks.js';

/** `--sink stdout,file:answers.jsonl,keptn-api,distributor,http:URL` → sinks, with a clear error for a bad one. */
export function createSinks(settings: Settings): Sink[] {
  return settings.sink.map((spec) => {
    if (spec === 'stdout') return new StdoutSink();
    if (spec.startsWith('file:') && spec.length > 5) return new FileSink(path.resolve(spec.slice(5)));
    if (spec === 'keptn-api') {
      if (!settings.keptnApiEndpoint) {
        throw new JobExecutorError('SETTINGS_INVALID', '--sink keptn-api needs KEPTN_API_ENDPOINT (--keptn-api-endpoint)');
      }
      return new KeptnApiSink(settings.keptnApiEndpoint, settings.keptnApiToken);
    }
    if (spec === 'distributor') return new DistributorSink(settings.pubsubUrl);
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
      `--sink ${spec}: unknown sink; use stdout, file:PATH, keptn-api, distributor or http:URL`,
    );
  });
}
