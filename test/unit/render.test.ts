import { describe, expect, it, vi } from 'vitest';
import { parseJobConfigOrThrow } from '../../src/config/parse.js';
import { escapeJson, expansionContext, templateContext } from '../../src/render/context.js';
import { escapeForExpansion, expandEnvironment, expandVars } from '../../src/render/expand.js';
import { formatEventValue, goFloat, goJson, goV } from '../../src/render/go-format.js';
import { renderTemplate, shellQuote } from '../../src/render/handlebars.js';
import { renderActions, renderContext, renderTask, type EnvSpec } from '../../src/render/task-spec.js';
import { keptnEvent } from '../helpers/service.js';

function task(yamlTask: string) {
  const { config } = parseJobConfigOrThrow(
    `apiVersion: v2\nactions:\n  - name: a\n    tasks:\n      - ${yamlTask.trim().split('\n').join('\n        ')}\n`,
    'inline',
  );
  return config.actions[0]?.tasks[0] as NonNullable<(typeof config.actions)[0]['tasks'][0]>;
}

const values = (env: readonly EnvSpec[]) =>
  env.map((e) => (e.kind === 'value' ? `${e.name}=${e.value}` : `secret:${e.secretName}`));

describe('Handlebars rendering', () => {
  const event = keptnEvent('sh.keptn.event.action.triggered', {
    labels: { team: 'a b' },
    action: { action: 'scale', value: '2' },
    list: ['x', 'z'],
  });
  const ctx = templateContext(event);

  it('sees the event and its shortcuts', () => {
    expect(
      renderTemplate(
        '{{project}}-{{stage}}/{{service}} {{data.action.value}} {{event.type}} {{type}} {{labels.team}} {{gitcommitid}}',
        ctx,
        'f',
      ),
    ).toBe('proj-dev/svc 2 sh.keptn.event.action.triggered sh.keptn.event.action.triggered a b abc123');
    expect(renderTemplate('{{shkeptncontext}} {{id}}', ctx, 'f')).toBe(`${event.shkeptncontext} ${event.id}`);
  });

  it('does not HTML-escape', () => {
    expect(renderTemplate('{{json data.action}}', ctx, 'f')).toBe('{"action":"scale","value":"2"}');
  });

  it('has json, yaml, shq and default helpers', () => {
    expect(renderTemplate('{{json data.list}}', ctx, 'f')).toBe('["x","z"]');
    expect(renderTemplate('{{yaml data.list}}', ctx, 'f')).toBe('- x\n- z');
    expect(renderTemplate('{{shq labels.team}}', ctx, 'f')).toBe("'a b'");
    expect(renderTemplate('{{default data.missing "fallback"}}', ctx, 'f')).toBe('fallback');
    expect(renderTemplate('{{default data.action.value "fallback"}}', ctx, 'f')).toBe('2');
  });

  it('names the field and the missing path instead of rendering an empty string', () => {
    expect(() => renderTemplate('--set replicas={{data.action.replicas}}', ctx, 'actions[0].tasks[1].args[2]')).toThrow(
      'actions[0].tasks[1].args[2]: template "--set replicas={{data.action.replicas}}" refers to data.action.replicas, which the event does not have',
    );
    expect(() => renderTemplate('{{nothing.here}}', ctx, 'x')).toThrow(/refers to nothing.here/);
  });

  it('reports template syntax errors with the field', () => {
    expect(() => renderTemplate('{{#if}}', ctx, 'actions[0].tasks[0].name')).toThrow(
      'actions[0].tasks[0].name: template "{{#if}}" cannot be used: template syntax: line 1, column 8: the template ends too early (a {{#block}} without its {{/block}}?)',
    );
  });
});

describe('shell quoting', () => {
  it.each([
    ['plain', 'plain'],
    ['', "''"],
    ['a b', "'a b'"],
    ["it's", "'it'\\''s'"],
    ['$(rm -rf /)', "'$(rm -rf /)'"],
  ])('%j → %s', (input, out) => expect(shellQuote(input)).toBe(out));
});

describe('environment (JES rules)', () => {
  const event = keptnEvent('sh.keptn.event.envvar.triggered', {
    labels: { 'e2e-label': 'EXAMPLE_LABEL', jsonPathLabel: 'JSON_PATH_LABEL_VALUE', 'with space': 'v' },
    additionalData: { jsonPathArray: ['<not-displayed>', '<displayed>'] },
    n: 1000000,
    f: 12.5,
    nothing: null,
  });

  it('builds the JES e2e environment exactly, built-ins last and labels sorted', () => {
    const spec = renderTask(
      task(`
name: env
image: alpine
env:
  - { name: E2E-jsonPathLabel, value: "$.data.labels.jsonPathLabel", valueFrom: event }
  - { name: E2E-EVENT, value: "$.data.additionalData", valueFrom: event, as: json }
  - { name: E2E-jsonPathArray, value: "$.data.additionalData.jsonPathArray[1]", valueFrom: event }
  - { name: e2e-kubernetes-secret, valueFrom: secret }
  - { name: E2E_DATA_DIR, value: /tmp/data, valueFrom: string }
`),
      renderContext(event),
      { actionIndex: 0, taskIndex: 0, actionName: 'a' },
    );
    expect(values(spec.env)).toEqual([
      'E2E-jsonPathLabel=JSON_PATH_LABEL_VALUE',
      'E2E-EVENT={"jsonPathArray":["\\u003cnot-displayed\\u003e","\\u003cdisplayed\\u003e"]}',
      'E2E-jsonPathArray=<displayed>',
      'secret:e2e-kubernetes-secret',
      'E2E_DATA_DIR=/tmp/data',
      'KEPTN_PROJECT=proj',
      'KEPTN_STAGE=dev',
      'KEPTN_SERVICE=svc',
      'LABELS_E2E_LABEL=EXAMPLE_LABEL',
      'LABELS_JSONPATHLABEL=JSON_PATH_LABEL_VALUE',
      'LABELS_WITH_SPACE=v',
    ]);
  });

  it('formats values as Go did', () => {
    expect(formatEventValue(['a', 'b'], undefined)).toBe('[a b]');
    expect(formatEventValue(['a', 'b'], 'json')).toBe('["a","b"]');
    expect(formatEventValue(['a', 'b'], 'yaml')).toBe('- a\n- b\n');
    expect(formatEventValue({ b: 1, a: '<&>' }, undefined)).toBe('{"a":"\\u003c\\u0026\\u003e","b":1}');
    expect(formatEventValue(null, undefined)).toBe('<nil>');
    expect(formatEventValue('text', 'json')).toBe('"text"');
    expect(goV([{ k: 'v' }, 1, true])).toBe('[map[k:v] 1 true]');
    expect(goJson({ z: [{ b: 2, a: 1 }] })).toBe('{"z":[{"a":1,"b":2}]}');
  });

  it.each([
    [1000000, '1e+06'],
    [123456, '123456'],
    [1234567, '1.234567e+06'],
    [12.5, '12.5'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [-2, '-2'],
  ])('Go %%v of %d is %s', (n, text) => expect(goFloat(n)).toBe(text));

  it('fails naming the entry when the event has no such value', () => {
    expect(() =>
      renderTask(
        task('name: t\nimage: alpine\nenv: [{ name: X, value: "$.data.nope", valueFrom: event }]'),
        renderContext(event),
        {
          actionIndex: 0,
          taskIndex: 0,
          actionName: 'a',
        },
      ),
    ).toThrow(
      "actions[0].tasks[0].env[0]: could not add env with name 'X', value '$.data.nope', valueFrom 'event': the event has no value at $.data.nope",
    );
  });

  it('renders every string field of a task and keeps $(VAR) for the runner', () => {
    const spec = renderTask(
      task(`
name: "Scale {{service}}"
image: "alpine/helm:{{default data.tag '3.9.0'}}"
cmd: [helm]
args: [upgrade, "-n", "{{project}}-{{stage}}", "$(KEPTN_SERVICE)"]
files: ["/charts/{{service}}.tgz"]
workingDir: "/keptn/{{service}}"
namespace: "{{project}}-{{stage}}"
serviceAccount: "{{service}}-deployer"
`),
      renderContext(event),
      { actionIndex: 2, taskIndex: 1, actionName: 'a' },
    );
    expect(spec).toMatchObject({
      name: 'Scale svc',
      image: 'alpine/helm:3.9.0',
      args: ['upgrade', '-n', 'proj-dev', '$(KEPTN_SERVICE)'],
      files: ['/charts/svc.tgz'],
      workingDir: '/keptn/svc',
      namespace: 'proj-dev',
      serviceAccount: 'svc-deployer',
      actionIndex: 2,
      taskIndex: 1,
    });
  });
});

describe('renderActions', () => {
  it('renders every matched task and caps maxPollDuration at the task deadline', () => {
    const { config } = parseJobConfigOrThrow(
      'apiVersion: v2\nactions:\n  - name: a\n    tasks:\n      - { name: long, image: alpine, maxPollDuration: 600 }\n      - { name: short, image: alpine, maxPollDuration: 10 }\n',
      'inline',
    );
    const event = keptnEvent('sh.keptn.event.x.triggered');
    const matched = [{ action: config.actions[0] as (typeof config.actions)[0], index: 3 }];
    expect(renderActions(matched, event, 60)[0]?.tasks.map((t) => [t.name, t.actionIndex, t.maxPollDuration])).toEqual([
      ['long', 3, 60],
      ['short', 3, 10],
    ]);
    expect(renderActions(matched, event)[0]?.tasks[0]?.maxPollDuration).toBe(600);
  });
});

describe('$(VAR) expansion (Kubernetes rules)', () => {
  const vars: Record<string, string> = { VAR_A: 'A', VAR_B: 'B', EMPTY: '' };
  const lookup = (n: string) => vars[n];
  it.each([
    ['$(VAR_A)', 'A'],
    ['___$(VAR_B)___', '___B___'],
    ['$(VAR_A)-$(VAR_B)', 'A-B'],
    ['$$(VAR_A)', '$(VAR_A)'],
    ['$$$(VAR_A)', '$A'],
    ['$$$$(VAR_A)', '$$(VAR_A)'],
    ['$(UNDEFINED)', '$(UNDEFINED)'],
    ['$(EMPTY)x', 'x'],
    ['$(VAR_A', '$(VAR_A'],
    ['$VAR_A', '$VAR_A'],
    ['$', '$'],
    ['a$', 'a$'],
    ['$()', '$()'],
    ['--set replicaCount=$(VAR_B)', '--set replicaCount=B'],
  ])('%s → %s', (input, out) => expect(expandVars(input, lookup)).toBe(out));

  it('lets a value refer only to variables defined before it', () => {
    const env = expandEnvironment([
      ['A', 'a'],
      ['B', '$(A)-$(C)'],
      ['C', 'c'],
    ]);
    expect(env.get('B')).toBe('a-$(C)');
  });
});

/** Expands a spec's cmd/args/env the way a Pod (and the local runner) does. */
function expanded(spec: ReturnType<typeof renderTask>) {
  const env = expandEnvironment(spec.env.flatMap((e) => (e.kind === 'value' ? [[e.name, e.value] as const] : [])));
  const lookup = (n: string) => env.get(n);
  return { argv: [...spec.cmd, ...spec.args].map((a) => expandVars(a, lookup)), env };
}

describe('event text never becomes a $(VAR) reference (defect 1)', () => {
  const event = keptnEvent('sh.keptn.event.x.triggered', {
    note: '$(API_KEY)',
    paren: '(API_KEY)',
    dollars: '$$(API_KEY) $',
    nested: { '$(API_KEY)': ['$(API_KEY)'] },
    labels: { note: '$(API_KEY)' },
  });
  const spec = renderTask(
    task(`
name: "{{data.note}}"
image: alpine
cmd: [/bin/sh, -c, "echo {{shq data.note}}"]
args: ["{{data.note}}", "\${{data.paren}}", "{{data.dollars}}{{data.paren}}", "$(API_KEY)", "{{default data.missing '$(API_KEY)'}}", "{{json data.nested}}", "{{#each data.nested}}{{@key}}={{this}}{{/each}}"]
workingDir: "/keptn/{{data.note}}"
env:
  - { name: API_KEY, value: s3cret, valueFrom: string }
  - { name: NOTE, value: "$.data.note", valueFrom: event }
  - { name: MIXED, value: "{{data.note}} $(API_KEY)", valueFrom: string }
`),
    renderContext(event),
    { actionIndex: 0, taskIndex: 0, actionName: 'a' },
  );

  it('escapes event text in cmd, args and env values, so expansion gives it back exactly', () => {
    expect(spec.args[0]).toBe('$$(API_KEY)');
    const { argv, env } = expanded(spec);
    expect(argv).toEqual([
      '/bin/sh',
      '-c',
      "echo '$(API_KEY)'",
      '$(API_KEY)',
      '$(API_KEY)', // the config's own `$` before inserted "(API_KEY)" does not complete a reference
      '$$(API_KEY) $(API_KEY)',
      's3cret', // written in the config: expands
      's3cret', // a helper's literal argument is the config's text too
      '{"$(API_KEY)":["$(API_KEY)"]}',
      '$(API_KEY)=$(API_KEY)',
    ]);
    expect(env.get('NOTE')).toBe('$(API_KEY)');
    expect(env.get('MIXED')).toBe('$(API_KEY) s3cret');
    expect(env.get('LABELS_NOTE')).toBe('$(API_KEY)');
    expect([...env.values()].filter((v) => v.includes('s3cret'))).toEqual(['s3cret', '$(API_KEY) s3cret']);
  });

  it('does not let the event choose the variable of a reference the config leaves open', () => {
    const ev = keptnEvent('sh.keptn.event.x.triggered', { which: 'API_KEY', rest: 'API_KEY)' });
    const t = task(
      'name: t\nimage: alpine\nargs: ["$({{data.which}})", "$({{data.rest}}", "$(API_KEY) $({{data.which}})"]\nenv: [{ name: API_KEY, value: s3cret, valueFrom: string }]',
    );
    expect(expanded(renderTask(t, renderContext(ev), { actionIndex: 0, taskIndex: 0, actionName: 'a' })).argv).toEqual([
      '$(API_KEY)',
      '$(API_KEY)',
      's3cret $(API_KEY)',
    ]);
  });

  it('leaves fields Kubernetes does not expand as the raw text', () => {
    expect(spec.name).toBe('$(API_KEY)');
    expect(spec.workingDir).toBe('/keptn/$(API_KEY)');
  });

  it('escapeForExpansion round-trips through expansion, also next to other text', () => {
    const lookup = () => 'SECRET';
    for (const s of ['$(A)', '$$', '$', 'a$', '$$$(A)', '($(A))', '$a$(', 'plain']) {
      expect(expandVars(escapeForExpansion(s), lookup)).toBe(s);
      expect(expandVars(escapeForExpansion(s) + escapeForExpansion('(A)'), lookup)).toBe(`${s}(A)`);
    }
  });

  it('escapes keys and values of the whole event in the expansion context', () => {
    const ctx = expansionContext(event);
    expect(ctx.data.nested).toEqual({ '$$(API_KEY)': ['$$(API_KEY)'] });
    expect([ctx.data.note, ctx.labels.note, ctx.event.data.note]).toEqual([
      '$$(API_KEY)',
      '$$(API_KEY)',
      '$$(API_KEY)',
    ]);
    // An own "__proto__" key stays data (the event parser refuses it anyway; the copy must not depend on that).
    const copy = escapeJson(JSON.parse('{"__proto__": {"$(X)": "$(Y)"}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(JSON.stringify(copy)).toBe('{"__proto__":{"$$(X)":"$$(Y)"}}');
  });
});

describe('label keys become valid env names (defect 9)', () => {
  it('sanitises what cannot be in a name and keeps the first of two keys that give the same name', () => {
    const event = keptnEvent('sh.keptn.event.x.triggered', {
      labels: { 'a=b': '1', 'a b': '2', 'ä-x': '3', '': '4', 'a-b': '5' },
    });
    const spec = renderTask(task('name: t\nimage: alpine'), renderContext(event), {
      actionIndex: 0,
      taskIndex: 0,
      actionName: 'a',
    });
    expect(values(spec.env).filter((v) => v.startsWith('LABELS_'))).toEqual([
      'LABELS_=4',
      'LABELS_A_B=2',
      'LABELS___X=3',
    ]);
  });

  it('refuses a templated env name that renders into an invalid one, naming the entry', () => {
    const event = keptnEvent('sh.keptn.event.x.triggered', { n: 'A=B' });
    expect(() =>
      renderTask(
        task('name: t\nimage: alpine\nenv: [{ name: "{{data.n}}", value: x, valueFrom: string }]'),
        renderContext(event),
        { actionIndex: 0, taskIndex: 0, actionName: 'a' },
      ),
    ).toThrow('actions[0].tasks[0].env[0].name: "A=B" is not a valid environment variable name');
  });

  it('refuses a templated files entry that renders out of the config folder', () => {
    const event = keptnEvent('sh.keptn.event.x.triggered', { f: '../../etc/passwd' });
    expect(() =>
      renderTask(task('name: t\nimage: alpine\nfiles: ["{{data.f}}"]'), renderContext(event), {
        actionIndex: 0,
        taskIndex: 0,
        actionName: 'a',
      }),
    ).toThrow(/^actions\[0\]\.tasks\[0\]\.files\[0\]: "\.\.\/\.\.\/etc\/passwd" has a "\.\." segment/);
  });
});

describe('template errors name their real cause (defect 10)', () => {
  const event = keptnEvent('sh.keptn.event.x.triggered', { x: 'v' });
  const ctx = templateContext(event);
  it.each([
    ['{{shout data.x}}', 'unknown helper "shout"'],
    ['{{helperMissing}}', '"helperMissing" is not a helper templates may use'],
    ['{{blockHelperMissing data.x}}', '"blockHelperMissing" is not a helper templates may use'],
    ['{{#if}}', 'template syntax: line 1, column 8'],
  ])('%s', (template, cause) => {
    const thrown = (() => {
      try {
        renderTemplate(template, ctx, 'actions[0].tasks[0].args[0]');
      } catch (e) {
        return e as Error & { code?: string };
      }
      throw new Error('expected an error');
    })();
    expect(thrown.code).toBe('TEMPLATE_ERROR');
    expect(thrown.message).toContain(`actions[0].tasks[0].args[0]: template "${template}" cannot be used: `);
    expect(thrown.message).toContain(cause);
    expect(thrown.message).not.toMatch(/which the event does not have|TypeError|Cannot read/);
  });
});

describe('templates cannot log or reach prototypes (defects 9, 11)', () => {
  it('has no log helper, and denied prototype lookups write nothing to the console', () => {
    const event = keptnEvent('sh.keptn.event.x.triggered', { k: 'constructor', p: '__proto__' });
    const ctx = templateContext(event);
    const writes: string[] = [];
    const spies = [
      vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void writes.push(a.join(' '))),
      vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void writes.push(a.join(' '))),
      vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => void writes.push(a.join(' '))),
    ];
    try {
      expect(() => renderTemplate('{{log "forged"}}', ctx, 'f')).toThrow('"log" is not a helper templates may use');
      // Keys chosen by the event reach nothing: Handlebars' prototype protection stays on.
      expect(renderTemplate('[{{lookup this data.k}}][{{lookup data data.p}}]', ctx, 'f')).toBe('[][]');
      expect(renderTemplate('{{#with (lookup this data.k)}}{{lookup this ../data.k}}{{/with}}', ctx, 'f')).toBe('');
      expect(renderTemplate('{{#each this}}{{/each}}{{lookup (lookup event data.k) data.k}}', ctx, 'f')).toBe('');
    } finally {
      for (const s of spies) s.mockRestore();
    }
    expect(writes).toEqual([]);
  });
});

describe('rendering is bounded per run', () => {
  const list = Array.from({ length: 3000 }, (_, i) => i);
  const event = keptnEvent('sh.keptn.event.x.triggered', { list, big: 'x'.repeat(100_000) });

  it('stops loops inside loops over event data', () => {
    expect(() =>
      renderTemplate('{{#each data.list}}{{#each ../data.list}}{{/each}}{{/each}}', templateContext(event), 'f'),
    ).toThrow(/^f: the run renders more than 4194304 characters/);
  });

  it('counts every field of the run against one budget', () => {
    const rc = renderContext(event);
    const t = task(
      `name: t\nimage: alpine\nargs: ${JSON.stringify(Array.from({ length: 50 }, () => '{{json data.big}}'))}`,
    );
    expect(() => renderTask(t, rc, { actionIndex: 0, taskIndex: 0, actionName: 'a' })).toThrow(
      /^actions\[0\]\.tasks\[0\]\.args\[\d+\]: the run renders more than/,
    );
  });
});
