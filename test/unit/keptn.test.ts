import { describe, expect, it } from 'vitest';
import { parseBinaryKeptnEvent, parseKeptnEvent } from '../../src/keptn/event.js';
import { buildFinished, buildStarted, composeMessage, rfc3339Seconds } from '../../src/keptn/responses.js';
import { utf8Tail } from '../../src/util/tail-buffer.js';
import { keptnEvent } from '../helpers/service.js';

const base = {
  specversion: '1.0',
  id: 'e1',
  source: 's',
  type: 'sh.keptn.event.test.triggered',
  shkeptncontext: 'ctx',
  data: { project: 'p', stage: 's', service: 'svc' },
};

describe('incoming events', () => {
  it.each([
    [null, 'event: expected a JSON object (a CloudEvent)'],
    [{ ...base, id: undefined }, 'id: required'],
    [{ ...base, specversion: '0.3' }, 'specversion: "0.3" is not supported, use "1.0"'],
    [{ ...base, type: 'com.example.thing' }, 'type: "com.example.thing" is not a Keptn event type (expected sh.keptn.event.<task>.<kind>)'],
    [{ ...base, shkeptncontext: undefined }, 'shkeptncontext: required on Keptn events'],
    [{ ...base, data: undefined }, 'data: required, a JSON object'],
    [{ ...base, data: { project: 'p', stage: 's' } }, 'data.service: required, a non-empty string'],
    [{ ...base, data: { project: '', stage: 's', service: 'x' } }, 'data.project: required, a non-empty string'],
    [{ ...base, data: { ...base.data, labels: { a: 1 } } }, 'data.labels.a: expected a string, got number'],
    [{ ...base, id: 5 }, 'id: expected a string, got number'],
    [{ ...base, datacontenttype: 'text/xml' }, 'datacontenttype: "text/xml" is not JSON; Keptn event data is always JSON'],
  ])('%j is refused: %s', (input, message) => {
    expect(() => parseKeptnEvent(input)).toThrow(message);
  });

  it('accepts contenttype or datacontenttype, and freezes the event', () => {
    const a = parseKeptnEvent({ ...base, contenttype: 'application/json' });
    const b = parseKeptnEvent({ ...base, datacontenttype: 'application/cloudevents+json' });
    expect(a.contenttype).toBe('application/json');
    expect(b.contenttype).toBe('application/cloudevents+json');
    expect(Object.isFrozen(a.data)).toBe(true);
  });

  it('reads binary mode', () => {
    const ev = parseBinaryKeptnEvent(
      { 'ce-specversion': '1.0', 'ce-id': 'b1', 'ce-source': 's', 'ce-type': 'sh.keptn.event.x.triggered', 'ce-shkeptncontext': 'c', 'ce-gitcommitid': 'g', 'content-type': 'application/json' },
      JSON.stringify({ project: 'p', stage: 's', service: 'v' }),
    );
    expect(ev).toMatchObject({ id: 'b1', gitcommitid: 'g', data: { project: 'p' } });
  });

  it('fills id, time and context like the Keptn API when asked (CLI)', () => {
    const ev = parseKeptnEvent({ type: 'sh.keptn.event.x.triggered', specversion: '1.0', source: 'cli', data: base.data }, { fillDefaults: true });
    expect(ev.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(ev.shkeptncontext).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('answers (keptn-protocol.md §2.4)', () => {
  const ev = keptnEvent('sh.keptn.event.test.triggered', { labels: { a: 'b' } });

  it('.started correlates with the trigger', () => {
    const s = buildStarted(ev, 'job-executor-service');
    expect(s).toMatchObject({
      type: 'sh.keptn.event.test.started',
      triggeredid: ev.id,
      shkeptncontext: ev.shkeptncontext,
      gitcommitid: 'abc123',
      source: 'job-executor-service',
      specversion: '1.0',
      contenttype: 'application/json',
      data: { project: 'proj', stage: 'dev', service: 'svc', labels: { a: 'b' } },
    });
    expect(s.id).not.toBe(ev.id);
  });

  it('.finished has status and result at the top of data, test.start/end, and merged output that cannot override them', () => {
    const f = buildFinished(ev, 'src', {
      status: 'succeeded',
      result: 'pass',
      message: 'm',
      output: { result: 'fail', project: 'evil', summary: { rps: 12 }, test: { extra: 1 } },
      test: { start: Date.parse('2026-01-02T03:04:05.678Z'), end: Date.parse('2026-01-02T03:05:06.999Z') },
    });
    expect(f.type).toBe('sh.keptn.event.test.finished');
    expect(f.data).toEqual({
      project: 'proj',
      stage: 'dev',
      service: 'svc',
      labels: { a: 'b' },
      status: 'succeeded',
      result: 'pass',
      message: 'm',
      summary: { rps: 12 },
      test: { extra: 1, start: '2026-01-02T03:04:05Z', end: '2026-01-02T03:05:06Z' },
    });
    expect(Object.isFrozen(f.data)).toBe(true);
  });

  it('formats RFC 3339 seconds in UTC', () => {
    expect(rfc3339Seconds(Date.parse('2021-08-24T16:10:30.999Z'))).toBe('2021-08-24T16:10:30Z');
  });
});

describe('messages', () => {
  it("keeps JES's success text and adds reasons and logs on failure", () => {
    expect(
      composeMessage(
        [
          { name: 'one', outcome: 'succeeded', logs: 'hello\n' },
          { name: 'two', outcome: 'failed', reason: 'exited with code 3', logs: 'boom\n' },
          { name: 'three', outcome: 'not run', logs: '' },
        ],
        1000,
      ),
    ).toBe(
      "Task 'one' finished successfully!\n\nLogs:\nhello\n\n\nTask 'two' failed: exited with code 3\n\nLogs:\nboom\n\n\nTask 'three' was not run: an earlier task failed\n\n",
    );
  });

  it('caps logs to the budget, keeping the tail, on a UTF-8 boundary', () => {
    const logs = `${'é'.repeat(100)}END`;
    const msg = composeMessage([{ name: 't', outcome: 'succeeded', logs }], 51, 'http://x/api/runs/1');
    expect(msg).toContain('bytes cut; full logs in the run store (http://x/api/runs/1)');
    expect(msg).toContain('END');
    expect(msg).not.toContain('\ufffd');
    const tail = utf8Tail('aé', 1);
    expect(tail.text).toBe('');
    expect(utf8Tail('aé', 2).text).toBe('é');
  });
});
