import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeptnDouble } from '../fixtures/keptn-double.js';

/** The double must catch what Keptn would reject or mishandle, or the tests built on it prove nothing. */
describe('Keptn control-plane double: the rules it enforces', () => {
  let double: KeptnDouble;
  beforeAll(async () => {
    double = await new KeptnDouble({ token: 't' }).start();
  });
  afterAll(async () => {
    await double.stop();
  });

  const post = async (event: Record<string, unknown>, token = 't') => {
    const res = await fetch(`${double.api}/v1/event`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-token': token },
      body: JSON.stringify(event),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const scope = { project: 'p', stage: 's', service: 'svc' };
  const answer = (
    t: { id: string; shkeptncontext: string },
    kind: string,
    data: Record<string, unknown> = {},
    extra: Record<string, unknown> = {},
  ) => ({
    type: `sh.keptn.event.test.${kind}`,
    source: 'me',
    specversion: '1.0',
    id: 'mine',
    triggeredid: t.id,
    shkeptncontext: t.shkeptncontext,
    data: { ...scope, ...data },
    ...extra,
  });
  const newViolations = async (action: () => Promise<unknown>) => {
    const before = double.violations.length;
    await action();
    return double.violations.slice(before);
  };

  it('checks the token and the fields the API requires, and rewrites id and time', async () => {
    expect((await post({ type: 'x', source: 's', data: {} }, 'wrong')).status).toBe(401);
    expect((await post({ source: 's', data: {} })).status).toBe(400);
    const t = double.trigger('sh.keptn.event.test.triggered', scope);
    expect(await post(answer(t, 'started'))).toEqual({ status: 200, body: { keptnContext: t.shkeptncontext } });
    const stored = double.received.at(-1);
    expect(stored?.id).not.toBe('mine');
    expect(stored?.sentId).toBe('mine');
    expect(await newViolations(() => post(answer(t, 'finished', { status: 'succeeded', result: 'pass' })))).toEqual([]);
    expect(double.task(t.id)).toMatchObject({ started: 1, finished: 1, open: false });
  });

  it('records a .finished without .started, a foreign context, a missing triggeredid, an empty scope, status/result not at the top', async () => {
    const t = double.trigger('sh.keptn.event.test.triggered', scope);
    expect(await newViolations(() => post(answer(t, 'finished', { status: 'succeeded', result: 'pass' })))).toEqual([
      expect.stringMatching(/without a matching \.started/),
    ]);
    const u = double.trigger('sh.keptn.event.test.triggered', scope);
    expect(await newViolations(() => post(answer({ id: u.id, shkeptncontext: 'other' }, 'started')))).toEqual([
      expect.stringMatching(/shkeptncontext other differs/),
    ]);
    expect(await newViolations(() => post(answer({ id: '', shkeptncontext: u.shkeptncontext }, 'started')))).toEqual([
      expect.stringMatching(/no triggeredid/),
    ]);
    expect(await newViolations(() => post(answer(u, 'started', { stage: '' })))).toEqual([
      expect.stringMatching(/data\.stage is empty/),
    ]);
    expect(
      await newViolations(() => post(answer(u, 'finished', { test: { status: 'succeeded', result: 'pass' } }))),
    ).toEqual([expect.stringMatching(/data\.status "undefined"/), expect.stringMatching(/data\.result "undefined"/)]);
    expect(await newViolations(() => post(answer(u, 'started')))).toEqual([expect.stringMatching(/already complete/)]);
  });

  it('serves resources only with the encoding the route needs', async () => {
    double.addResource(scope, 'job/config.yaml', 'hello');
    const get = async (uri: string, base = `${double.api}/resource-service`) =>
      (await fetch(`${base}/v1/project/p/stage/s/service/svc/resource/${uri}`, { headers: { 'x-token': 't' } })).status;
    expect(await get('job%252Fconfig.yaml')).toBe(200);
    expect(await newViolations(async () => expect(await get('job%2Fconfig.yaml')).toBe(404))).toEqual([
      expect.stringMatching(/not double-encoded/),
    ]);
    expect(await get('job%2Fconfig.yaml', `${double.url}/distributor/resource-service`)).toBe(200);
    double.violations.length = 0;
  });
});
