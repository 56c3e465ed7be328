import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JobExecutorError } from '../../src/errors.js';
import { parseBinaryKeptnEvent, parseKeptnEvent } from '../../src/keptn/event.js';
import { ATTRIBUTE_RULES, MAX_EVENT_DEPTH, STRING_ATTRIBUTES } from '../../src/keptn/event-limits.js';
import { eventFromHttp } from '../../src/server/intake.js';

/**
 * Property-based checks of event parsing against random and adversarial input: whatever comes in, the parsers
 * return an event or throw a JobExecutorError whose message starts with the field at fault, and they finish
 * (deep nesting and huge strings included). Fixed seed and bounded runs, so the suite is repeatable and quick.
 */

const SEED = 20261127;
const run = <T>(property: fc.IProperty<T>, numRuns = 500) => fc.assert(property, { seed: SEED, numRuns });

/** What a refusal may name first: an attribute, the data, the event, or an HTTP header or the body. */
const FIELDS = new Set<string>([
  ...STRING_ATTRIBUTES,
  'data',
  'data_base64',
  'event',
  'body',
  'content-type',
  'content-encoding',
]);

function named(message: string): string {
  const end = message.indexOf(': ');
  return end > 0 ? message.slice(0, end) : '';
}

/** `data.a[0].b` → `data`. */
function firstSegment(path: string): string {
  return /^[^.[…]+/.exec(path)?.[0] ?? '';
}

type Outcome = { ok: true } | { ok: false; error: JobExecutorError; field: string };

/** Runs `parse`; anything thrown that is not a JobExecutorError naming a field fails the property. */
function outcome(parse: () => unknown, anyTopLevelKey = false): Outcome {
  try {
    parse();
    return { ok: true };
  } catch (e) {
    if (!(e instanceof JobExecutorError))
      throw new Error(`threw ${String(e)} instead of a JobExecutorError`, { cause: e });
    const field = named(e.message);
    if (field === '' || /\s/.test(field)) throw new Error(`the message names no field: ${e.message}`, { cause: e });
    if (!anyTopLevelKey && !FIELDS.has(firstSegment(field)))
      throw new Error(`the message names ${field}, not a known field: ${e.message}`, { cause: e });
    if (e.message.length > 400)
      throw new Error(`a ${e.message.length}-character message: it must not echo the input`, { cause: e });
    return { ok: false, error: e, field };
  }
}

const char = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCharCode(c));
const visible = fc.string({ unit: char(0x21, 0x7e), minLength: 1, maxLength: 40 });
/** Any UTF-16 code unit, lone surrogates included, biased to the troublesome ones. */
const oddUnit = fc.oneof(
  char(0, 0xffff),
  fc.constantFrom(
    '\r',
    '\n',
    '\t',
    ' ',
    '\u0000',
    '\u007f',
    '\u0085',
    '\u00a0',
    '\u2028',
    '\u2029',
    '\ufeff',
    '\ud800',
    '\udfff',
    'é',
    '😀',
    '\u202e',
  ),
);
const oddString = fc.string({ unit: fc.oneof(oddUnit, char(0x21, 0x7e)), maxLength: 30 });
const scopeName = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== '');
const types = fc.constantFrom(
  'sh.keptn.event.deployment.triggered',
  'sh.keptn.event.test.triggered',
  'sh.keptn.event.dev.delivery.triggered',
  'sh.keptn.event.test.finished',
);

const validEvent = fc.record({
  specversion: fc.constant('1.0'),
  id: visible,
  source: visible,
  type: types,
  shkeptncontext: visible,
  data: fc.record({ project: scopeName, stage: scopeName, service: scopeName, extra: fc.jsonValue({ maxDepth: 6 }) }),
});

const hostile = fc.anything({
  maxDepth: 4,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
  withBoxedValues: true,
  withObjectString: true,
});

/** A value for an attribute: valid, hostile, odd text, or huge. */
const attributeValue = fc.oneof(
  visible,
  hostile,
  oddString,
  fc.integer({ min: 257, max: 2_000_000 }).map((n) => 'x'.repeat(n)),
);

describe('fuzz: parseKeptnEvent', () => {
  it('valid events with any JSON data and unicode scope names are taken, data unchanged', () => {
    run(
      fc.property(validEvent, (ev) => {
        const text = JSON.stringify(ev);
        const take = () => eventFromHttp({ 'content-type': 'application/cloudevents+json' }, text);
        // A `__proto__` key is refused by design, naming where it is (json-shape.ts); in JSON text, `"__proto__":`
        // can only be a key.
        if (text.includes('"__proto__":')) {
          expect(take).toThrow(/^data\..*__proto__: key not allowed$/);
          return;
        }
        const parsed = take();
        expect(JSON.stringify(parsed.data)).toBe(JSON.stringify((JSON.parse(text) as { data: unknown }).data));
      }),
    );
  });

  it('any value at all, as the event or its data, is taken or refused naming the field', () => {
    run(fc.property(hostile, (value) => void outcome(() => parseKeptnEvent(value))));
    run(fc.property(validEvent, hostile, (ev, data) => void outcome(() => parseKeptnEvent({ ...ev, data }))));
  });

  it('an event with one attribute replaced by anything is refused naming that attribute, or taken when the value is fine', () => {
    const keys = fc.constantFrom(...STRING_ATTRIBUTES, 'data', 'data_base64');
    run(
      fc.property(validEvent, keys, attributeValue, (ev, key, value) => {
        const result = outcome(() => parseKeptnEvent({ ...ev, [key]: value }));
        if (!result.ok) expect(firstSegment(result.field)).toBe(key);
      }),
      400,
    );
  });

  it('a visible-ASCII attribute is taken exactly when it is visible ASCII within its limit', () => {
    const attributes = fc.constantFrom(
      'id',
      'source',
      'shkeptncontext',
      'triggeredid',
      'gitcommitid',
      'time',
      'shkeptnspecversion',
    );
    run(
      fc.property(validEvent, attributes, fc.oneof(oddString, visible), (ev, key, value) => {
        const result = outcome(() => parseKeptnEvent({ ...ev, [key]: value }));
        const required = key === 'id' || key === 'source' || key === 'shkeptncontext';
        const fine =
          value === '' ? !required : /^[\x21-\x7e]*$/.test(value) && value.length <= ATTRIBUTE_RULES[key].max;
        expect(result.ok).toBe(fine);
        if (!result.ok) expect(result.field).toBe(key);
      }),
      500,
    );
  });

  it('huge strings in any attribute are refused naming it, with a short message', () => {
    run(
      fc.property(
        validEvent,
        fc.constantFrom(...STRING_ATTRIBUTES),
        fc.integer({ min: 1, max: 3_000_000 }),
        (ev, key, extra) => {
          const rule = ATTRIBUTE_RULES[key];
          const result = outcome(() => parseKeptnEvent({ ...ev, [key]: 'a'.repeat(rule.max + extra) }));
          expect(result.ok).toBe(false);
          if (!result.ok)
            expect(result.error.message).toBe(
              `${key}: ${rule.max + extra} characters, more than the limit of ${rule.max}`,
            );
        },
      ),
      40,
    );
  });
});

/**
 * A random path of containers: true = array, false = object (with a random key). The length is uniform over
 * the range; the kinds and keys repeat a random pattern of up to 16, which is much cheaper to generate than
 * 20 000 independent elements and still mixes arrays and objects at every depth.
 */
const containerPath = (min: number, max: number) =>
  fc
    .tuple(
      fc.integer({ min, max }),
      fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 16 }),
    )
    .map(([length, pattern]) => Array.from({ length }, (_, i) => pattern[i % pattern.length] as [boolean, string]));

function nestedText(path: ReadonlyArray<readonly [boolean, string]>): string {
  const open = path.map(([array, key]) => (array ? '[' : `{${JSON.stringify(key)}:`)).join('');
  const close = path
    .map(([array]) => (array ? ']' : '}'))
    .reverse()
    .join('');
  return `${open}1${close}`;
}

function nestedValue(path: ReadonlyArray<readonly [boolean, string]>): unknown {
  let value: unknown = 1;
  for (let i = path.length - 1; i >= 0; i--) {
    const [array, key] = path[i] as [boolean, string];
    value = array ? [value] : Object.fromEntries([[key, value]]);
  }
  return value;
}

describe('fuzz: nesting', () => {
  const base = { specversion: '1.0', id: 'x', source: 's', type: 'sh.keptn.event.t.triggered', shkeptncontext: 'c' };
  const eventAround = (raw: string) =>
    `${JSON.stringify(base).slice(0, -1)},"data":{"project":"p","stage":"s","service":"v","n":${raw}}}`;
  const deepMessage = new RegExp(`^data\\.n.*: nested deeper than ${MAX_EVENT_DEPTH} levels$`);
  // Keys named __proto__ are refused on their own account; these properties are about depth.
  const noProto = (path: ReadonlyArray<readonly [boolean, string]>) => path.every(([, key]) => key !== '__proto__');

  it(`random arrays and objects up to ${MAX_EVENT_DEPTH} levels are taken, as text and as values`, () => {
    // data.n's first container is level 3: 62 of them reach level 64.
    run(
      fc.property(containerPath(1, MAX_EVENT_DEPTH - 2).filter(noProto), (path) => {
        expect(
          outcome(() => eventFromHttp({ 'content-type': 'application/json' }, eventAround(nestedText(path)))).ok,
        ).toBe(true);
        expect(
          outcome(() =>
            parseKeptnEvent({ ...base, data: { project: 'p', stage: 's', service: 'v', n: nestedValue(path) } }),
          ).ok,
        ).toBe(true);
      }),
      200,
    );
  });

  it('deeper ones, up to 20 000 levels, are refused naming data.n, as text and as values', () => {
    run(
      fc.property(containerPath(MAX_EVENT_DEPTH - 1, 20_000).filter(noProto), (path) => {
        const text = outcome(() =>
          eventFromHttp({ 'content-type': 'application/json' }, eventAround(nestedText(path))),
        );
        expect(text.ok).toBe(false);
        if (!text.ok) expect(text.error.message).toMatch(deepMessage);
        const value = outcome(() =>
          parseKeptnEvent({ ...base, data: { project: 'p', stage: 's', service: 'v', n: nestedValue(path) } }),
        );
        expect(value.ok).toBe(false);
        if (!value.ok) expect(value.error.message).toMatch(deepMessage);
      }),
      100,
    );
  });

  it('brackets inside strings and escaped quotes do not count as nesting', () => {
    const tricky = fc.string({ unit: fc.constantFrom('[', '{', '"', '\\', ']', '}', 'a', ':', ','), maxLength: 200 });
    run(
      fc.property(tricky, (s) => {
        expect(
          outcome(() => eventFromHttp({ 'content-type': 'application/json' }, eventAround(JSON.stringify(s)))).ok,
        ).toBe(true);
      }),
    );
  });
});

describe('fuzz: prototype keys', () => {
  const protoKeys = fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'valueOf',
    'hasOwnProperty',
    '__defineGetter__',
    'a',
  );
  const tree = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      fc.constant(1),
      fc.dictionary(protoKeys, tie('node'), { maxKeys: 3 }),
      fc.array(tie('node'), { maxLength: 2 }),
    ),
  })).node;

  it('__proto__ anywhere in the data is refused naming its path; other such keys are plain data; nothing is polluted', () => {
    run(
      fc.property(tree, (data) => {
        const dataText = JSON.stringify(data);
        const text = `{"specversion":"1.0","id":"x","source":"s","type":"sh.keptn.event.t.triggered","shkeptncontext":"c","data":{"project":"p","stage":"s","service":"v","t":${dataText}}}`;
        const result = outcome(() => eventFromHttp({ 'content-type': 'application/json' }, text));
        expect(result.ok).toBe(!dataText.includes('"__proto__":'));
        if (!result.ok) expect(result.error.message).toMatch(/^data\.t.*\.__proto__: key not allowed$/);
        expect(Object.keys(Object.prototype)).toEqual([]);
        expect(({} as Record<string, unknown>).constructor).toBe(Object);
      }),
    );
  });
});

describe('fuzz: HTTP and binary mode', () => {
  const headerValue = fc.oneof(oddString, visible, fc.array(visible, { maxLength: 3 }));
  const headerName = fc.oneof(
    fc.constantFrom(
      ...STRING_ATTRIBUTES.map((a) => `ce-${a}`),
      'ce-__proto__',
      'ce-data',
      'ce-constructor',
      'content-type',
    ),
    fc.string({ maxLength: 10 }),
  );
  const body = fc.oneof(
    fc.string({ maxLength: 100 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.constant('{"project":"p","stage":"s","service":"v"}'),
  );

  it('random ce-* headers and bodies are taken or refused naming the field', () => {
    run(
      fc.property(fc.dictionary(headerName, headerValue, { maxKeys: 12 }), body, (headers, text) => {
        outcome(() => parseBinaryKeptnEvent(headers, text));
        outcome(() => eventFromHttp({ ...headers, 'ce-specversion': '1.0' }, text), true);
      }),
      500,
    );
  });

  it('a body is only ever taken with an application/…json content type; the types a page can send without preflight never', () => {
    const simple = fc
      .tuple(
        fc.constantFrom(
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data',
          'TEXT/PLAIN',
          'Text/Plain',
        ),
        fc.constantFrom('', '; charset=utf-8', ';boundary=x', ' ; a=b'),
      )
      .map(([t, p]) => t + p);
    const contentType = fc.oneof(
      simple,
      fc.string({ maxLength: 40 }),
      fc.constantFrom(
        'application/json',
        'application/cloudevents+json',
        'application/x+json; charset=UTF-8',
        'application/json; charset=latin1',
      ),
    );
    run(
      fc.property(contentType, fc.boolean(), validEvent, (type, binary, ev) => {
        const { data, ...attrs } = ev;
        const headers: Record<string, string> = { 'content-type': type };
        if (binary) for (const [k, v] of Object.entries(attrs)) headers[`ce-${k}`] = v;
        const result = outcome(() => eventFromHttp(headers, JSON.stringify(binary ? data : ev)));
        const essence = (type.split(';')[0] ?? '').trim().toLowerCase();
        if (result.ok) expect(essence.startsWith('application/') && essence.endsWith('json')).toBe(true);
        if (/^(text\/plain|application\/x-www-form-urlencoded|multipart\/form-data)$/.test(essence)) {
          expect(result.ok).toBe(false);
          if (!result.ok) expect(result.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
        }
        if (!result.ok && result.error.code === 'UNSUPPORTED_MEDIA_TYPE') expect(result.field).toBe('content-type');
      }),
      500,
    );
  });
});
