/**
 * The limits every incoming event is held to, whatever the transport (HTTP, NATS, Keptn API polling, claims,
 * the CLI). Each string attribute is remembered (dedup window, run store, claims) and logged, and some go back
 * out in `ce-*` headers of answers, so each is bounded and restricted to characters that are safe in a header
 * and a log line. The README's "Limits" table lists these.
 */

/** `visible`: ASCII 0x21-0x7E (no spaces, no control characters); `printable`: 0x20-0x7E (spaces allowed). */
export type AttributeChars = 'visible' | 'printable';

export interface AttributeRule {
  /** Characters (= bytes: only ASCII passes). */
  readonly max: number;
  readonly chars: AttributeChars;
}

/**
 * CloudEvents ids and Keptn's context ids are UUIDs (36 characters), commits are SHA-1/SHA-256 hex (40/64);
 * the limits leave room for other producers' ids without letting an id be a megabyte.
 */
export const ATTRIBUTE_RULES = {
  specversion: { max: 16, chars: 'visible' },
  id: { max: 256, chars: 'visible' },
  source: { max: 512, chars: 'visible' },
  type: { max: 256, chars: 'visible' },
  time: { max: 64, chars: 'visible' },
  shkeptncontext: { max: 256, chars: 'visible' },
  triggeredid: { max: 256, chars: 'visible' },
  gitcommitid: { max: 128, chars: 'visible' },
  shkeptnspecversion: { max: 64, chars: 'visible' },
  // Media types have parameters after `; `.
  contenttype: { max: 256, chars: 'printable' },
  datacontenttype: { max: 256, chars: 'printable' },
} as const satisfies Record<string, AttributeRule>;

export type StringAttribute = keyof typeof ATTRIBUTE_RULES;
export const STRING_ATTRIBUTES = Object.keys(ATTRIBUTE_RULES) as StringAttribute[];

/** JSON nesting of an event, the event object itself being level 1 (`data` is level 2). */
export const MAX_EVENT_DEPTH = 64;

/** `data.project`, `data.stage`, `data.service`: logged, in paths and URLs of config lookups. Any unicode. */
export const MAX_SCOPE_NAME_CHARS = 256;

const RANGES: Record<AttributeChars, { readonly low: number; readonly text: string }> = {
  visible: { low: 0x21, text: 'visible ASCII (0x21-0x7E: no spaces, control characters or non-ASCII)' },
  printable: { low: 0x20, text: 'printable ASCII (0x20-0x7E: no control characters or non-ASCII)' },
};

const NAMES: Readonly<Record<number, string>> = {
  0x09: 'TAB',
  0x0a: 'LF',
  0x0d: 'CR',
  0x20: 'a space',
  0x00: 'NUL',
  0x7f: 'DEL',
};

function describeChar(code: number): string {
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  const name = NAMES[code];
  return name ? `${hex} (${name})` : hex;
}

/** Why `value` breaks `rule`, as a message naming `name`, or undefined. Never echoes the value. */
export function attributeProblem(name: string, value: string, rule: AttributeRule): string | undefined {
  if (value.length > rule.max) return `${name}: ${value.length} characters, more than the limit of ${rule.max}`;
  const { low, text } = RANGES[rule.chars];
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < low || code > 0x7e)
      return `${name}: character ${i + 1} is ${describeChar(value.codePointAt(i) ?? code)}; ${name} must be ${text}`;
  }
  return undefined;
}
