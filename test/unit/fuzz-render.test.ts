import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJobConfig } from '../../src/config/parse.js';
import { JobExecutorError } from '../../src/errors.js';
import { parseKeptnEvent, type KeptnEvent } from '../../src/keptn/event.js';
import { templateContext } from '../../src/render/context.js';
import { escapeForExpansion, expandEnvironment, expandVars } from '../../src/render/expand.js';
import { renderTemplate, shellQuote } from '../../src/render/handlebars.js';
import { renderActions, renderContext, renderTask } from '../../src/render/task-spec.js';

/**
 * Property-based checks of rendering against random and adversarial templates and events: event text always
 * comes out of `$(VAR)` expansion exactly as it went in, while the config's own text expands as written; and
 * rendering returns a string or throws the service's own error naming the field, and finishes. Fixed seed,
 * bounded runs.
 */

const SEED = 20261202;
const run = <T>(property: fc.IProperty<T>, numRuns = 300) => fc.assert(property, { seed: SEED, numRuns });

/** Every variable a reference could name is defined, so an accidental expansion always shows. */
const ENV: Record<string, string> = { A: '<A>', B: '<B>', API_KEY: '<SECRET>', KEPTN_PROJECT: '<P>' };
const lookup = (name: string) => ENV[name];

const char = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCharCode(c));
/** Text with what matters to expansion in abundance, and odd unicode. */
const dollarText = fc.string({
  unit: fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom('$', '(', ')', '$(', '$$', 'A', 'B', 'API_KEY', ' ') },
    { weight: 1, arbitrary: fc.constantFrom('\u0000', '\n', '\u2028', '\ud800', 'é', '😀', '"', "'", '\\', '{', '}') },
    { weight: 1, arbitrary: char(0, 0xffff) },
  ),
  maxLength: 24,
});
/** Config text around an insertion: the same, without what Handlebars reads (`{`, `}`, `\\`). */
const configText = fc.string({
  unit: fc.constantFrom('$', '(', ')', '$(', '$$', 'A', 'B', ' ', 'x', '-'),
  maxLength: 12,
});

/** A parsed event; data the event parser refuses (a `__proto__` key, ...) is not a case for rendering. */
function event(data: Record<string, unknown>): KeptnEvent {
  try {
    return parseEvent(data);
  } catch (e) {
    fc.pre(!(e instanceof JobExecutorError));
    throw e;
  }
}

function parseEvent(data: Record<string, unknown>): KeptnEvent {
  return parseKeptnEvent({
    specversion: '1.0',
    id: 'e',
    source: 's',
    type: 'sh.keptn.event.x.triggered',
    shkeptncontext: 'c',
    data: { project: 'p', stage: 's', service: 'v', ...data },
  });
}

function oneTask(fields: string) {
  const r = parseJobConfig(`apiVersion: v2\nactions:\n  - tasks:\n      - ${fields}\n`);
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  return r.config.actions[0]?.tasks[0] as NonNullable<(typeof r.config.actions)[0]['tasks'][0]>;
}

/** What a JavaScript fault looks like in a message: it must never be the explanation a user gets. */
const JS_ERROR = /TypeError|Cannot read|is not a function|Maximum call stack|\(reading '/;

const where = { actionIndex: 0, taskIndex: 0, actionName: 'a' };

describe('event text survives $(VAR) expansion exactly', () => {
  it('escapeForExpansion(s) expands back to s, alone and next to any other escaped text', () => {
    run(
      fc.property(dollarText, dollarText, (a, b) => {
        expect(expandVars(escapeForExpansion(a), lookup)).toBe(a);
        expect(expandVars(escapeForExpansion(a) + escapeForExpansion(b), lookup)).toBe(a + b);
      }),
      1000,
    );
  });

  it('config text around an inserted event value expands on its own; the value arrives literally (args, shq, json, env)', () => {
    run(
      fc.property(configText, dollarText, configText, (before, value, after) => {
        const t = oneTask(
          `{ name: t, image: alpine, args: [${JSON.stringify(`${before}{{data.v}}${after}`)}, ${JSON.stringify(`${before}{{shq data.v}}${after}`)}, "{{json data}}"], env: [{ name: X, value: ${JSON.stringify(`${before}{{data.v}}${after}`)}, valueFrom: string }, { name: Y, value: "$.data.v", valueFrom: event }] }`,
        );
        const spec = renderTask(t, renderContext(event({ v: value })), where);
        const around = (inner: string) => expandVars(before, lookup) + inner + expandVars(after, lookup);
        expect(spec.args.map((a) => expandVars(a, lookup))).toEqual([
          around(value),
          around(shellQuote(value)),
          JSON.stringify({ project: 'p', stage: 's', service: 'v', v: value }),
        ]);
        const env = expandEnvironment([
          ...Object.entries(ENV),
          ...spec.env.flatMap((e) => (e.kind === 'value' ? [[e.name, e.value] as [string, string]] : [])),
        ]);
        expect(env.get('X')).toBe(around(value));
        expect(env.get('Y')).toBe(value);
      }),
    );
  });

  it('label values reach their LABELS_ variables literally, whatever the key', () => {
    run(
      fc.property(fc.dictionary(dollarText, dollarText, { maxKeys: 5 }), (labels) => {
        const spec = renderTask(oneTask('{ name: t, image: alpine }'), renderContext(event({ labels })), where);
        const names = spec.env.map((e) => (e.kind === 'value' ? e.name : ''));
        for (const n of names) expect(n).toMatch(/^[A-Z_][A-Z0-9_]*$/);
        const env = expandEnvironment(
          spec.env.flatMap((e) => (e.kind === 'value' ? [[e.name, e.value] as [string, string]] : [])),
        );
        for (const [k, v] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
          const name = `LABELS_${k.replace(/[^A-Za-z0-9_]/g, '_').toUpperCase()}`;
          // The first key (in sorted order) that gives a name owns it.
          const owner = Object.keys(labels)
            .sort()
            .find((other) => `LABELS_${other.replace(/[^A-Za-z0-9_]/g, '_').toUpperCase()}` === name);
          if (owner === k) expect(env.get(name)).toBe(v);
        }
      }),
    );
  });
});

/** Pieces of templates, valid and not, so random concatenations reach every corner of the checker. */
const templatePiece = fc.oneof(
  fc.constantFrom(
    '{{data.x}}',
    '{{data.list}}',
    '{{json data}}',
    '{{yaml data.list}}',
    '{{shq data.x}}',
    '{{default data.nope "d"}}',
    '{{lower data.x}}',
    '{{upper (lower data.x)}}',
    '{{eq data.x "a"}}',
    '{{lookup data "x"}}',
    '{{lookup this data.key}}',
    '{{#if data.x}}',
    '{{else}}',
    '{{/if}}',
    '{{#each data.list}}',
    '{{@index}}',
    '{{@key}}',
    '{{this}}',
    '{{/each}}',
    '{{#with data}}',
    '{{/with}}',
    '{{#unless data.x}}',
    '{{/unless}}',
    '{{constructor}}',
    '{{__proto__.x}}',
    '{{data.constructor.name}}',
    '{{lookup this "__proto__"}}',
    '{{log data}}',
    '{{helperMissing}}',
    '{{blockHelperMissing data}}',
    '{{> p}}',
    '{{*d}}',
    '{{{data.x}}}',
    '{{!comment}}',
    '{{~data.x~}}',
    '{{@root.data.x}}',
    '{{../data}}',
    '{{',
    '}}',
    '{{#',
    '{{/',
    '(',
    ')',
    '"',
    '$(A)',
    '$',
    '\\{{x}}',
    '{{{{raw}}}}',
    '{{{{/raw}}}}',
    '{{data.[a b]}}',
    '{{nope x}}',
  ),
  dollarText,
);
const template = fc.array(templatePiece, { maxLength: 12 }).map((parts) => parts.join(''));
const hostileData = fc.record({
  x: fc.oneof(dollarText, fc.integer(), fc.constant(null)),
  key: fc.constantFrom('constructor', '__proto__', 'x', 'toString', 'valueOf', 'hasOwnProperty'),
  list: fc.array(fc.oneof(dollarText, fc.jsonValue({ maxDepth: 2 })), { maxLength: 20 }),
  extra: fc.jsonValue({ maxDepth: 4 }),
});

describe('rendering answers with a string or its own error, and finishes', () => {
  it('any template over any event: a string, or TEMPLATE_ERROR naming the field', () => {
    run(
      fc.property(template, hostileData, (t, data) => {
        const ctx = templateContext(event(data));
        try {
          expect(typeof renderTemplate(t, ctx, 'actions[0].tasks[0].args[0]')).toBe('string');
        } catch (e) {
          if (!(e instanceof JobExecutorError)) throw new Error(`threw ${String(e)}`, { cause: e });
          expect(e.code).toBe('TEMPLATE_ERROR');
          expect(e.message.startsWith('actions[0].tasks[0].args[0]: ')).toBe(true);
          expect(e.message).not.toMatch(JS_ERROR);
        }
      }),
      1000,
    );
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('a template the loader accepts never fails for a reason other than the event (missing values, the budget)', () => {
    run(
      fc.property(template, hostileData, (t, data) => {
        const r = parseJobConfig(
          `apiVersion: v2\nactions:\n  - tasks:\n      - { name: t, image: alpine, args: [${JSON.stringify(t)}] }\n`,
        );
        if (!r.ok) {
          for (const p of r.problems)
            expect(p.path).toMatch(/^(actions\[0\]\.tasks\[0\]\.args\[0\]|line \d+, column \d+)$/);
          return;
        }
        // Outside the try: an event the parser refuses is skipped (fc.pre), not a rendering failure.
        const ev = event(data);
        try {
          renderActions([{ action: r.config.actions[0] as (typeof r.config.actions)[0], index: 0 }], ev);
        } catch (e) {
          if (!(e instanceof JobExecutorError)) throw new Error(`threw ${String(e)}`, { cause: e });
          expect(e.message).not.toMatch(JS_ERROR);
          expect(e.message).toMatch(
            /^actions\[0\]\.tasks\[0\]\.args\[0\]: (template ".*" refers to .*, which the event does not have|the run renders more than|template ".*" failed: )/s,
          );
        }
      }),
      1000,
    );
  });
});
