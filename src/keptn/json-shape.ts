import { isPlainObject } from '../util/objects.js';

/**
 * Shape checks on hostile JSON that never recurse, so no input can overflow the stack: the nesting depth of
 * JSON text (before JSON.parse, so a 100 000-deep body is refused after one linear scan) and of parsed values
 * (for events that arrive already parsed: NATS, the Keptn API, claims, the CLI). A refusal is a message that
 * starts with the path at fault, e.g. `data.a.b.c…: nested deeper than 64 levels`.
 */

/** Path segments shown in a message; deeper ones become `…` (the message must stay short whatever the input). */
const SHOWN_SEGMENTS = 8;
/** Characters of one key shown in a path. */
const SHOWN_KEY_CHARS = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

type Segment = string | number;

/** A key as a path segment: cut to SHOWN_KEY_CHARS, anything but visible ASCII shown as `?` (keys are hostile). */
function segmentText(segment: Segment): string {
  if (typeof segment === 'number') return `[${segment}]`;
  const cut = segment.length > SHOWN_KEY_CHARS ? `${segment.slice(0, SHOWN_KEY_CHARS)}…` : segment;
  return `.${cut.replace(/[^\x21-\x7e…]/g, '?')}`;
}

/** `data` + [`a`, 0, `b`] → `data.a[0].b`; an empty root names the event itself. */
export function formatPath(root: string, segments: readonly Segment[]): string {
  const shown = segments.slice(0, SHOWN_SEGMENTS).map(segmentText).join('');
  const more = segments.length > SHOWN_SEGMENTS ? '…' : '';
  const path = `${root}${shown}${more}`;
  if (path === '' || path.startsWith('[') || path.startsWith('…')) return `event${path}`;
  return path.startsWith('.') ? path.slice(1) : path;
}

function deeper(root: string, segments: readonly Segment[], maxDepth: number): string {
  return `${formatPath(root, segments)}: nested deeper than ${maxDepth} levels`;
}

/** Index of the quote that closes the string opened at `start` (text.length if none: JSON.parse will say so). */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote === -1) return text.length;
    let backslashes = 0;
    for (let b = quote - 1; b > start && text.charCodeAt(b) === BACKSLASH; b--) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

interface TextFrame {
  readonly array: boolean;
  /** The key (objects, raw text, already cut) or index (arrays) of the value being read in this container. */
  key: string;
  index: number;
}

/**
 * Skips the string that opens at `start` and returns the index of its closing quote; when it is a key of the
 * object `keyOf`, the key (cut) becomes that frame's path segment.
 */
function skipString(text: string, start: number, keyOf: TextFrame | undefined): number {
  const end = stringEnd(text, start);
  if (keyOf && !keyOf.array) keyOf.key = text.slice(start + 1, Math.min(end, start + 2 + SHOWN_KEY_CHARS));
  return end;
}

/** A comma moves an array to its next index, and in an object means a key comes next; returns expectKey. */
function afterComma(top: TextFrame | undefined, expectKey: boolean): boolean {
  if (top?.array) top.index++;
  else if (top) return true;
  return expectKey;
}

/**
 * The first container in JSON `text` nested deeper than `maxDepth`, as a message naming its path, or undefined.
 * The text's top value is at level `rootLevel` (1 for a whole event, 2 for binary-mode data) under `root`.
 * Only brackets outside strings count; the text need not be valid JSON (JSON.parse judges that afterwards).
 */
export function textNestingProblem(text: string, maxDepth: number, root = '', rootLevel = 1): string | undefined {
  const frames: TextFrame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = skipString(text, i, expectKey ? frames[frames.length - 1] : undefined);
      expectKey = false;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (rootLevel + frames.length > maxDepth)
        return deeper(
          root,
          frames.map((f) => (f.array ? f.index : f.key)),
          maxDepth,
        );
      frames.push({ array: c === OPEN_BRACKET, key: '', index: 0 });
      expectKey = c === OPEN_BRACE;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      frames.pop();
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = afterComma(frames[frames.length - 1], expectKey);
    }
  }
  return undefined;
}

interface ValueFrame {
  readonly container: Readonly<Record<string, unknown>> | readonly unknown[];
  readonly keys: readonly string[] | undefined;
  readonly size: number;
  readonly segment: Segment;
  next: number;
}

function kindOf(value: unknown): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** Why a leaf is not JSON, or undefined. `undefined` is allowed: it is an absent member, as JSON.stringify treats it. */
function leafProblem(value: unknown): string | undefined {
  const t = typeof value;
  if (t === 'bigint' || t === 'symbol' || t === 'function') return `not a JSON value (a ${t})`;
  if (t === 'number' && !Number.isFinite(value)) return `not a JSON value (${String(value)})`;
  return undefined;
}

function frameFor(value: unknown, segment: Segment): ValueFrame | undefined {
  if (Array.isArray(value)) return { container: value, keys: undefined, size: value.length, segment, next: 0 };
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    return { container: value, keys, size: keys.length, segment, next: 0 };
  }
  return undefined;
}

/**
 * The first problem in a parsed value, as a message naming its path: a container deeper than `maxDepth`,
 * a `__proto__` key (no Keptn event has one, and it is the key that turns a later merge into a prototype
 * change), or something JSON cannot hold (a bigint, a function, a Date…). The walk uses an explicit stack of
 * at most `maxDepth` frames.
 */
export function valueShapeProblem(
  value: unknown,
  maxDepth: number,
  root: string,
  rootLevel: number,
): string | undefined {
  const path = (frames: readonly ValueFrame[], last?: Segment) => [
    ...frames.slice(1).map((f) => f.segment),
    ...(last === undefined ? [] : [last]),
  ];
  if (value === null || typeof value !== 'object') {
    const leaf = leafProblem(value);
    return leaf && `${formatPath(root, [])}: ${leaf}`;
  }
  const first = frameFor(value, '');
  if (!first) return `${formatPath(root, [])}: not a JSON value (a ${kindOf(value)})`;
  if (rootLevel > maxDepth) return deeper(root, [], maxDepth);
  const frames: ValueFrame[] = [first];
  while (frames.length > 0) {
    const top = frames[frames.length - 1] as ValueFrame;
    if (top.next >= top.size) {
      frames.pop();
      continue;
    }
    const segment: Segment = top.keys ? (top.keys[top.next] as string) : top.next;
    top.next++;
    if (segment === '__proto__') return `${formatPath(root, path(frames, segment))}: key not allowed`;
    const child = (top.container as Record<string | number, unknown>)[segment];
    if (child === null || typeof child !== 'object') {
      const leaf = leafProblem(child);
      if (leaf) return `${formatPath(root, path(frames, segment))}: ${leaf}`;
      continue;
    }
    const frame = frameFor(child, segment);
    if (!frame) return `${formatPath(root, path(frames, segment))}: not a JSON value (a ${kindOf(child)})`;
    if (rootLevel + frames.length > maxDepth) return deeper(root, path(frames, segment), maxDepth);
    frames.push(frame);
  }
  return undefined;
}
