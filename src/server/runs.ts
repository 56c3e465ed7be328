import type { RunRecord } from '../executor/run-store.js';

/** A run as the API shows it; the event's data is included, answers without their full bodies. */
export function runSummary(run: RunRecord): Record<string, unknown> {
  return {
    id: run.id,
    status: run.status,
    result: run.result,
    eventId: run.event.id,
    type: run.event.type,
    shkeptncontext: run.event.shkeptncontext,
    project: run.event.data.project,
    stage: run.event.data.stage,
    service: run.event.data.service,
    receivedAt: new Date(run.receivedAt).toISOString(),
    startedAt: run.startedAt ? new Date(run.startedAt).toISOString() : undefined,
    finishedAt: run.finishedAt ? new Date(run.finishedAt).toISOString() : undefined,
    durationMs: run.startedAt && run.finishedAt ? run.finishedAt - run.startedAt : undefined,
    error: run.error,
    // Picked up again after a restart (Kubernetes runner): the run began in an earlier process.
    resumed: run.resumed === true ? true : undefined,
  };
}

export function runDetail(run: RunRecord): Record<string, unknown> {
  return {
    ...runSummary(run),
    event: run.event,
    config: run.configOrigin,
    actions: run.actions,
    tasks: run.tasks.map((t) => ({
      ...t,
      startedAt: t.startedAt ? new Date(t.startedAt).toISOString() : undefined,
      finishedAt: t.finishedAt ? new Date(t.finishedAt).toISOString() : undefined,
      durationMs: t.startedAt && t.finishedAt ? t.finishedAt - t.startedAt : undefined,
      logs: t.logs.map((l) => l.text).join('\n'),
    })),
    answers: run.answers,
  };
}
