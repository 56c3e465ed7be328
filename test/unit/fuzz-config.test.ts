import fc from 'fast-check';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/config/limits.js';
import {
  MAX_PROBLEMS,
  parseJobConfig,
  parseJobConfigAsync,
  parseJobConfigOrThrow,
  type ParseResult,
} from '../../src/config/parse.js';
import { JobExecutorError } from '../../src/errors.js';

/**
 * Property-based checks of config parsing against random and adversarial YAML: anchors and aliases, deep
 * nesting, huge strings, odd unicode, prototype keys. Whatever comes in, parseJobConfig returns a config or
 * problems that each name a path (or a line and column), never throws and finishes; parseJobConfigOrThrow
 * throws only CONFIG_INVALID. Fixed seed, bounded runs.
 */

const SEED = 20261203;
const run = <T>(property: fc.IProperty<T>, numRuns = 300) => fc.assert(property, { seed: SEED, numRuns });

/** `actions[0].tasks[1].image`, `annotations["a b"]`, `(root)`, or `line 3, column 5`: one unambiguous name. */
const SEGMENT = String.raw`(?:[A-Za-z_$][\w$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])`;
const PATH = new RegExp(
  String.raw`^(?:\(root\)|line \d+, column \d+|${SEGMENT}(?:\.[A-Za-z_$][\w$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*)$`,
);

function checked(text: string): ParseResult {
  let result: ParseResult;
  try {
    result = parseJobConfig(text);
  } catch (e) {
    throw new Error(`parseJobConfig threw ${String(e)}`, { cause: e });
  }
  if (!result.ok) {
    expect(result.problems.length).toBeGreaterThan(0);
    for (const p of result.problems) {
      expect(p.path).toMatch(PATH);
      // eslint-disable-next-line no-control-regex -- a path shows control characters escaped, never raw
      expect(p.path).not.toMatch(/[\u0000-\u001f\u007f]/);
      expect(p.message.length).toBeGreaterThan(0);
      if (p.line !== undefined) expect(p.line).toBeGreaterThanOrEqual(1);
    }
  }
  try {
    parseJobConfigOrThrow(text, 'job/config.yaml');
  } catch (e) {
    if (!(e instanceof JobExecutorError)) throw new Error(`parseJobConfigOrThrow threw ${String(e)}`, { cause: e });
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message.startsWith('job/config.yaml: invalid job config: ')).toBe(true);
  }
  return result;
}

const char = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCharCode(c));
const oddUnit = fc.oneof(
  char(0, 0xffff),
  fc.constantFrom(
    '\u0000',
    '\r',
    '\n',
    '\t',
    '\u0085',
    '\u00a0',
    '\u2028',
    '\ufeff',
    '\ud800',
    '\udfff',
    '😀',
    '\u202e',
    '{{',
    '}}',
    '$(',
    '&',
    '*',
    '!',
    '<<',
    ':',
    '-',
    '[',
    ']',
    '#',
    '|',
    '>',
  ),
);
const oddString = fc.string({ unit: oddUnit, maxLength: 40 });
const protoKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '<<');

/** A config-shaped document: right keys, and values that are right, wrong or hostile. */
const value = fc.oneof(oddString, fc.integer(), fc.boolean(), fc.constant(null), fc.array(oddString, { maxLength: 3 }));
const task = fc.record(
  {
    name: fc.oneof(
      oddString,
      fc.constantFrom('{{data.x}}', '{{shq data.x}}', '{{nope}}', '{{constructor.constructor}}'),
    ),
    image: fc.oneof(fc.constant('alpine'), oddString),
    cmd: fc.array(oddString, { maxLength: 3 }),
    args: fc.oneof(fc.array(oddString, { maxLength: 3 }), oddString),
    env: fc.array(
      fc.record(
        { name: oddString, value: oddString, valueFrom: fc.constantFrom('event', 'secret', 'string', 'file') },
        { requiredKeys: [] },
      ),
      { maxLength: 3 },
    ),
    files: fc.array(fc.oneof(oddString, fc.constantFrom('../x', '/charts', 'a/../../b', '~/x')), { maxLength: 2 }),
    maxPollDuration: fc.oneof(fc.integer(), oddString),
    extra: value,
  },
  { requiredKeys: [] },
);
const configDoc = fc.record(
  {
    apiVersion: fc.oneof(fc.constant('v2'), oddString),
    actions: fc.array(
      fc.record(
        {
          name: oddString,
          events: fc.array(
            fc.record(
              {
                name: fc.oneof(fc.constant('sh.keptn.event.*.triggered'), oddString),
                jsonpath: fc.record({ property: oddString, match: oddString }),
              },
              { requiredKeys: ['name'] },
            ),
            { maxLength: 3 },
          ),
          tasks: fc.array(task, { maxLength: 3 }),
          silent: fc.oneof(fc.boolean(), oddString),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: [] },
);

describe('parseJobConfig over random and adversarial input', () => {
  it('any text at all: a config or problems naming a path, never a throw', () => {
    run(
      fc.property(fc.string({ unit: oddUnit, maxLength: 200 }), (text) => void checked(text)),
      1000,
    );
  });

  it('config-shaped documents with wrong and hostile values, prototype keys mixed in', () => {
    run(
      fc.property(configDoc, fc.array(fc.tuple(protoKey, value), { maxLength: 3 }), (doc, extras) => {
        const text = `${yaml.dump(doc, { lineWidth: -1 })}${extras.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join('\n')}\n`;
        const r = checked(text);
        if (!r.ok) {
          for (const p of r.problems)
            if (/^[a-z]/i.test(p.path) && !p.path.startsWith('line '))
              expect(
                /^(apiVersion|actions|__proto__|constructor|prototype|toString|hasOwnProperty|<<|\(root\))/.test(
                  p.path,
                ),
              ).toBe(true);
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'image')).toBe(false);
      }),
    );
  });

  it("the service's piecewise parse gives exactly the result of a whole parse, wherever the pieces are cut", async () => {
    await fc.assert(
      fc.asyncProperty(
        configDoc,
        fc.integer({ min: 0, max: 200 }),
        fc.constantFrom('\n', '\r\n'),
        async (doc, chunkBytes, eol) => {
          const text = yaml.dump(doc, { lineWidth: 40 }).replaceAll('\n', eol);
          const whole = parseJobConfig(text);
          const pieces = await parseJobConfigAsync(text, undefined, chunkBytes);
          expect(pieces).toEqual(whole);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('anchors and aliases in any arrangement, bombs included: refused naming the alias, or accepted within the limit', () => {
    // Levels of anchored lists, each holding `fanOut` aliases of the level below: fanOut^levels values.
    run(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 30 }),
        fc.boolean(),
        (levels, fanOut, asTasks) => {
          let text = 'apiVersion: v2\nactions:\n  - events: [{ name: sh.keptn.event.x.triggered }]\n';
          text += '    a0: &a0 { name: t, image: alpine }\n';
          for (let i = 1; i <= levels; i++)
            text += `    a${i}: &a${i} [${Array.from({ length: fanOut }, () => `*a${i - 1}`).join(', ')}]\n`;
          if (asTasks) text += `    tasks: *a${levels}\n`;
          const started = Date.now();
          const r = checked(text);
          expect(Date.now() - started).toBeLessThan(5000); // a generous bound: a bomb used to hang for minutes
          // What the document holds once expanded: the map of a0 is 5 values, level i is a list of fanOut of level i-1.
          const sizes = [5];
          for (let i = 1; i <= levels; i++) sizes.push(1 + fanOut * (sizes[i - 1] as number));
          const total = sizes.reduce((a, b) => a + b, 0) + (asTasks ? (sizes[levels] as number) : 0);
          expect(r.ok).toBe(false); // the a<i> keys are not config keys
          const aliasing = !r.ok && /too much aliasing/.test(r.problems[0]?.message ?? '');
          if (total > LIMITS.yamlNodes + 100) expect(aliasing).toBe(true);
          if (total < LIMITS.yamlNodes - 100) expect(aliasing).toBe(false);
        },
      ),
      200,
    );
  });

  it('nesting of any depth, flow or block: refused past the limit with a position, never a crash', () => {
    run(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 60_000 })),
        fc.constantFrom('flow-seq', 'flow-map', 'block-seq'),
        (depth, style) => {
          const text =
            style === 'flow-seq'
              ? `${'['.repeat(depth)}${']'.repeat(depth)}`
              : style === 'flow-map'
                ? `${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`
                : `${'- '.repeat(depth)}x`;
          const r = checked(text);
          if (depth > LIMITS.yamlDepth)
            expect(r.ok || r.problems[0]?.message).toMatch(
              new RegExp(
                `^(invalid YAML: nested deeper than ${LIMITS.yamlDepth} levels|the file is \\d+ bytes, more than the limit)`,
              ),
            );
        },
      ),
      100,
    );
  });

  it('huge strings and documents: refused by size, quickly', () => {
    run(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.constantFrom('scalar', 'comment', 'args', 'keys'),
        (kib, where) => {
          const started = Date.now();
          const big = 'x'.repeat(kib * 1024);
          const text =
            where === 'scalar'
              ? `apiVersion: "${big}"\n`
              : where === 'comment'
                ? `apiVersion: v2\n# ${big}\n`
                : where === 'args'
                  ? `apiVersion: v2\nactions:\n  - tasks: [{ name: t, image: alpine, args: ["${big}"] }]\n`
                  : `apiVersion: v2\n${Array.from({ length: kib * 40 }, (_, i) => `k${i}: 1`).join('\n')}\n`;
          const r = checked(text);
          if (Buffer.byteLength(text) > LIMITS.configBytes)
            expect(r.ok || r.problems[0]?.message).toMatch(/more than the limit of \d+ KiB/);
          if (!r.ok) expect(r.problems.length).toBeLessThanOrEqual(MAX_PROBLEMS);
          expect(Date.now() - started).toBeLessThan(5000);
        },
      ),
      30,
    );
  });
});
