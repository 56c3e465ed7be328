import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { jobConfigJsonSchema, jobConfigReference } from '../../src/config/json-schema.js';
import { parseJobConfig } from '../../src/config/parse.js';

const FULL = `
apiVersion: v2
actions:
  - name: "Every JES field"
    silent: false
    events:
      - name: "sh.keptn.event.deployment.triggered"
        jsonpath: { property: "$.data.deployment.deploymentstrategy", match: "direct" }
    tasks:
      - name: "Run helm"
        image: "alpine/helm:3.9.0"
        imagePullPolicy: IfNotPresent
        cmd: ["helm"]
        args: ["upgrade", "--install"]
        env:
          - { name: IMAGE, value: "$.data.image", valueFrom: event, as: JSON }
          - { name: my-secret, valueFrom: secret }
          - { name: DIR, value: /tmp/data, valueFrom: string }
        files: [ /charts, locust/basic.py ]
        workingDir: /keptn
        maxPollDuration: 1006
        namespace: other
        resources: { limits: { cpu: "1", memory: 512Mi }, requests: { cpu: 50m, memory: 128Mi } }
        securityContext:
          capabilities: { add: [NET_BIND_SERVICE], drop: [ALL] }
          privileged: false
          runAsUser: 1000
          runAsGroup: 2000
          runAsNonRoot: true
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
          procMount: Default
          seccompProfile: { type: RuntimeDefault }
        serviceAccount: deployer
        ttlSecondsAfterFinished: 600
        annotations: { vault.hashicorp.com/agent-inject: "true" }
        onError: warn
`;

function problems(text: string): string[] {
  const r = parseJobConfig(text);
  return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
}

describe('job/config.yaml schema', () => {
  it('accepts every JES field and the new onError', () => {
    const r = parseJobConfig(FULL);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const task = r.config.actions[0]?.tasks[0];
    expect(task?.maxPollDuration).toBe(1006);
    expect(task?.onError).toBe('warn');
    expect(task?.env?.[0]?.as).toBe('json');
    expect(r.hash).toMatch(/^[0-9a-f]{56}$/);
    expect(Object.isFrozen(r.config.actions[0])).toBe(true);
  });

  it('fills JES defaults', () => {
    const r = parseJobConfig('apiVersion: v2\nactions:\n  - events: [{name: x}]\n    tasks: [{image: alpine}]\n');
    expect(r.ok && r.config.actions[0]?.tasks[0]).toMatchObject({ maxPollDuration: 300, onError: 'fail', name: '' });
    expect(r.ok && r.config.actions[0]?.silent).toBe(false);
  });

  it('rejects an unknown key and names its path, with a suggestion', () => {
    expect(
      problems(
        'apiVersion: v2\nactions:\n  - tasks:\n      - name: a\n        image: alpine\n      - imagee: alpine\n',
      ),
    ).toEqual(['actions[0].tasks[1].imagee: unknown key (did you mean "image"?)']);
  });

  it('explains cmd given as a string (JES issue #206)', () => {
    const [p] = problems('apiVersion: v2\nactions:\n  - tasks:\n      - cmd: "ls -la"\n        image: alpine\n');
    expect(p).toMatch(/^actions\[0\]\.tasks\[0\]\.cmd: expected a list of strings, got a string: split the program/);
  });

  it('keeps JES apiVersion messages', () => {
    expect(problems('actions: []')).toEqual(['apiVersion: apiVersion must be specified']);
    expect(problems('apiVersion: v1')).toEqual(['apiVersion: apiVersion v1 is not supported, use v2']);
  });

  it('requires valueFrom on env entries and names the allowed values', () => {
    expect(
      problems('apiVersion: v2\nactions:\n  - tasks:\n      - image: alpine\n        env: [{name: A, value: b}]\n'),
    ).toEqual(['actions[0].tasks[0].env[0].valueFrom: required: one of event, secret, string']);
    expect(
      problems(
        'apiVersion: v2\nactions:\n  - tasks:\n      - image: alpine\n        env: [{name: A, value: b, valueFrom: file}]\n',
      ),
    ).toEqual(['actions[0].tasks[0].env[0].valueFrom: unknown valueFrom "file", use one of event, secret, string']);
  });

  it('reports YAML errors with their line, including duplicate keys', () => {
    expect(parseJobConfig('apiVersion: v2\napiVersion: v2\n')).toMatchObject({
      problems: [{ path: 'apiVersion', message: 'invalid YAML: map keys must be unique', line: 2, column: 1 }],
    });
    expect(problems('')).toEqual(['(root): the file is empty']);
  });

  it('rejects a seccompProfile without type (JES panicked)', () => {
    expect(
      problems(
        'apiVersion: v2\nactions:\n  - tasks:\n      - image: alpine\n        securityContext: {seccompProfile: {}}\n',
      ),
    ).toEqual(['actions[0].tasks[0].securityContext.seccompProfile.type: required']);
  });

  it('parses the shipped configs', async () => {
    for (const f of [
      'job-config/job/config.yaml',
      'job-config/fulltour/production/helloservice/job/config.yaml',
      'job-config/examples/self-healing.handlebars.yaml',
    ]) {
      expect(parseJobConfig(await readFile(f, 'utf8')), f).toMatchObject({ ok: true });
    }
  });
});

describe('generated artefacts', () => {
  it('job-config/job-config.schema.json is the JSON Schema of the zod schema (run `npm run schema` after a change)', async () => {
    const committed = JSON.parse(await readFile('job-config/job-config.schema.json', 'utf8')) as unknown;
    expect(committed).toEqual(jobConfigJsonSchema());
  });

  it('job-config/REFERENCE.md is generated from the same schema', async () => {
    expect(await readFile('job-config/REFERENCE.md', 'utf8')).toBe(jobConfigReference());
  });

  it('the JSON Schema rejects unknown keys for editors too', () => {
    const schema = jobConfigJsonSchema() as { additionalProperties?: boolean };
    expect(schema.additionalProperties).toBe(false);
  });
});

describe('what would fail at run time is refused at load, naming the field', () => {
  const withTask = (fields: string) =>
    `apiVersion: v2\nactions:\n  - events: [{ name: sh.keptn.event.x.triggered }]\n    tasks:\n      - { name: t, image: alpine, ${fields} }\n`;

  it.each([
    ['A=B', 'A=B'],
    ['"A B"', 'A B'],
    ['Ä', 'Ä'],
    ['"A\\0B"', 'A\\u0000B'],
    ['1A', '1A'],
  ])('env name %s is not a valid environment variable name', (yamlName, shown) => {
    expect(problems(withTask(`env: [{ name: ${yamlName}, value: x, valueFrom: string }]`))).toEqual([
      `actions[0].tasks[0].env[0].name: "${shown}" is not a valid environment variable name (letters, digits, "_", "-" and ".", not starting with a digit)`,
    ]);
  });

  it('accepts the env names JES configs use, and checks Secret names as Secret names', () => {
    expect(
      problems(
        withTask(
          'env: [{ name: E2E-jsonPathLabel, value: $.data.x, valueFrom: event }, { name: _a.b, valueFrom: string }]',
        ),
      ),
    ).toEqual([]);
    expect(problems(withTask('env: [{ name: e2e-kubernetes-secret, valueFrom: secret }]'))).toEqual([]);
    expect(problems(withTask('env: [{ name: ../My_Secret, valueFrom: secret }]'))).toEqual([
      'actions[0].tasks[0].env[0].name: "../My_Secret" is not a valid Secret name (lower-case letters, digits, "-" and ".", at most 253 characters)',
    ]);
  });

  it.each([
    [
      '{{shout data.x}}',
      'template: unknown helper "shout" (line 1, column 1) (known: json, yaml, shq, default, lower, upper, eq, lookup, if, unless, each, with)',
    ],
    ['{{helperMissing}}', 'template: "helperMissing" is not a helper templates may use (line 1, column 1)'],
    ['{{log data}}', 'template: "log" is not a helper templates may use (line 1, column 1)'],
    [
      '{{constructor.constructor}}',
      'template: "constructor.constructor" reaches "constructor", which templates may not use (line 1, column 3)',
    ],
    [
      '{{lookup this \\"constructor\\"}}',
      'template: lookup of "constructor", which templates may not use (line 1, column 1)',
    ],
    [
      '{{data.__proto__.x}}',
      'template: "data.__proto__.x" reaches "__proto__", which templates may not use (line 1, column 3)',
    ],
    ['{{> partial}}', 'template: partials ({{> name}}) are not supported (line 1, column 1)'],
    ['{{json}}', 'template: "json" takes 1 argument, got 0 (line 1, column 1)'],
    ['{{if data.x}}', 'template: "if" is a block helper: write {{#if …}}…{{/if}} (line 1, column 1)'],
    [
      '{{#if data.x}}',
      'template syntax: line 1, column 15: the template ends too early (a {{#block}} without its {{/block}}?)',
    ],
    [
      '{{data.x}',
      'template syntax: line 1, column 9: unexpected character, expected "}}" or "}}}" or "(" or ")" or a name',
    ],
  ])('template %s', (template, message) => {
    expect(problems(withTask(`args: ["${template}"]`))).toEqual([`actions[0].tasks[0].args[0]: ${message}`]);
  });

  it('checks templates in every templated field, env names and values included', () => {
    expect(
      problems(withTask('workingDir: "{{nope x}}", env: [{ name: "{{x y}}", value: "{{z w}}", valueFrom: string }]')),
    ).toEqual([
      expect.stringMatching(/^actions\[0\]\.tasks\[0\]\.workingDir: template: unknown helper "nope"/),
      expect.stringMatching(/^actions\[0\]\.tasks\[0\]\.env\[0\]\.name: template: unknown helper "x"/),
      expect.stringMatching(/^actions\[0\]\.tasks\[0\]\.env\[0\]\.value: template: unknown helper "z"/),
    ]);
  });

  it.each([['../secrets'], ['a/../../b'], ['~root/x'], ['a//b'], ['./charts'], ['/']])(
    'files entry %j leaving the folder (or naming nothing)',
    (entry) => {
      const [p] = problems(withTask(`files: ["${entry}"]`));
      expect(p).toMatch(/^actions\[0\]\.tasks\[0\]\.files\[0\]: /);
    },
  );

  it('accepts files entries below the folder, with or without a leading slash', () => {
    expect(problems(withTask('files: [/charts, locust/basic.py, "charts/{{service}}.tgz"]'))).toEqual([]);
  });

  it('refuses an event glob that can never match and JSONPaths that cannot run', () => {
    const config = `apiVersion: v2
actions:
  - events:
      - name: "sh.keptn.event.{a,b.triggered"
      - { name: x, jsonpath: { property: data.action, match: y } }
      - { name: x, jsonpath: { property: "$.data.list[?(@.x == 1)]", match: y } }
    tasks:
      - { name: t, image: alpine, env: [{ name: A, value: data.x, valueFrom: event }] }
`;
    expect(problems(config)).toEqual([
      'actions[0].events[0].name: unclosed "{" in "sh.keptn.event.{a,b.triggered"',
      'actions[0].events[1].jsonpath.property: a JSONPath starts with "$", e.g. $.data.action.action',
      'actions[0].events[2].jsonpath.property: JSONPath filter and script expressions ([?(...)], [(...)]) are not supported',
      'actions[0].tasks[0].env[0].value: valueFrom event takes a JSONPath: a JSONPath starts with "$", e.g. $.data.action.action',
    ]);
  });

  it('refuses a missing image, a literal pull policy that Kubernetes does not know and cmd with spaces', () => {
    expect(
      problems('apiVersion: v2\nactions:\n  - tasks: [{ name: t, imagePullPolicy: Sometimes, cmd: ["ls -la"] }]\n'),
    ).toEqual([
      'actions[0].tasks[0].image: required',
      'actions[0].tasks[0].imagePullPolicy: "Sometimes" is not one of Always, IfNotPresent, Never',
      'actions[0].tasks[0].cmd[0]: "ls -la" holds spaces: put the program in cmd and its arguments in args',
    ]);
  });

  it('gives every problem its line and column', () => {
    const r = parseJobConfig(
      'apiVersion: v2\nactions:\n  - tasks:\n      - name: t\n        image: alpine\n        imag: x\n',
    );
    expect(r.ok ? [] : r.problems).toEqual([
      { path: 'actions[0].tasks[0].imag', message: 'unknown key (did you mean "image"?)', line: 6, column: 9 },
    ]);
  });
});
