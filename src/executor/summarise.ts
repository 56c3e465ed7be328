import type { TaskMessagePart } from '../keptn/responses.js';
import type { RenderedAction } from '../render/task-spec.js';
import type { TaskResult } from '../runners/runner.js';
import type { TaskSpec } from '../render/task-spec.js';
import { deepMerge } from '../util/objects.js';

/** A task's place in its run: `<actionIndex>/<taskIndex>`. */
export function taskKey(spec: Pick<TaskSpec, 'actionIndex' | 'taskIndex'>): string {
  return `${spec.actionIndex}/${spec.taskIndex}`;
}

/**
 * What a task's end means for the rest of the run:
 * - `continue`: the next task runs;
 * - `stop-action`: the rest of this action is skipped (a silent action failed: nothing is answered for it, and
 *   the other actions go on);
 * - `stop-run`: nothing more runs (a task that answers failed with `onError: fail`, or any task was cancelled);
 * - `detach`: the service is stopping and the task goes on without it; the run stays open.
 */
export type TaskEffect = 'continue' | 'stop-action' | 'stop-run' | 'detach';

/** Pure: how one task result steers the run. A cancelled task always counts as failed: its work did not happen. */
export function taskEffect(result: TaskResult, spec: Pick<TaskSpec, 'onError'>, silent: boolean): TaskEffect {
  if (result.outcome === 'detached') return 'detach';
  if (result.outcome === 'succeeded') return 'continue';
  if (result.outcome === 'cancelled') return 'stop-run';
  if (spec.onError !== 'fail') return 'continue';
  return silent ? 'stop-action' : 'stop-run';
}

export interface RunSummary {
  /**
   * `succeeded`: every task passed, warned or was ignored; `failed`: a task failed (in a silent action too);
   * `detached`: a task goes on without the service (answered after a restart).
   */
  readonly status: 'succeeded' | 'failed' | 'detached';
  /** The answer's `status`: `errored` when a task that answers failed (JES's choice), else `succeeded`. */
  readonly answerStatus: 'succeeded' | 'errored';
  readonly result: 'pass' | 'warning' | 'fail';
  /** One part per task of the actions that answer, in order, for the `.finished` message. */
  readonly parts: readonly TaskMessagePart[];
  /** `$KEPTN_OUTPUT` of every task, merged in order. */
  readonly output: Readonly<Record<string, unknown>>;
}

function dropped(result: TaskResult): { dropped?: number } {
  return result.droppedLogBytes ? { dropped: result.droppedLogBytes } : {};
}

function failedPart(spec: TaskSpec, result: TaskResult, onError: TaskSpec['onError']): TaskMessagePart {
  const reason = result.reason ?? result.outcome;
  const outcome = onError === 'fail' ? 'failed' : onError === 'warn' ? 'warned' : 'ignored';
  return { name: spec.name, outcome, reason, logs: result.logs, ...dropped(result) };
}

/** What the tasks of a run added up to so far. */
interface Tally {
  readonly parts: TaskMessagePart[];
  failed: boolean;
  silentFailed: boolean;
  warned: boolean;
  detached: boolean;
  output: Record<string, unknown>;
}

/** Adds one task's result (or its absence: it did not run) to the tally. */
function count(tally: Tally, spec: TaskSpec, silent: boolean, result: TaskResult | undefined): void {
  if (!result) {
    if (!silent) tally.parts.push({ name: spec.name, outcome: 'not run', reason: 'an earlier task failed', logs: '' });
    return;
  }
  if (result.output) tally.output = deepMerge(tally.output, result.output);
  if (result.outcome === 'detached') tally.detached = true;
  if (result.outcome === 'succeeded' || result.outcome === 'detached') {
    if (!silent) tally.parts.push({ name: spec.name, outcome: 'succeeded', logs: result.logs, ...dropped(result) });
    return;
  }
  const onError = result.outcome === 'cancelled' ? 'fail' : spec.onError;
  if (silent) {
    if (onError === 'fail') tally.silentFailed = true;
    return;
  }
  tally.parts.push(failedPart(spec, result, onError));
  if (onError === 'fail') tally.failed = true;
  else if (onError === 'warn') tally.warned = true;
}

/**
 * Pure: the run's outcome from its plan and the results of the tasks that ran (keyed by `taskKey`). A task
 * without a result did not run. Silent actions count for the run's status, never for the answer.
 */
export function summarise(plan: readonly RenderedAction[], results: ReadonlyMap<string, TaskResult>): RunSummary {
  const t: Tally = { parts: [], failed: false, silentFailed: false, warned: false, detached: false, output: {} };
  for (const action of plan) for (const spec of action.tasks) count(t, spec, action.silent, results.get(taskKey(spec)));
  return {
    status: t.detached ? 'detached' : t.failed || t.silentFailed ? 'failed' : 'succeeded',
    answerStatus: t.failed ? 'errored' : 'succeeded',
    result: t.failed ? 'fail' : t.warned ? 'warning' : 'pass',
    parts: t.parts,
    output: t.output,
  };
}
