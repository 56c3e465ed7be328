import type * as JsYaml from 'js-yaml';
import { lazyRequire } from '../util/lazy-require.js';

/**
 * js-yaml on first use: only the `toYaml` helper, `valueFrom` with `as: yaml` and `render`'s output write YAML
 * like Go's yaml.v2, and a service whose templates never do should not hold its 0.5 MB. Reading YAML (configs,
 * kubeconfigs) is the `yaml` package's.
 */
export const jsYaml = lazyRequire<typeof JsYaml>('js-yaml');
