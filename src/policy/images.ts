import { globToRegExp } from '../matching/glob.js';

/**
 * Image references as a registry sees them: `alpine` is `docker.io/library/alpine:latest`,
 * `alpine/helm:3.9.0` is `docker.io/alpine/helm:3.9.0`. The allow-list is matched against both the literal
 * and the normalised reference, so `docker.io/library/*` allows `alpine` (JES compared literals only).
 */
export function normalizeImage(ref: string): string {
  let rest = ref.trim();
  let digest = '';
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  const hasRegistry = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? first : 'docker.io';
  let path = hasRegistry ? rest.slice(slash + 1) : rest;
  if (registry === 'index.docker.io') registry = 'docker.io';
  let tag = '';
  const colon = path.lastIndexOf(':');
  if (colon !== -1) {
    tag = path.slice(colon);
    path = path.slice(0, colon);
  }
  if (registry === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (tag === '' && digest === '') tag = ':latest';
  return `${registry}/${path}${tag}${digest}`;
}

function isRegistryLike(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** Completes a pattern the way `normalizeImage` completes a reference, leaving its wildcards alone. */
function normalizePattern(pattern: string): string {
  const slash = pattern.indexOf('/');
  const first = slash === -1 ? pattern : pattern.slice(0, slash);
  let out = pattern;
  if (slash === -1) {
    // `alpine:*` is an official image with any tag; `alp*` could be anything, so it is left alone.
    if (!(first.split(':')[0] ?? '').includes('*')) out = `docker.io/library/${pattern}`;
  } else if (!isRegistryLike(first) && !first.includes('*')) {
    out = `docker.io/${pattern}`;
  }
  const lastPart = out.slice(out.lastIndexOf('/') + 1);
  if (!lastPart.includes(':') && !lastPart.includes('@') && !lastPart.includes('*')) out += ':latest';
  return out;
}

export interface ImagePolicy {
  /** True when the list is `*` (or contains it): every image runs. */
  readonly allowAll: boolean;
  readonly patterns: readonly string[];
  allows(image: string): boolean;
}

/** `JOB_ALLOWED_IMAGE_LIST`: comma-separated globs (`*` also matches `/` and `:`). Empty allows nothing. */
export function imagePolicy(list: readonly string[]): ImagePolicy {
  const patterns = list.map((p) => p.trim()).filter((p) => p !== '');
  const allowAll = patterns.includes('*');
  const matchers = patterns.flatMap((p) => [globToRegExp(p), globToRegExp(normalizePattern(p))]);
  return {
    allowAll,
    patterns,
    allows(image: string): boolean {
      if (allowAll) return true;
      const normalized = normalizeImage(image);
      return matchers.some((m) => m.test(image) || m.test(normalized));
    },
  };
}
