import { createRequire } from 'node:module';
import type * as JsYaml from 'js-yaml';

let loaded: typeof JsYaml | undefined;

/**
 * js-yaml, loaded on first use (its CommonJS build, so callers stay synchronous): only the `toYaml` helper,
 * `valueFrom` with `as: yaml` and `render`'s output write YAML like Go's yaml.v2, and a service whose templates
 * never do should not hold its 0.5 MB. Reading YAML (configs, kubeconfigs) is the `yaml` package's.
 */
export function jsYaml(): typeof JsYaml {
  return (loaded ??= createRequire(import.meta.url)('js-yaml') as typeof JsYaml);
}
