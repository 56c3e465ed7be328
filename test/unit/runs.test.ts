import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/executor/run-store.js';
import { ignoredAnswer } from '../../src/server/app.js';
import { DEEP_MARKER, depthCapped, runDetail, runSummary } from '../../src/server/runs.js';
import { keptnEvent } from '../helpers/service.js';

/** A value `levels` objects deep, built without recursion. */
function deep(levels: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let i = 1; i < levels; i++) {
    const next: Record<string, unknown> = {};
    node.a = next;
    node = next;
  }
  node.a = 'bottom';
  return root;
}

function run(over: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 'r1',
    event: keptnEvent('sh.keptn.event.test.triggered'),
    receivedAt: Date.parse('2026-01-01T00:00:00Z'),
    status: 'succeeded',
    actions: [],
    tasks: [],
    answers: [],
    logBytes: 0,
    ...over,
  } as RunRecord;
}

describe('run views (GET /api/runs/:id, the live stream)', () => {
  it('a run whose answer carries task output 10 000 levels deep still serialises; the depth beyond 64 is marked', () => {
    const output = deep(10_000);
    const r = run({
      answers: [
        {
          type: 'sh.keptn.event.test.finished',
          id: 'a1',
          time: '2026-01-01T00:00:01Z',
          status: 'delivered',
          event: {
            data: { project: 'p', stage: 's', service: 'v', output },
          } as unknown as RunRecord['answers'][number]['event'],
        },
      ],
    });
    // Node 20 cannot even serialise the raw output (RangeError; Node 26's JSON.stringify can): the view cuts it.
    const text = JSON.stringify(runDetail(r));
    expect(text).toContain(DEEP_MARKER);
    const shown = JSON.parse(text) as { answers: Array<{ event: { data: { output: Record<string, unknown> } } }> };
    let node: unknown = shown.answers[0]?.event.data.output;
    let levels = 3; // the answer event is level 1, its data 2, the output 3
    while (node !== null && typeof node === 'object') {
      node = (node as Record<string, unknown>).a;
      levels++;
    }
    expect(node).toBe(DEEP_MARKER);
    // The first container past level 64 is the one replaced.
    expect(levels).toBe(65);
  });

  it('impossible times and missing parts do not throw', () => {
    const r = run({
      receivedAt: Number.NaN,
      startedAt: 1e20,
      finishedAt: 5,
      tasks: [{ name: 't' } as RunRecord['tasks'][number]],
    });
    expect(runSummary(r)).toMatchObject({ receivedAt: undefined, startedAt: undefined, durationMs: undefined });
    expect(runDetail(r)).toMatchObject({ tasks: [{ name: 't', logs: '', startedAt: undefined }] });
  });

  it('copies keep __proto__ as a plain member and leave the original alone', () => {
    const original = JSON.parse('{"__proto__":{"x":1},"b":[{"c":2}]}') as Record<string, unknown>;
    const copy = depthCapped(original) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'b']);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(original));
    expect(depthCapped(deep(3), 2)).toEqual({ a: { a: DEEP_MARKER } });
  });
});

describe('ignored answers', () => {
  const event = keptnEvent('sh.keptn.event.test.triggered');
  it.each([
    [
      'no-match',
      'no action in /srv/job-config/proj/job/config.yaml matches sh.keptn.event.test.triggered',
      'no action in the job config for project "proj", stage "dev", service "svc" matches sh.keptn.event.test.triggered',
    ],
    [
      'no-config',
      'no job/config.yaml for proj/dev/svc in /srv/job-config (looked at service, stage, project and global level)',
      'no job config for project "proj", stage "dev", service "svc"',
    ],
    [
      'config-invalid',
      'C:\\config\\job\\config.yaml: actions[0].events: required',
      'the job config for project "proj", stage "dev", service "svc" is invalid; the service log says why',
    ],
    [
      'config-invalid',
      'could not read file:///etc/job/config.yaml',
      'the job config for project "proj", stage "dev", service "svc" is invalid; the service log says why',
    ],
    [
      'no-config',
      'config file ../secret/job/config.yaml does not exist',
      'no job config for project "proj", stage "dev", service "svc"',
    ],
  ] as const)('%s with a path in the message: the reason and the scope instead', (reason, message, shown) => {
    expect(ignoredAnswer({ status: 'ignored', reason, message }, event)).toEqual({
      status: 'ignored',
      reason,
      message: shown,
      scope: { project: 'proj', stage: 'dev', service: 'svc' },
    });
  });

  it('a message without a path (a URL is not one) is passed on', () => {
    const message =
      'could not retrieve config: GET http://api/resource-service/v1/project/p answered 401; check KEPTN_API_TOKEN';
    expect(ignoredAnswer({ status: 'ignored', reason: 'config-invalid', message }, event).message).toBe(message);
  });
});
