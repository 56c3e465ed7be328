import { describe, expect, it } from 'vitest';
import { parseJobConfigOrThrow } from '../../src/config/parse.js';
import { templateContext } from '../../src/render/context.js';
import { expandEnvironment, expandVars } from '../../src/render/expand.js';
import { formatEventValue, goFloat, goJson, goV } from '../../src/render/go-format.js';
import { renderTemplate, shellQuote } from '../../src/render/handlebars.js';
import { renderActions, renderTask, type EnvSpec } from '../../src/render/task-spec.js';
import { keptnEvent } from '../helpers/service.js';

function task(yamlTask: string) {
  const { config } = parseJobConfigOrThrow(`apiVersion: v2\nactions:\n  - name: a\n    tasks:\n      - ${yamlTask.trim().split('\n').join('\n        ')}\n`, 'inline');
  return config.actions[0]?.tasks[0] as NonNullable<(typeof config.actions)[0]['tasks'][0]>;
}

const values = (env: readonly EnvSpec[]) => env.map((e) => (e.kind === 'value' ? `${e.name}=${e.value}` : `secret:${e.secretName}`));

describe('Handlebars rendering', () => {
  const event = keptnEvent('sh.keptn.event.action.triggered', {
    labels: { team: 'a b' },
    action: { action: 'scale', value: '2' },
    list: ['x', 'z'],
  });
  const ctx = templateContext(event);

  it('sees the event and its shortcuts', () => {
    expect(renderTemplate('{{project}}-{{stage}}/{{service}} {{data.action.value}} {{event.type}} {{type}} {{labels.team}} {{gitcommitid}}', ctx, 'f')).toBe(
      'proj-dev/svc 2 sh.keptn.event.action.triggered sh.keptn.event.action.triggered a b abc123',
    );
    expect(renderTemplate('{{shkeptncontext}} {{id}}', ctx, 'f')).toBe(`${event.shkeptncontext} ${event.id}`);
  });

  it('does not HTML-escape', () => {
    expect(renderTemplate('{{json data.action}}', ctx, 'f')).toBe('{"action":"scale","value":"2"}');
  });

  it('has json, yaml, shq and default helpers', () => {
    expect(renderTemplate('{{json data.list}}', ctx, 'f')).toBe('["x","z"]');
    expect(renderTemplate('{{yaml data.list}}', ctx, 'f')).toBe('- x\n- z');
    expect(renderTemplate("{{shq labels.team}}", ctx, 'f')).toBe("'a b'");
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
    expect(() => renderTemplate('{{#if}}', ctx, 'actions[0].tasks[0].name')).toThrow(/^actions\[0\]\.tasks\[0\]\.name: template "\{\{#if\}\}" failed/);
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
      event,
      templateContext(event),
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
      renderTask(task('name: t\nimage: alpine\nenv: [{ name: X, value: "$.data.nope", valueFrom: event }]'), event, templateContext(event), {
        actionIndex: 0,
        taskIndex: 0,
        actionName: 'a',
      }),
    ).toThrow("actions[0].tasks[0].env[0]: could not add env with name 'X', value '$.data.nope', valueFrom 'event': the event has no value at $.data.nope");
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
      event,
      templateContext(event),
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
