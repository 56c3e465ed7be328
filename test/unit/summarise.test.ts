import { describe, expect, it } from 'vitest';
import { summarise, taskEffect, taskKey } from '../../src/executor/summarise.js';
import type { RenderedAction, TaskSpec } from '../../src/render/task-spec.js';
import type { TaskOutcome, TaskResult } from '../../src/runners/runner.js';

function spec(actionIndex: number, taskIndex: number, onError: TaskSpec['onError'] = 'fail'): TaskSpec {
  return {
    actionIndex,
    taskIndex,
    actionName: `a${actionIndex}`,
    name: `t${actionIndex}.${taskIndex}`,
    image: 'alpine',
    cmd: ['true'],
    args: [],
    env: [],
    files: [],
    maxPollDuration: 10,
    onError,
  };
}
function action(index: number, silent: boolean, ...tasks: TaskSpec[]): RenderedAction {
  return { index, name: `a${index}`, silent, tasks };
}
function result(outcome: TaskOutcome, extra: Partial<TaskResult> = {}): TaskResult {
  return {
    outcome,
    logs: `logs of ${outcome}\n`,
    ...(outcome === 'succeeded' ? {} : { reason: `${outcome} because` }),
    ...extra,
  };
}
function results(entries: Array<[TaskSpec, TaskResult]>): Map<string, TaskResult> {
  return new Map(entries.map(([s, r]) => [taskKey(s), r]));
}

describe('taskEffect: how one task steers the run', () => {
  it.each([
    ['succeeded', 'fail', false, 'continue'],
    ['failed', 'fail', false, 'stop-run'],
    ['failed', 'fail', true, 'stop-action'],
    ['failed', 'warn', false, 'continue'],
    ['failed', 'ignore', true, 'continue'],
    ['timeout', 'fail', false, 'stop-run'],
    ['timeout', 'warn', false, 'continue'],
    ['cancelled', 'ignore', false, 'stop-run'],
    ['cancelled', 'warn', true, 'stop-run'],
    ['detached', 'fail', false, 'detach'],
  ] as const)('%s with onError %s (silent %s) → %s', (outcome, onError, silent, effect) => {
    expect(taskEffect(result(outcome), { onError }, silent)).toBe(effect);
  });
});

describe('summarise: the outcome of a run', () => {
  it('every task passed: succeeded/pass, one part per task with its logs, outputs merged in order', () => {
    const a = spec(0, 0);
    const b = spec(0, 1);
    const s = summarise(
      [action(0, false, a, b)],
      results([
        [a, result('succeeded', { output: { x: 1, deep: { a: 1 } } })],
        [b, result('succeeded', { output: { x: 2, deep: { b: 2 } } })],
      ]),
    );
    expect(s).toMatchObject({
      status: 'succeeded',
      answerStatus: 'succeeded',
      result: 'pass',
      output: { x: 2, deep: { a: 1, b: 2 } },
    });
    expect(s.parts.map((p) => [p.name, p.outcome, p.logs])).toEqual([
      ['t0.0', 'succeeded', 'logs of succeeded\n'],
      ['t0.1', 'succeeded', 'logs of succeeded\n'],
    ]);
  });

  it('a failing task with onError fail: errored/fail; the tasks after it are named as not run', () => {
    const a = spec(0, 0);
    const b = spec(0, 1);
    const c = spec(1, 0);
    const s = summarise([action(0, false, a, b), action(1, false, c)], results([[a, result('failed')]]));
    expect(s).toMatchObject({ status: 'failed', answerStatus: 'errored', result: 'fail' });
    expect(s.parts.map((p) => [p.name, p.outcome, p.reason])).toEqual([
      ['t0.0', 'failed', 'failed because'],
      ['t0.1', 'not run', 'an earlier task failed'],
      ['t1.0', 'not run', 'an earlier task failed'],
    ]);
  });

  it.each([
    ['warn', 'warning', 'warned'],
    ['ignore', 'pass', 'ignored'],
  ] as const)('onError %s: the run goes on, succeeded with result %s, the part says %s', (onError, res, outcome) => {
    const a = spec(0, 0, onError);
    const b = spec(0, 1);
    const s = summarise(
      [action(0, false, a, b)],
      results([
        [a, result('timeout')],
        [b, result('succeeded')],
      ]),
    );
    expect(s).toMatchObject({ status: 'succeeded', answerStatus: 'succeeded', result: res });
    expect(s.parts[0]).toMatchObject({ outcome, reason: 'timeout because', logs: 'logs of timeout\n' });
  });

  it('a cancelled task fails the run whatever its onError (its work did not happen)', () => {
    const a = spec(0, 0, 'ignore');
    const s = summarise([action(0, false, a)], results([[a, result('cancelled')]]));
    expect(s).toMatchObject({ status: 'failed', answerStatus: 'errored', result: 'fail' });
    expect(s.parts[0]?.outcome).toBe('failed');
  });

  it('a silent action: its failure fails the run in the store, never the answer, and shows no part', () => {
    const quiet = spec(0, 0);
    const loud = spec(1, 0);
    const s = summarise(
      [action(0, true, quiet, spec(0, 1)), action(1, false, loud)],
      results([
        [quiet, result('failed')],
        [loud, result('succeeded')],
      ]),
    );
    expect(s).toMatchObject({ status: 'failed', answerStatus: 'succeeded', result: 'pass' });
    expect(s.parts.map((p) => p.name)).toEqual(['t1.0']);
  });

  it('a silent action with onError warn counts for nothing', () => {
    const quiet = spec(0, 0, 'warn');
    const s = summarise([action(0, true, quiet)], results([[quiet, result('failed')]]));
    expect(s).toMatchObject({ status: 'succeeded', result: 'pass', parts: [] });
  });

  it('a detached task makes the run detached (answered by whoever takes it over)', () => {
    const a = spec(0, 0);
    const s = summarise([action(0, false, a, spec(0, 1))], results([[a, result('detached')]]));
    expect(s.status).toBe('detached');
  });

  it('no tasks: succeeded/pass with no parts', () => {
    expect(summarise([action(0, false)], new Map())).toMatchObject({ status: 'succeeded', result: 'pass', parts: [] });
  });
});
