import { describe, expect, it } from 'vitest';
import { formatBytes, LIMITS } from '../../src/config/limits.js';
import { parseJobConfig, type ConfigProblem } from '../../src/config/parse.js';

/** Problems as `path: message`, or [] when the config is valid. */
function problems(text: string): string[] {
  const r = parseJobConfig(text);
  return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
}
function first(text: string): ConfigProblem {
  const r = parseJobConfig(text);
  if (r.ok) throw new Error('expected the config to be refused');
  return r.problems[0] as ConfigProblem;
}

const head = 'apiVersion: v2\nactions:\n';
const task = (extra = '') => `{ name: t, image: alpine${extra} }`;
const list = (n: number, item: (i: number) => string) => `[${Array.from({ length: n }, (_, i) => item(i)).join(', ')}]`;
const action = (tasks: number, extra = '') =>
  `  - events: [{ name: sh.keptn.event.x.triggered }]\n    tasks: ${list(tasks, () => task(extra))}\n`;

describe('YAML aliases: a shorthand, never a bomb', () => {
  it('refuses a billion-laughs config of a few kB that would expand to millions of tasks, naming the alias', () => {
    let text = `${head}  - name: bomb\n    events: [{ name: sh.keptn.event.x.triggered }]\n`;
    text += `    x0: &a0 ${task()}\n`;
    for (let i = 1; i <= 9; i++)
      text += `    x${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]\n`;
    text += '    tasks: *a9\n';
    expect(text.length).toBeLessThan(5000);
    const p = first(text);
    expect(p.message).toMatch(
      new RegExp(`expands to more than ${LIMITS.yamlNodes} values \\(at the alias \\*a\\d\\): too much aliasing`),
    );
    expect(p.path).toMatch(/^actions\[0\]\.x\d/);
    expect(p.line).toBeGreaterThan(3);
  });

  it('accepts anchors and merge keys used as a shorthand for shared task fields', () => {
    let text = `${head}  - events: [{ name: sh.keptn.event.x.triggered }]\n    tasks:\n`;
    text +=
      '      - &base { name: first, image: alpine, cmd: [echo], env: [{ name: A, value: b, valueFrom: string }] }\n';
    for (let i = 0; i < 99; i++) text += `      - { <<: *base, name: task-${i} }\n`;
    const r = parseJobConfig(text);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const tasks = r.config.actions[0]?.tasks ?? [];
    expect(tasks).toHaveLength(100);
    expect(tasks[99]).toMatchObject({ name: 'task-98', image: 'alpine', cmd: ['echo'] });
  });

  it('refuses an alias inside its own anchor (a cycle)', () => {
    expect(problems(`${head}  - &a { events: [*a] }\n`)).toEqual([
      'actions[0].events[0]: the alias *a is inside its own anchor (a cycle)',
    ]);
  });

  it('refuses keys that are lists or maps', () => {
    expect(problems('apiVersion: v2\n? [a, b]\n: c\n')).toEqual([
      '(root): a key must be a plain value, not a list or a map',
    ]);
  });
});

describe('size and shape of the YAML', () => {
  it(`refuses a file over ${LIMITS.configBytes} bytes before parsing it`, () => {
    const text = `${head}# ${'x'.repeat(LIMITS.configBytes)}\n`;
    expect(problems(text)).toEqual([
      `(root): the file is ${Buffer.byteLength(text)} bytes, more than the limit of ${formatBytes(LIMITS.configBytes)}`,
    ]);
  });

  it('refuses deep nesting with its position, in flow and block style, without reaching the stack limit', () => {
    // The second shape made the YAML composer exhaust the stack, and V8 then aborted the process.
    for (const text of [
      '['.repeat(20_000) + ']'.repeat(20_000),
      `${'- '.repeat(5000)}x`,
      `a:\n${Array.from({ length: 40 }, (_, i) => `${'  '.repeat(i + 1)}k${i}:`).join('\n')} x\n`,
    ]) {
      const p = first(text);
      expect(p.message).toBe(`invalid YAML: nested deeper than ${LIMITS.yamlDepth} levels`);
      expect(p.line).toBeGreaterThanOrEqual(1);
    }
  });

  it('refuses a second document, unknown tags and duplicate keys, each with line and column', () => {
    expect(problems(`${head}---\napiVersion: v2\n`)).toEqual([
      'line 3, column 1: invalid YAML: the file holds more than one document (remove the second "---")',
    ]);
    expect(problems(`${head}  - name: !!js/function "x"\n`)[0]).toMatch(/^line 3, column 11: invalid YAML: .*tag/i);
    expect(first(`${head}  - name: a\n    name: b\n`)).toMatchObject({
      path: 'actions[0].name',
      message: 'invalid YAML: map keys must be unique',
      line: 4,
      column: 5,
    });
  });

  it('treats __proto__ as an unknown key and does not touch any prototype', () => {
    expect(problems(`${head}  - __proto__: { polluted: yes }\n`)).toEqual(['actions[0].__proto__: unknown key']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it(`refuses a string over ${LIMITS.stringLength} characters`, () => {
    expect(problems(`${head}${action(1, `, args: ["${'a'.repeat(LIMITS.stringLength + 1)}"]`)}`)).toEqual([
      `actions[0].tasks[0].args[0]: too many characters (${LIMITS.stringLength + 1}): the limit is ${LIMITS.stringLength}`,
    ]);
  });
});

describe('count limits: each refused past the limit, naming the path, and accepted at it', () => {
  const cases: Array<[string, (n: number) => string, number, string]> = [
    [
      'actions',
      (n) => head + Array.from({ length: n }, () => action(0)).join(''),
      LIMITS.actions,
      'actions: too many actions',
    ],
    [
      'events of an action',
      (n) => `${head}  - events: ${list(n, () => '{ name: sh.keptn.event.x.triggered }')}\n`,
      LIMITS.eventsPerAction,
      'actions[0].events: too many events',
    ],
    ['tasks of an action', (n) => head + action(n), LIMITS.tasksPerAction, 'actions[0].tasks: too many tasks'],
    [
      'cmd entries',
      (n) => head + action(1, `, cmd: ${list(n, () => 'a')}`),
      LIMITS.argsPerTask,
      'actions[0].tasks[0].cmd: too many cmd entries',
    ],
    [
      'args',
      (n) => head + action(1, `, args: ${list(n, () => 'a')}`),
      LIMITS.argsPerTask,
      'actions[0].tasks[0].args: too many args',
    ],
    [
      'env entries',
      (n) => head + action(1, `, env: ${list(n, (i) => `{ name: E${i}, valueFrom: string }`)}`),
      LIMITS.envPerTask,
      'actions[0].tasks[0].env: too many env entries',
    ],
    [
      'files entries',
      (n) => head + action(1, `, files: ${list(n, (i) => `f${i}`)}`),
      LIMITS.filesPerTask,
      'actions[0].tasks[0].files: too many files entries',
    ],
  ];
  it.each(cases)('%s', (_what, make, limit, message) => {
    expect(problems(make(limit))).toEqual([]);
    expect(problems(make(limit + 1))).toEqual([`${message} (${limit + 1}): the limit is ${limit}`]);
  });

  it(`tasks in the whole config, as all of them can run in one run (${LIMITS.tasksPerConfig})`, () => {
    const per = LIMITS.tasksPerConfig / 2;
    expect(problems(head + action(per) + action(per))).toEqual([]);
    expect(problems(head + action(per) + action(per) + action(1))).toEqual([
      `actions: too many tasks in the config (${LIMITS.tasksPerConfig + 1}): the limit is ${LIMITS.tasksPerConfig}, as all of them can run in one run`,
    ]);
  });

  it(`template nesting (${LIMITS.templateDepth} levels)`, () => {
    const nested = (n: number) => `${'{{#if data}}'.repeat(n)}x${'{{/if}}'.repeat(n)}`;
    expect(problems(head + action(1, `, args: ["${nested(LIMITS.templateDepth)}"]`))).toEqual([]);
    expect(problems(head + action(1, `, args: ["${nested(LIMITS.templateDepth + 1)}"]`))[0]).toMatch(
      new RegExp(
        `^actions\\[0\\]\\.tasks\\[0\\]\\.args\\[0\\]: template: blocks and subexpressions nest deeper than ${LIMITS.templateDepth} levels`,
      ),
    );
  });
});
