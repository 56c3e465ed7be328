import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A package's CommonJS build, loaded at the first call and kept: for packages only some configurations use, so
 * a service that never needs one does not hold it in memory, while callers stay synchronous.
 */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: { readonly module: T } | undefined;
  return () => (loaded ??= { module: require(specifier) as T }).module;
}
