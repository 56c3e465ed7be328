import type { KeptnEvent } from '../keptn/event.js';

/**
 * What a template sees: the whole event as `event`, and shortcuts for what configs use most. Built once per
 * run; the event is frozen, so templates cannot change it.
 */
export interface TemplateContext {
  readonly event: KeptnEvent;
  readonly data: KeptnEvent['data'];
  readonly project: string;
  readonly stage: string;
  readonly service: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly id: string;
  readonly type: string;
  readonly shkeptncontext: string;
  readonly gitcommitid: string;
  readonly triggeredid: string;
}

export function templateContext(event: KeptnEvent): TemplateContext {
  return Object.freeze({
    event,
    data: event.data,
    project: event.data.project,
    stage: event.data.stage,
    service: event.data.service,
    labels: event.data.labels ?? {},
    id: event.id,
    type: event.type,
    shkeptncontext: event.shkeptncontext,
    gitcommitid: event.gitcommitid ?? '',
    triggeredid: event.triggeredid ?? '',
  });
}
