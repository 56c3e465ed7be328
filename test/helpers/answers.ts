import type { Received } from './receiver.js';

/** An answer as a receiver got it: structured mode (the JSON body) or binary mode (ce-* headers). */
export interface ReceivedAnswer {
  type: string;
  id: string;
  triggeredid: string;
  data: Record<string, unknown>;
}

export function answerOf(r: Received): ReceivedAnswer {
  if (r.headers['ce-type']) {
    return {
      type: String(r.headers['ce-type']),
      id: String(r.headers['ce-id']),
      triggeredid: String(r.headers['ce-triggeredid']),
      data: JSON.parse(r.body) as Record<string, unknown>,
    };
  }
  return JSON.parse(r.body) as ReceivedAnswer;
}

/** Answers per triggering event, by distinct answer id (a receiver recognises an id it got before). */
export function answersByEvent(
  received: readonly Received[],
): Map<string, { started: Set<string>; finished: Map<string, ReceivedAnswer> }> {
  const out = new Map<string, { started: Set<string>; finished: Map<string, ReceivedAnswer> }>();
  for (const r of received) {
    const a = answerOf(r);
    const entry = out.get(a.triggeredid) ?? { started: new Set<string>(), finished: new Map<string, ReceivedAnswer>() };
    if (a.type.endsWith('.started')) entry.started.add(a.id);
    if (a.type.endsWith('.finished')) entry.finished.set(a.id, a);
    out.set(a.triggeredid, entry);
  }
  return out;
}
