import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { Response as HttpAnswer } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/executor/executor.js';
import { createApp } from '../../src/server/app.js';
import { createService } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { CollectingSink, silentLogger, tempTree, testServer, type TestServer } from '../helpers/service.js';

/**
 * Issue 10's intake defects, over a real socket against the real service: each hostile request is refused
 * with the status and the attribute a caller would look for, nothing is handed to the executor, and the
 * service keeps answering.
 */

const CONFIG = `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: hello, image: alpine, cmd: [echo, "hi"] }]
`;

type Json = Record<string, unknown>;
type Problem = { error: { code: string; message: string } };

let seq = 0;
function event(over: Json = {}, data: Json = {}): Json {
  seq++;
  return {
    specversion: '1.0',
    id: `hostile-${process.pid}-${seq}`,
    source: 'test',
    type: 'sh.keptn.event.deployment.triggered',
    shkeptncontext: 'ctx-hostile',
    datacontenttype: 'application/json',
    data: { project: 'proj', stage: 'dev', service: 'svc', ...data },
    ...over,
  };
}

/** An event as JSON text with `raw` (JSON text) as `data.<key>`, for bodies too deep to build as objects. */
function eventText(key: string, raw: string): string {
  const head = JSON.stringify(event());
  return `${head.slice(0, -2)},${JSON.stringify(key)}:${raw}}}`;
}

const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const deepArray = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;

interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A POST over a fresh socket that sends `body` (or only the headers, `end: false`) and resolves with the
 * answer. No answer within 5 s means the server is still waiting for a body it should not wait for.
 */
function rawPost(port: number, headers: OutgoingHttpHeaders, body?: Buffer | string, end = true): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('no answer within 5 s: the server waits for the body'));
    }, 5000);
    // Writing after the server answered and closed is expected here; only a failure before an answer counts.
    req.on('error', (e) => answered || (clearTimeout(timer), reject(e)));
    if (body !== undefined) req.write(body);
    if (end) req.end();
    else req.flushHeaders();
  });
}

describe('hostile HTTP intake (issue 10)', () => {
  let configDir: string;
  let served: TestServer;
  const submitted: string[] = [];

  beforeAll(async () => {
    configDir = await tempTree({
      'proj/job/config.yaml': CONFIG,
      'broken/job/config.yaml': 'apiVersion: v2\nactions:\n  - evnts: []\n',
    });
    served = await testServer(
      { config: configDir, 'allowed-images': '*', 'auth-token': 's3cret' },
      { overrides: { sinks: [new CollectingSink()] } },
    );
    // Counts what reaches the executor: a refused event must never get there.
    const { executor } = served.service;
    const submit = executor.submit.bind(executor);
    (executor as { submit: Executor['submit'] }).submit = (e) => {
      submitted.push(e.id);
      return submit(e);
    };
  });
  afterAll(async () => {
    await served.server.close();
  });

  const post: TestServer['post'] = (body, headers) => served.post(body, headers);

  /** The answer has `status` and a message that names `attribute` first; nothing was submitted; the service is up. */
  async function refused(
    res: HttpAnswer | RawAnswer,
    status: number,
    attribute: string | RegExp,
    before: number,
  ): Promise<string> {
    expect(res.status).toBe(status);
    const text = 'text' in res ? res.text : res.body;
    const { message } = (JSON.parse(text) as Problem).error;
    const named = message.slice(0, message.indexOf(': '));
    if (typeof attribute === 'string') expect(named).toBe(attribute);
    else expect(named).toMatch(attribute);
    expect(submitted.length).toBe(before);
    expect((await served.http.get('/healthz')).status).toBe(200);
    return message;
  }

  describe('2: every remembered or logged attribute has a limit', () => {
    const cases: Array<[string, number, (n: number) => string]> = [
      ['id', 256, (n) => 'i'.repeat(n)],
      ['source', 512, (n) => 's'.repeat(n)],
      ['type', 256, (n) => `sh.keptn.event.${'t'.repeat(n - 'sh.keptn.event..triggered'.length)}.triggered`],
      ['time', 64, (n) => '2026-01-01T00:00:00Z'.padEnd(n, '0')],
      ['shkeptncontext', 256, (n) => 'c'.repeat(n)],
      ['triggeredid', 256, (n) => 'r'.repeat(n)],
      ['gitcommitid', 128, (n) => 'a'.repeat(n)],
      ['shkeptnspecversion', 64, (n) => '0'.repeat(n)],
      ['datacontenttype', 256, (n) => 'application/json; x='.padEnd(n, 'x')],
      ['contenttype', 256, (n) => 'application/json; x='.padEnd(n, 'x')],
    ];
    it.each(cases)(
      '%s: one character over %d is refused with 400 naming it; at the limit it is taken',
      async (attribute, limit, value) => {
        const before = submitted.length;
        const over = await post(event({ [attribute]: value(limit + 1) }));
        const message = await refused(over, 400, attribute, before);
        expect(message).toBe(`${attribute}: ${limit + 1} characters, more than the limit of ${limit}`);
        const at = await post(event({ [attribute]: value(limit) }));
        expect([200, 202]).toContain(at.status);
        expect(submitted.length).toBe(before + 1);
      },
    );

    it('ids near the body limit are refused before anything remembers or logs them, and the service stays up', async () => {
      const before = submitted.length;
      for (let i = 0; i < 20; i++) {
        const res = await post(event({ id: `${i}`.padEnd(900 * 1024, 'x') }));
        const message = await refused(res, 400, 'id', before);
        expect(message.length).toBeLessThan(100);
      }
    });

    it('scope names are bounded too, and binary-mode attributes get the same checks', async () => {
      const before = submitted.length;
      await refused(await post(event({}, { service: 'v'.repeat(257) })), 400, 'data.service', before);
      const { data, ...attrs } = event();
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const [k, v] of Object.entries(attrs)) headers[`ce-${k}`] = String(v);
      headers['ce-id'] = 'b'.repeat(300);
      await refused(await post(data, headers), 400, 'id', before);
    });
  });

  describe('7: nesting', () => {
    it('an event 64 levels deep is taken and its run view answers; one level more is refused naming the path', async () => {
      const before = submitted.length;
      // The event is level 1, data level 2, so 62 objects under data.a reach level 64.
      const ok = await post(eventText('a', deepObject(62)));
      expect(ok.status).toBe(202);
      const { runId } = ok.body as { runId: string };
      const view = await served.http.get(`/api/runs/${runId}`);
      expect(view.status).toBe(200);
      let node = (view.body as { event: { data: Json } }).event.data.a;
      for (let i = 1; i < 62; i++) node = (node as Json).a;
      expect(node).toEqual({ a: 1 });
      const deeper = await post(eventText('a', deepObject(63)));
      const message = await refused(deeper, 400, /^data(\.a){7}…$/, before + 1);
      expect(message).toBe('data.a.a.a.a.a.a.a…: nested deeper than 64 levels');
    });

    it.each([
      ['objects, 10 000 levels', 'a', deepObject(10_000), /^data\.a(\.a)*…$/],
      ['objects, 100 000 levels', 'a', deepObject(100_000), /^data\.a(\.a)*…$/],
      ['arrays, 100 000 levels', 'list', deepArray(100_000), /^data\.list(\[0\])*…$/],
    ])('%s: 400 naming the path, the service stays up', async (_name, key, raw, path) => {
      const before = submitted.length;
      await refused(await post(eventText(key, raw)), 400, path, before);
    });

    it('deep data in binary mode, as a JSON string, or in an unknown attribute is refused too', async () => {
      const before = submitted.length;
      const headers = {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'deep-binary',
        'ce-source': 'test',
        'ce-type': 'sh.keptn.event.deployment.triggered',
        'ce-shkeptncontext': 'ctx',
      };
      const data = `{"project":"proj","stage":"dev","service":"svc","a":${deepObject(5000)}}`;
      await refused(await post(data, headers), 400, /^data\.a(\.a)*…$/, before);
      await refused(await post(event({ data })), 400, /^data\.a(\.a)*…$/, before);
      const text = JSON.stringify(event());
      await refused(
        await post(`{"extensions":${deepObject(100)},${text.slice(1)}`),
        400,
        /^extensions(\.a)*…$/,
        before,
      );
    });
  });

  describe('8: only JSON media types start runs', () => {
    it.each([
      ['text/plain'],
      ['text/plain;charset=UTF-8'],
      ['application/x-www-form-urlencoded'],
      ['multipart/form-data; boundary=x'],
      ['text/xml'],
      ['application/xml'],
      ['text/json'],
      ['application/json; charset=latin1'],
    ])('%s is refused with 415 naming content-type, before the body is read', async (type) => {
      const before = submitted.length;
      await refused(await post(event(), { 'content-type': type }), 415, 'content-type', before);
    });

    it('no content-type at all (what a page sends with a Blob body) is refused with 415', async () => {
      const before = submitted.length;
      const res = await rawPost(served.server.port, { authorization: 'Bearer s3cret' }, JSON.stringify(event()));
      await refused(res, 415, 'content-type', before);
    });

    it.each([
      ['application/cloudevents+json'],
      ['application/json'],
      ['application/json; charset=utf-8'],
      ['Application/CloudEvents+JSON'],
      ['application/vnd.example+json'],
    ])('%s is taken', async (type) => {
      expect((await post(event(), { 'content-type': type })).status).toBe(202);
    });

    it('binary mode: JSON data is taken, any other content type gets 415', async () => {
      const headers = (type: string, id: string) => ({
        'content-type': type,
        'ce-specversion': '1.0',
        'ce-id': id,
        'ce-source': 'test',
        'ce-type': 'sh.keptn.event.deployment.triggered',
        'ce-shkeptncontext': 'ctx',
      });
      const data = { project: 'proj', stage: 'dev', service: 'svc' };
      expect((await post(data, headers('application/json', 'binary-ok'))).status).toBe(202);
      const before = submitted.length;
      await refused(await post(data, headers('text/plain', 'binary-plain')), 415, 'content-type', before);
    });
  });

  describe('12: ids and context ids are visible ASCII', () => {
    const values = ['é', 'a\r\nb', 'a b', 'a\tb', 'a\u0000b', 'a\u2028b', '😀', 'a\u007fb'];
    const attributes: Array<[string, (v: string) => string]> = [
      ['id', (v) => `id-${v}`],
      ['shkeptncontext', (v) => `ctx-${v}`],
      ['triggeredid', (v) => `t-${v}`],
      ['gitcommitid', (v) => `abc${v}`],
      ['source', (v) => `src${v}`],
      ['type', (v) => `sh.keptn.event.d${v}.triggered`],
    ];
    it.each(attributes)(
      '%s with non-ASCII, CR/LF, spaces or control characters is refused with 400 naming it',
      async (attribute, make) => {
        const before = submitted.length;
        for (const v of values) {
          const message = await refused(await post(event({ [attribute]: make(v) })), 400, attribute, before);
          expect(message).toMatch(/must be visible ASCII/);
        }
      },
    );

    it('a binary-mode header with a non-ASCII byte is refused naming the attribute', async () => {
      const before = submitted.length;
      const body = JSON.stringify({ project: 'proj', stage: 'dev', service: 'svc' });
      const headers = {
        authorization: 'Bearer s3cret',
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'latin1-\u00e9',
        'ce-source': 'test',
        'ce-type': 'sh.keptn.event.deployment.triggered',
        'ce-shkeptncontext': 'ctx',
        'content-length': Buffer.byteLength(body),
      };
      await refused(await rawPost(served.server.port, headers, body), 400, 'id', before);
    });

    it('data may hold any unicode, and keeps it', async () => {
      const res = await post(event({}, { who: 'é😀\u2028' }));
      expect(res.status).toBe(202);
      const { runId } = res.body as { runId: string };
      const run = (await served.http.get(`/api/runs/${runId}`)).body as { event: { data: Json } };
      expect(run.event.data.who).toBe('é😀\u2028');
    });
  });

  describe('13: no internal paths, early 413, bearer scheme', () => {
    it.each([
      ['no-config', event({}, { project: 'nope' })],
      ['no-match', event({ type: 'sh.keptn.event.other.triggered' })],
      ['config-invalid', event({}, { project: 'broken' })],
    ])('%s: the 200 ignored answer gives the reason and the scope, not the config path', async (reason, ev) => {
      const res = await post(ev);
      expect(res.status).toBe(200);
      const text = res.text;
      expect(text).not.toContain(configDir);
      const body = JSON.parse(text) as { status: string; reason: string; message: string; scope: Json };
      const data = ev.data as Json;
      expect(body).toMatchObject({
        status: 'ignored',
        reason,
        scope: { project: data.project, stage: 'dev', service: 'svc' },
      });
      expect(body.message).toContain(String(data.project));
    });

    it('a declared content-length over the limit is answered 413 before any of the body is sent', async () => {
      const before = submitted.length;
      const headers = {
        authorization: 'Bearer s3cret',
        'content-type': 'application/json',
        'content-length': 50_000_000,
      };
      const res = await rawPost(served.server.port, headers, undefined, false);
      const message = await refused(res, 413, 'content-length', before);
      expect(message).toMatch(/50000000 bytes declared, larger than the body limit of 1mb/);
      expect(res.headers.connection).toBe('close');
    });

    it.each([['bearer s3cret'], ['BEARER s3cret'], ['Bearer \t s3cret'], ['beArer s3cret ']])(
      'Authorization: %j is accepted',
      async (value) => {
        expect((await post(event(), { authorization: value })).status).toBe(202);
      },
    );

    it.each([
      ['Basic s3cret'],
      ['Bearer s3cret2'],
      ['Bearer s3cre'],
      ['Bearer'],
      ['Bearers3cret'],
      ['Bearer s3cret extra'],
      ['s3cret'],
    ])('Authorization: %j is refused with 401', async (value) => {
      const before = submitted.length;
      expect((await post(event(), { authorization: value })).status).toBe(401);
      expect(submitted.length).toBe(before);
    });
  });

  describe('the basics keep holding', () => {
    const json = () => Buffer.from(JSON.stringify(event()));

    it('a gzip bomb is refused with 413 once the decompressed size passes the limit', async () => {
      const before = submitted.length;
      const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
      expect(bomb.length).toBeLessThan(1024 * 1024);
      const res = await post(bomb, { 'content-encoding': 'gzip' });
      const message = await refused(res, 413, 'body', before);
      expect(message).toMatch(/larger than the body limit of 1mb once decompressed \(content-encoding: gzip\)/);
    });

    it.each([
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ])('a %s body is decompressed and taken', async (encoding, compress) => {
      expect((await post(compress(json()), { 'content-encoding': encoding })).status).toBe(202);
    });

    it('a corrupt gzip body is 400 naming content-encoding; an unknown encoding is 415', async () => {
      const before = submitted.length;
      await refused(
        await post(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }),
        400,
        'content-encoding',
        before,
      );
      await refused(await post(json(), { 'content-encoding': 'compress' }), 415, 'content-encoding', before);
      await refused(await post(json(), { 'content-encoding': 'gzip, gzip' }), 415, 'content-encoding', before);
    });

    it('a chunked body without a length is cut off at the limit with 413', async () => {
      const before = submitted.length;
      const big = `${JSON.stringify(event()).slice(0, -1)},"pad":"${'x'.repeat(2 * 1024 * 1024)}"}`;
      const res = await rawPost(
        served.server.port,
        { authorization: 'Bearer s3cret', 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        big,
      );
      await refused(res, 413, 'body', before);
    });

    it('a body that is not UTF-8 is refused naming body', async () => {
      const before = submitted.length;
      const latin1 = Buffer.from(JSON.stringify(event({}, { who: 'é' })), 'latin1');
      await refused(await post(latin1), 400, 'body', before);
    });

    it('a malformed event is still 400 naming the attribute', async () => {
      const before = submitted.length;
      await refused(await post(event({ id: 7 })), 400, 'id', before);
      await refused(await post('{"specversion":'), 400, 'body', before);
      await refused(await post(event({}, { labels: { a: 1 } })), 400, 'data.labels.a', before);
    });
  });
});

describe('a slow client is cut off', () => {
  it('a body that does not arrive within the body timeout is answered 408 and the connection closed', async () => {
    const dir = await tempTree({ 'job/config.yaml': CONFIG });
    // Its own journal: the default work directory may be held by a service someone is running here.
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'je-work-'));
    const settings = loadSettings({ config: dir, 'allowed-images': '*', 'work-dir': workDir }, {});
    const service = await createService(settings, silentLogger, { sinks: [new CollectingSink()] });
    const app = createApp({
      executor: service.executor,
      store: service.store,
      logger: silentLogger,
      bodyLimit: '1mb',
      bodyTimeoutMs: 300,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const res = await rawPost(
        port,
        { 'content-type': 'application/json', 'content-length': 1000 },
        '{"specversion":"1.0",',
        false,
      );
      expect(res.status).toBe(408);
      expect(res.headers.connection).toBe('close');
      expect((JSON.parse(res.body) as Problem).error.message).toMatch(/^body: not all of it arrived within 0.3 s/);
      expect(service.store.list(10)).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await service.executor.close(1000);
    }
  });
});
