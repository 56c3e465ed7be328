import { describe, expect, it } from 'vitest';
import { parseBinaryKeptnEvent, parseKeptnEvent, parseKeptnEventText } from '../../src/keptn/event.js';
import { ATTRIBUTE_RULES, MAX_EVENT_DEPTH } from '../../src/keptn/event-limits.js';
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
    [
      { ...base, type: 'com.example.thing' },
      'type: "com.example.thing" is not a Keptn event type (expected sh.keptn.event.<task>.<kind>)',
    ],
    [{ ...base, shkeptncontext: undefined }, 'shkeptncontext: required on Keptn events'],
    [{ ...base, data: undefined }, 'data: required, a JSON object'],
    [{ ...base, data: { project: 'p', stage: 's' } }, 'data.service: required, a non-empty string'],
    [{ ...base, data: { project: '', stage: 's', service: 'x' } }, 'data.project: required, a non-empty string'],
    [{ ...base, data: { ...base.data, labels: { a: 1 } } }, 'data.labels.a: expected a string, got number'],
    [{ ...base, id: 5 }, 'id: expected a string, got number'],
    [
      { ...base, datacontenttype: 'text/xml' },
      'datacontenttype: "text/xml" is not JSON; Keptn event data is always JSON',
    ],
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
      {
        'ce-specversion': '1.0',
        'ce-id': 'b1',
        'ce-source': 's',
        'ce-type': 'sh.keptn.event.x.triggered',
        'ce-shkeptncontext': 'c',
        'ce-gitcommitid': 'g',
        'content-type': 'application/json',
      },
      JSON.stringify({ project: 'p', stage: 's', service: 'v' }),
    );
    expect(ev).toMatchObject({ id: 'b1', gitcommitid: 'g', data: { project: 'p' } });
  });

  it('binary mode: header attributes get the same checks; a ce-__proto__ header is only an unknown attribute', () => {
    const headers = {
      'ce-specversion': '1.0',
      'ce-id': 'b1',
      'ce-source': 's',
      'ce-type': 'sh.keptn.event.x.triggered',
      'ce-shkeptncontext': 'c',
      'content-type': 'application/json',
    };
    const data = JSON.stringify({ project: 'p', stage: 's', service: 'v' });
    expect(() => parseBinaryKeptnEvent({ ...headers, 'ce-id': 'caf\u00e9' }, data)).toThrow(
      'id: character 4 is U+00E9',
    );
    expect(() => parseBinaryKeptnEvent({ ...headers, 'ce-shkeptncontext': 'c'.repeat(300) }, data)).toThrow(
      'shkeptncontext: 300 characters',
    );
    expect(() => parseBinaryKeptnEvent(headers, `{"a":${'['.repeat(70)}${']'.repeat(70)}}`)).toThrow(
      /^data\.a\[0\]\[0\].*: nested deeper than 64 levels$/,
    );
    expect(parseBinaryKeptnEvent({ ...headers, 'ce-__proto__': 'x' }, data).id).toBe('b1');
  });

  it.each(Object.entries(ATTRIBUTE_RULES))(
    '%s: refused one character over its limit, naming it, without echoing the value',
    (name, rule) => {
      const value = `${name === 'type' ? 'sh.keptn.event.x.triggered' : 'application/json'}`.padEnd(rule.max + 1, 'x');
      expect(() => parseKeptnEvent({ ...base, [name]: value })).toThrow(
        `${name}: ${rule.max + 1} characters, more than the limit of ${rule.max}`,
      );
    },
  );

  it.each([
    [
      'id',
      'a\rb',
      'id: character 2 is U+000D (CR); id must be visible ASCII (0x21-0x7E: no spaces, control characters or non-ASCII)',
    ],
    ['shkeptncontext', 'c tx', 'shkeptncontext: character 2 is U+0020 (a space)'],
    ['triggeredid', 'é', 'triggeredid: character 1 is U+00E9'],
    ['gitcommitid', 'ab😀', 'gitcommitid: character 3 is U+1F600'],
    ['source', 'a\u0000', 'source: character 2 is U+0000 (NUL)'],
    [
      'datacontenttype',
      'application/json;\tcharset=utf-8',
      'datacontenttype: character 18 is U+0009 (TAB); datacontenttype must be printable ASCII',
    ],
  ])('%s %j is refused naming the attribute and the character', (name, value, message) => {
    expect(() => parseKeptnEvent({ ...base, [name]: value })).toThrow(message);
  });

  it('takes a media type with a space in contenttype, and any unicode in data', () => {
    const ev = parseKeptnEvent({
      ...base,
      contenttype: 'application/json; charset=utf-8',
      data: { ...base.data, who: 'é\r\n😀' },
    });
    expect(ev.data.who).toBe('é\r\n😀');
  });

  it(`refuses data nested deeper than ${MAX_EVENT_DEPTH} levels, parsed or as text, naming the path`, () => {
    const deep = (levels: number) => {
      let v: unknown = 1;
      for (let i = 0; i < levels; i++) v = { b: [v] };
      return v;
    };
    // Level 1 is the event, 2 is data: 31 {b: [..]} pairs under data.a reach level 64 exactly.
    expect(parseKeptnEvent({ ...base, data: { ...base.data, a: deep(31) } }).data.a).toBeDefined();
    expect(() => parseKeptnEvent({ ...base, data: { ...base.data, a: deep(32) } })).toThrow(
      'data.a.b[0].b[0].b[0].b…: nested deeper than 64 levels',
    );
    expect(() => parseKeptnEvent({ ...base, data: { ...base.data, a: deep(100_000) } })).toThrow(/^data\.a\.b\[0\]/);
    const text = `{"specversion":"1.0","id":"x","source":"s","type":"sh.keptn.event.t.triggered","shkeptncontext":"c","data":{"q\\"}":${'['.repeat(100_000)}]}}`;
    expect(() => parseKeptnEventText(text)).toThrow('data.q\\"}[0][0][0][0][0][0]…: nested deeper than 64 levels');
    expect(() => parseKeptnEvent({ ...base, data: JSON.stringify({ ...base.data, a: deep(40) }) })).toThrow(
      /^data\.a\.b\[0\].*: nested deeper than 64 levels$/,
    );
  });

  it('refuses __proto__ keys and values JSON cannot hold, naming the path', () => {
    const withProto = JSON.parse(
      '{"project":"p","stage":"s","service":"v","x":{"__proto__":{"polluted":1}}}',
    ) as unknown;
    expect(() => parseKeptnEvent({ ...base, data: withProto })).toThrow('data.x.__proto__: key not allowed');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(() => parseKeptnEvent({ ...base, data: { ...base.data, n: 10n } })).toThrow(
      'data.n: not a JSON value (a bigint)',
    );
    expect(() => parseKeptnEvent({ ...base, data: { ...base.data, d: [new Date(0)] } })).toThrow(
      'data.d[0]: not a JSON value (a Date)',
    );
    // `constructor` is just a key.
    expect(parseKeptnEvent({ ...base, data: { ...base.data, constructor: 'x' } }).data.constructor).toBe('x');
  });

  it('bounds scope names', () => {
    expect(() => parseKeptnEvent({ ...base, data: { ...base.data, stage: 's'.repeat(257) } })).toThrow(
      'data.stage: 257 characters, more than the limit of 256',
    );
  });

  it('fills id, time and context like the Keptn API when asked (CLI)', () => {
    const ev = parseKeptnEvent(
      { type: 'sh.keptn.event.x.triggered', specversion: '1.0', source: 'cli', data: base.data },
      { fillDefaults: true },
    );
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
    expect(msg).toContain('bytes cut; more of the log in the run store (http://x/api/runs/1)');
    expect(msg).toContain('END');
    expect(msg).not.toContain('\ufffd');
    // What the runner already dropped counts in the note: it states every byte of output not shown.
    const tail = /\[\.\.\. (\d+) bytes cut/.exec(
      composeMessage([{ name: 't', outcome: 'succeeded', logs: 'xyz\n', dropped: 196_000_000 }], 100),
    )?.[1];
    expect(Number(tail)).toBe(196_000_000);
    expect(utf8Tail('aé', 1).text).toBe('');
    expect(utf8Tail('aé', 2).text).toBe('é');
  });
});
