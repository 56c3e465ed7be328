/**
 * Checks of single values that both the schema (for what the config writes) and rendering (for what a
 * template produced from an event) apply, so the same value is refused the same way wherever it comes from.
 * Each returns the reason, or undefined when the value is fine.
 */

/**
 * Kubernetes' classic rule for environment variable names (also what a POSIX-ish shell can use):
 * letters, digits, `_`, `-` and `.`, not starting with a digit. Nothing else runs on every cluster.
 */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function envNameProblem(name: string): string | undefined {
  if (ENV_NAME.test(name)) return undefined;
  if (name === '') return 'an environment variable needs a name';
  return `"${printable(name)}" is not a valid environment variable name (letters, digits, "_", "-" and ".", not starting with a digit)`;
}

/** A Secret name is a DNS subdomain (RFC 1123): lower-case letters, digits, `-` and `.`, at most 253 characters. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function secretNameProblem(name: string): string | undefined {
  if (name.length <= 253 && SECRET_NAME.test(name)) return undefined;
  return `"${printable(name)}" is not a valid Secret name (lower-case letters, digits, "-" and ".", at most 253 characters)`;
}

/**
 * A `files` entry names a file or folder below the config's folder: relative (a leading `/` is allowed and
 * ignored, as in JES), without `..`, `.`, `~` or empty segments, without backslashes or control characters.
 */
export function filesEntryProblem(entry: string): string | undefined {
  const rel = entry.replace(/^\/+/, '').replace(/\/+$/, '');
  if (rel === '') return 'names no file (empty, or only "/")';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f\\]/.test(rel)) return `"${printable(entry)}" holds a backslash or a control character`;
  const bad = rel.split('/').find((seg) => seg === '..' || seg === '.' || seg === '' || seg.startsWith('~'));
  if (bad !== undefined) {
    return `"${printable(entry)}" has a "${bad}" segment: files must stay inside the config folder (no "..", ".", "~" or "//")`;
  }
  return undefined;
}

/** Control characters shown escaped, so a message stays one readable line. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
