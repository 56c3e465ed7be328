import { createHash } from 'node:crypto';

/**
 * Names and labels within Kubernetes' rules, deterministic for an event id: the same event (redelivered, or
 * given to two replicas) always names the same Job, which is what makes adoption instead of duplication work.
 */

const hash8 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 8);

/** A DNS-1123 label fragment: lower case, `[a-z0-9-]`, no leading or trailing `-`, at most `max` characters. */
export function dnsFragment(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '');
}

/**
 * The key of a run: `je-<up to 32 characters of the event id>-<8 hex of its hash>`, at most 44 characters.
 * The hash keeps ids that differ only in odd characters or after the 32nd apart; any id, even an empty or a
 * one-character one, gives a valid name (JES panicked below 24 characters).
 */
export function runKey(eventId: string): string {
  const readable = dnsFragment(eventId, 32);
  return `je-${readable ? `${readable}-` : ''}${hash8(eventId)}`;
}

/** `<run key>-<action index %03d>-<task index + 1 %03d>`: at most 52 characters, as JES numbered them. */
export function jobName(eventId: string, actionIndex: number, taskIndex: number): string {
  const pad = (n: number) => String(n).padStart(3, '0');
  return `${runKey(eventId)}-${pad(actionIndex)}-${pad(taskIndex + 1)}`;
}

/**
 * A label value: runs of characters outside `[-A-Za-z0-9_.]` become `_`, at most 63 characters, and it starts
 * and ends with a letter or digit (JES's sanitising, which can leave an empty value; that is valid too).
 */
export function labelValue(text: string): string {
  return text
    .replace(/[^-A-Za-z0-9_.]+/g, '_')
    .slice(0, 63)
    .replace(/^[-_.]+|[-_.]+$/g, '');
}
