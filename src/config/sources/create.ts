import type { Logger } from 'pino';
import { JobExecutorError } from '../../errors.js';
import type { Settings } from '../../settings/settings.js';
import type { ConfigSource } from '../source.js';
import { configSourceFor } from './directory.js';
import { KeptnResourceConfigSource, type ResourceUriEncoding } from './keptn-resource.js';

/** `resource-service:8080` (the go-sdk's CONFIGURATION_SERVICE form) → `http://resource-service:8080`. */
function withScheme(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
}

/**
 * `auto`: the distributor's proxy (it listens on localhost:8081 only) escapes the URI once more itself, so it
 * gets single-encoded URIs; everything else (the API gateway, the resource service itself) double-encoded.
 */
export function resourceEncoding(setting: 'auto' | ResourceUriEncoding, url: string): ResourceUriEncoding {
  if (setting !== 'auto') return setting;
  const u = new URL(url);
  return (u.hostname === 'localhost' || u.hostname === '127.0.0.1') && u.port === '8081' ? 'single' : 'double';
}

/** `--config-source local` reads `--config`; `keptn` reads Keptn's resource service. */
export async function createConfigSource(settings: Settings, logger: Logger): Promise<ConfigSource> {
  if (settings.configSource !== 'keptn') return configSourceFor(settings.config);
  let base: string;
  if (settings.resourceServiceUrl) base = withScheme(settings.resourceServiceUrl);
  else if (settings.keptnApiEndpoint) base = `${settings.keptnApiEndpoint.replace(/\/+$/, '')}/resource-service`;
  else {
    throw new JobExecutorError(
      'SETTINGS_INVALID',
      '--config-source keptn needs RESOURCE_SERVICE_URL (--resource-service-url) or KEPTN_API_ENDPOINT (--keptn-api-endpoint)',
    );
  }
  try {
    new URL(base);
  } catch {
    throw new JobExecutorError(
      'SETTINGS_INVALID',
      `RESOURCE_SERVICE_URL (--resource-service-url): "${base}" is not a URL`,
    );
  }
  return new KeptnResourceConfigSource({
    baseUrl: base,
    ...(settings.keptnApiToken ? { token: settings.keptnApiToken } : {}),
    encoding: resourceEncoding(settings.resourceUriEncoding, base),
    timeoutMs: settings.keptnApiTimeout * 1000,
    cacheMs: settings.configCacheSeconds * 1000,
    logger,
  });
}
