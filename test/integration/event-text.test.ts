import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { keptnEvent, runEvent, tempTree, testService } from '../helpers/service.js';

/**
 * Defect 1: text from the event must reach the task literally, never as a `$(VAR)` reference that the
 * runner (or a Pod) expands into a secret, while `$(VAR)` written in the config keeps working. Real
 * processes through the local runner; the Kubernetes form through `render --runner kubernetes`.
 */

const CONFIG = `apiVersion: v2
actions:
  - name: hostile
    events: [{ name: "sh.keptn.event.note.triggered" }]
    tasks:
      - name: "from the event"
        image: alpine
        cmd: ["/bin/sh", "-c", 'printf "arg=%s\\n" "$0"; printf "env=%s\\n" "$NOTE"; printf "label=%s\\n" "$LABELS_NOTE"; printf "mixed=%s\\n" "$MIXED"', "{{data.note}}"]
        env:
          - { name: api-key, valueFrom: secret }
          - { name: NOTE, value: "$.data.note", valueFrom: event }
          - { name: MIXED, value: "{{data.note}}|$(API_KEY)", valueFrom: string }
      - name: "from the config"
        image: alpine
        cmd: ["/bin/echo", "config=$(API_KEY)", "{{default data.missing '$(API_KEY)'}}"]
        env:
          - { name: api-key, valueFrom: secret }
`;

const HOSTILE = '$(API_KEY)';

async function secretsDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'je-sec-'));
  await mkdir(path.join(dir, 'api-key'));
  await writeFile(path.join(dir, 'api-key', 'API_KEY'), 's3cret');
  return dir;
}

describe('event text stays literal (local runner, real processes)', () => {
  it('prints the event\'s "$(API_KEY)" as it is, in args, valueFrom event, labels and templated env values, and never the secret', async () => {
    const dir = await tempTree({ 'job/config.yaml': CONFIG });
    const { service, sink } = await testService(dir, { 'secrets-dir': await secretsDir() });
    const run = await runEvent(
      service,
      keptnEvent('sh.keptn.event.note.triggered', { note: HOSTILE, labels: { note: HOSTILE } }),
    );
    expect(run.status).toBe('succeeded');
    const finished = sink.events.find((e) => e.type === 'sh.keptn.event.note.finished');
    const message = String(finished?.data.message);
    const first = message.slice(0, message.indexOf("Task 'from the config'"));
    expect(first).toContain(`arg=${HOSTILE}\nenv=${HOSTILE}\nlabel=${HOSTILE}\nmixed=${HOSTILE}|s3cret\n`);
    // The only secret in the first task's output is the one its config asked for ($(API_KEY) in MIXED).
    expect(first.split('s3cret')).toHaveLength(2);
    // Written in the config, $(API_KEY) still expands, also as a helper's literal argument.
    expect(message).toContain('config=s3cret s3cret');
  });
});

describe('render --runner kubernetes shows the escaped form', () => {
  it("puts $$( in the Job's args and env values where the event's text went, and leaves config text alone", async () => {
    const dir = await tempTree({
      'job/config.yaml': CONFIG,
      'event.json': JSON.stringify({
        specversion: '1.0',
        id: 'e1',
        source: 'test',
        type: 'sh.keptn.event.note.triggered',
        shkeptncontext: '11111111-2222-4333-8444-555555555555',
        data: { project: 'p', stage: 's', service: 'v', note: HOSTILE, labels: { note: HOSTILE } },
      }),
    });
    const r = spawnSync(
      process.execPath,
      [
        path.resolve('dist/src/cli/main.js'),
        'render',
        '--runner',
        'kubernetes',
        '--config',
        dir,
        '--event',
        path.join(dir, 'event.json'),
        '--allowed-images',
        'alpine',
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 },
    );
    expect(r.status).toBe(0);
    type Container = { command: string[]; args?: string[]; env: Array<{ name: string; value?: string }> };
    const jobs = r.stdout
      .split(/^---$/m)
      .slice(1)
      .map((d) => yaml.load(d) as { kind: string; spec: { template: { spec: { containers: Container[] } } } })
      .filter((d) => d.kind === 'Job');
    const [fromEvent, fromConfig] = jobs.map((j) => j.spec.template.spec.containers[0] as Container);
    const env = (c: Container | undefined, name: string) => c?.env.find((e) => e.name === name)?.value;
    expect([...(fromEvent?.command ?? []), ...(fromEvent?.args ?? [])].at(-1)).toBe('$$(API_KEY)');
    expect(env(fromEvent, 'NOTE')).toBe('$$(API_KEY)');
    expect(env(fromEvent, 'LABELS_NOTE')).toBe('$$(API_KEY)');
    expect(env(fromEvent, 'MIXED')).toBe('$$(API_KEY)|$(API_KEY)');
    expect([...(fromConfig?.command ?? []), ...(fromConfig?.args ?? [])]).toEqual([
      '/bin/echo',
      'config=$(API_KEY)',
      '$(API_KEY)',
    ]);
  });
});
