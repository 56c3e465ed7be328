import { describe, expect, it, vi } from 'vitest';
import { answeringTestServer, tempTree } from '../helpers/service.js';
import { found } from '../helpers/wait.js';

const CONFIG = `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: hello, image: alpine, cmd: [echo, "Hello {{data.who}}"] }]
  - events: [{ name: "sh.keptn.event.slow.triggered" }]
    tasks: [{ name: slow, image: alpine, cmd: [sleep, "1"] }]
`;

function event(over: Record<string, unknown> = {}, data: Record<string, unknown> = {}) {
  return {
    specversion: '1.0',
    id: `id-${Math.random().toString(36).slice(2)}`,
    source: 'test',
    type: 'sh.keptn.event.deployment.triggered',
    shkeptncontext: 'ctx-1',
    datacontenttype: 'application/json',
    data: { project: 'p', stage: 's', service: 'svc', who: 'http', ...data },
    ...over,
  };
}

describe('HTTP intake over a real socket, answers to a real CloudEvents receiver (binary mode)', () => {
  const served = answeringTestServer(async () => ({
    config: await tempTree({ 'job/config.yaml': CONFIG }),
    'allowed-images': 'alpine:*',
    concurrency: '1',
    'queue-size': '1',
    'body-limit': '4kb',
    'auth-token': 's3cret',
  }));

  /** Earlier tests' runs must be done before a test that counts queue slots. */
  const idle = () =>
    expect
      .poll(async () => (await served.http.get('/readyz')).body as { queued: number; inFlight: number }, {
        timeout: 10_000,
        message: 'the service to become idle',
      })
      .toMatchObject({ queued: 0, inFlight: 0 });

  const { post } = served;

  it('answers 202 with a run id, then .started and .finished reach the receiver in binary mode', async () => {
    const ev = event();
    const res = await post(ev);
    expect(res.status).toBe(202);
    const body = res.body as { runId: string };
    expect(body.runId).toMatch(/^[0-9a-f-]{36}$/);
    await expect
      .poll(() => served.receiver.received.length, { timeout: 10_000, message: 'requests at the receiver' })
      .toBeGreaterThanOrEqual(2);
    const mine = served.receiver.received.filter((r) => r.headers['ce-triggeredid'] === ev.id);
    expect(mine.map((r) => r.headers['ce-type'])).toEqual([
      'sh.keptn.event.deployment.started',
      'sh.keptn.event.deployment.finished',
    ]);
    expect(mine[1]?.headers['ce-shkeptncontext']).toBe('ctx-1');
    expect(JSON.parse(mine[1]?.body ?? '{}')).toMatchObject({
      status: 'succeeded',
      result: 'pass',
      message: expect.stringContaining('Hello http'),
    });
    // The run turns `succeeded` once the service has recorded the delivery of `.finished` (`answering` until then).
    const run = await vi.waitFor(
      async () => {
        const r = (await served.http.get(`/api/runs/${body.runId}`)).body as {
          status: string;
          tasks: Array<{ logs: string }>;
        };
        return found(r.status === 'succeeded' && r, 'the run to be succeeded');
      },
      { timeout: 20_000 },
    );
    // The runner's own notes (stream `system`) come first; the task's output is the last line.
    expect(run.tasks[0]?.logs).toMatch(/(^|\n)Hello http$/);
  });

  it('takes binary-mode events too', async () => {
    const ev = event();
    const res = await post(ev.data, {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': ev.id,
      'ce-source': 'test',
      'ce-type': 'sh.keptn.event.deployment.triggered',
      'ce-shkeptncontext': 'ctx-2',
    });
    expect(res.status).toBe(202);
  });

  it.each([
    ['not JSON', '{nope', 'EVENT_INVALID', /^body: not valid JSON/],
    ['no project', event({}, { project: undefined }), 'EVENT_INVALID', /^data\.project: required/],
    [
      'not a Keptn type',
      event({ type: 'com.example.x' }),
      'EVENT_NOT_KEPTN',
      /^type: "com.example.x" is not a Keptn event type/,
    ],
    ['no shkeptncontext', event({ shkeptncontext: undefined }), 'EVENT_NOT_KEPTN', /^shkeptncontext: required/],
  ])('refuses %s with 400 and the reason', async (_name, body, code, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const json = res.body as { error: { code: string; message: string } };
    expect(json.error.code).toBe(code);
    expect(json.error.message).toMatch(message);
  });

  it('answers 413 over the body limit', async () => {
    const res = await post(event({}, { big: 'x'.repeat(8000) }));
    expect(res.status).toBe(413);
    expect((res.body as { error: { message: string } }).error.message).toMatch(/larger than the body limit of 4kb/);
  });

  it('answers 401 without the bearer token', async () => {
    const res = await post(event(), { authorization: 'Bearer wrong' });
    expect(res.status).toBe(401);
  });

  it('answers 503 when the queue is full, and a duplicate is taken once', async () => {
    await idle();
    const first = event({ type: 'sh.keptn.event.slow.triggered' });
    const codes = [];
    codes.push((await post(first)).status);
    const dup = await post(first);
    codes.push(dup.status);
    expect((dup.body as { status: string }).status).toBe('duplicate');
    codes.push((await post(event({ type: 'sh.keptn.event.slow.triggered' }))).status);
    const full = await post(event({ type: 'sh.keptn.event.slow.triggered' }));
    codes.push(full.status);
    expect(codes).toEqual([202, 202, 202, 503]);
    expect(full.headers['retry-after']).toBe('5');
  });

  it('keeps serving after all that: health, readiness, run list', async () => {
    expect((await served.http.get('/healthz')).status).toBe(200);
    expect((await served.http.get('/readyz')).status).toBe(200);
    const list = (await served.http.get('/api/runs')).body as { runs: unknown[] };
    expect(list.runs.length).toBeGreaterThan(0);
    await idle();
    const res = await post(event());
    expect(res.status).toBe(202);
  });

  it('routes as express did: HEAD like GET without a body, a trailing slash and any case; 404 and 400 with a code', async () => {
    const head = await served.http.head('/healthz');
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(head.text ?? '').toBe('');
    expect((await served.http.get('/HEALTHZ/')).status).toBe(200);
    expect((await served.http.get('/api/runs/?limit=1')).body).toEqual({ runs: [expect.any(Object)] });
    const unknown = await served.http.delete('/api/runs');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { code: 'NOT_FOUND', message: 'no such endpoint' } });
    const missing = await served.http.get('/api/runs/no%20such');
    expect(missing.body).toEqual({
      error: { code: 'NOT_FOUND', message: 'no run no such (it may have left the history)' },
    });
    const bad = await served.http.get('/api/runs/%E0%A4%A');
    expect(bad.status).toBe(400);
    expect((bad.body as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
    expect(bad.headers['x-powered-by']).toBeUndefined();
  });
});
