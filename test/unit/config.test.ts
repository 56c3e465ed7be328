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
    expect(problems('apiVersion: v2\nactions:\n  - tasks:\n      - name: a\n      - imagee: alpine\n')).toEqual([
      'actions[0].tasks[1].imagee: unknown key (did you mean "image"?)',
    ]);
  });

  it('explains cmd given as a string (JES issue #206)', () => {
    const [p] = problems('apiVersion: v2\nactions:\n  - tasks:\n      - cmd: "ls -la"\n');
    expect(p).toMatch(/^actions\[0\]\.tasks\[0\]\.cmd: expected a list of strings, got a string: split the program/);
  });

  it('keeps JES apiVersion messages', () => {
    expect(problems('actions: []')).toEqual(['apiVersion: apiVersion must be specified']);
    expect(problems('apiVersion: v1')).toEqual(['apiVersion: apiVersion v1 is not supported, use v2']);
  });

  it('requires valueFrom on env entries and names the allowed values', () => {
    expect(problems('apiVersion: v2\nactions:\n  - tasks:\n      - env: [{name: A, value: b}]\n')).toEqual([
      'actions[0].tasks[0].env[0].valueFrom: required: one of event, secret, string',
    ]);
    expect(problems('apiVersion: v2\nactions:\n  - tasks:\n      - env: [{name: A, value: b, valueFrom: file}]\n')).toEqual([
      'actions[0].tasks[0].env[0].valueFrom: unknown valueFrom "file", use one of event, secret, string',
    ]);
  });

  it('reports YAML errors with their line, including duplicate keys', () => {
    const [p] = problems('apiVersion: v2\napiVersion: v2\n');
    expect(p).toMatch(/^line 2, column 1: invalid YAML: duplicated mapping key/);
    expect(problems('')).toEqual(['(root): the file is empty']);
  });

  it('rejects a seccompProfile without type (JES panicked)', () => {
    expect(problems('apiVersion: v2\nactions:\n  - tasks:\n      - securityContext: {seccompProfile: {}}\n')).toEqual([
      'actions[0].tasks[0].securityContext.seccompProfile.type: required',
    ]);
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
