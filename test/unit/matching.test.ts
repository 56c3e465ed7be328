import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJobConfigOrThrow } from '../../src/config/parse.js';
import { globMatches, globProblem, globToRegExp } from '../../src/matching/glob.js';
import { matchActions } from '../../src/matching/match.js';
import { keptnEvent } from '../helpers/service.js';

describe('event type globs', () => {
  it.each([
    ['sh.keptn.event.*.triggered', 'sh.keptn.event.deployment.triggered', true],
    ['sh.keptn.event.*.triggered', 'sh.keptn.event.deployment.finished', false],
    ['sh.keptn.event.test', 'sh.keptn.event.test.finished', false], // JES's unanchored regex matched this
    ['sh.keptn.event.test.triggered', 'sh.keptn.event.test.triggered', true],
    ['sh.keptn.event.test.triggered', 'shXkeptn.event.test.triggered', false], // a dot is a dot
    ['sh.keptn.event.{test,deployment}.triggered', 'sh.keptn.event.deployment.triggered', true],
    ['sh.keptn.event.te?t.triggered', 'sh.keptn.event.test.triggered', true],
    ['sh.keptn.event.*', 'sh.keptn.event.a.b.c', true],
  ])('%s vs %s → %s', (glob, type, expected) => {
    expect(globMatches(glob, type)).toBe(expected);
  });
});

describe('matching actions', () => {
  const { config } = parseJobConfigOrThrow(
    `apiVersion: v2
actions:
  - name: scale
    events: [{ name: sh.keptn.event.action.triggered, jsonpath: { property: $.data.action.action, match: scale } }]
  - name: any-action
    events: [{ name: "sh.keptn.event.*.triggered" }]
  - name: by-number
    events: [{ name: sh.keptn.event.action.triggered, jsonpath: { property: $.data.count, match: "2" } }]
  - name: by-context
    events: [{ name: "sh.keptn.event.action.*", jsonpath: { property: $.shkeptncontext, match: "11111111-2222-4333-8444-555555555555" } }]
  - name: by-type
    events: [{ name: "*", jsonpath: { property: $.type, match: sh.keptn.event.action.triggered } }]
`,
    'inline',
  );

  it('runs every matching action in config order (JES ran only the first)', () => {
    const ev = keptnEvent('sh.keptn.event.action.triggered', { action: { action: 'scale' }, count: 2 });
    expect(matchActions(config, ev).map((m) => [m.index, m.action.name])).toEqual([
      [0, 'scale'],
      [1, 'any-action'],
      [2, 'by-number'],
      [3, 'by-context'],
      [4, 'by-type'],
    ]);
  });

  it('compares the string form of the selected value', () => {
    const ev = keptnEvent('sh.keptn.event.action.triggered', { action: { action: 'restart' }, count: 3 });
    expect(matchActions(config, ev).map((m) => m.action.name)).toEqual(['any-action', 'by-context', 'by-type']);
  });

  it('a JSONPath that selects nothing does not match and does not throw', () => {
    const ev = keptnEvent('sh.keptn.event.action.triggered', {});
    expect(matchActions(config, ev).map((m) => m.action.name)).not.toContain('scale');
  });
});

describe('glob matching without regex backtracking', () => {
  it('means exactly what the anchored regex form of the glob means', () => {
    const glob = fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '?', '{', '}', ','), maxLength: 12 });
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '{', ','), maxLength: 14 });
    fc.assert(
      fc.property(glob, text, (g, t) => {
        fc.pre(globProblem(g) === undefined);
        expect(globMatches(g, t)).toBe(globToRegExp(g).test(t));
      }),
      { seed: 20261204, numRuns: 3000 },
    );
  });

  it('refuses what can never match, and alternatives that spell out too many patterns', () => {
    expect(globProblem('sh.keptn.event.{a,b.triggered')).toBe('unclosed "{" in "sh.keptn.event.{a,b.triggered"');
    expect(globProblem('{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}')).toMatch(/spell out more than 64 patterns/);
    expect(globProblem('x'.repeat(1025))).toBe('longer than 1024 characters');
    // A pattern of many stars against a long type: the regex form backtracks for minutes, this answers at once.
    expect(globMatches(`${'*a'.repeat(30)}b`, 'a'.repeat(100_000))).toBe(false);
  });
});
