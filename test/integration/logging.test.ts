import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startReceiver } from '../helpers/receiver.js';
import { tempTree, testServer } from '../helpers/service.js';

const API_TOKEN = 'keptn-api-token-SECRET-1';
const AUTH_TOKEN = 'intake-token-SECRET-2';
const ENV_VALUE = 'task-env-SECRET-3';
const FILE_SECRET = 'secret-file-SECRET-4';

const CONFIG = `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - name: first
        image: alpine
        cmd: [sh, -c, "echo working"]
        env:
          - { name: PASSWORD, value: "${ENV_VALUE}", valueFrom: string }
`;

describe('service logs (pino JSON, as an operator reads them)', () => {
  it('tag every line of a run with shkeptncontext, event id and run id (and the task), and never show a secret', async () => {
    const receiver = await startReceiver({ failFirst: 1 });
    const lines: string[] = [];
    const capture = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(
          ...chunk
            .toString('utf8')
            .split('\n')
            .filter((l) => l !== ''),
        );
        cb();
      },
    });
    const logger = createLogger('debug', 'json', capture);
    const { server, post } = await testServer(
      {
        config: await tempTree({ 'job/config.yaml': CONFIG }),
        sink: 'keptn-api',
        'keptn-api-endpoint': `${receiver.url}/api`,
        'allowed-images': 'alpine',
      },
      { logger, env: { KEPTN_API_TOKEN: API_TOKEN, JOB_EXECUTOR_AUTH_TOKEN: AUTH_TOKEN, SOME_OTHER: FILE_SECRET } },
    );
    const event = {
      specversion: '1.0',
      id: 'log-evt-1',
      source: 't',
      type: 'sh.keptn.event.deployment.triggered',
      shkeptncontext: 'log-ctx-1',
      data: { project: 'p', stage: 's', service: 'svc' },
    };
    expect(
      (await post(event, { 'content-type': 'application/json', authorization: 'Bearer wrong-token' })).status,
    ).toBe(401);
    const res = await post(event, { 'content-type': 'application/json', authorization: `Bearer ${AUTH_TOKEN}` });
    const body = res.body as { runId: string; message?: string };
    expect(res.status, body.message).toBe(202);
    const { runId } = body;
    await expect
      .poll(() => receiver.received.length, { timeout: 15_000, message: 'answers at the receiver' })
      .toBeGreaterThanOrEqual(2);
    await server.close();
    await receiver.close();

    const all = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const ofRun = all.filter(
      (l) =>
        l.runId === runId ||
        l.eventId === event.id ||
        l.triggeredid === event.id ||
        l.shkeptncontext === event.shkeptncontext,
    );
    expect(ofRun.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'event matched',
        'task started',
        'task ended',
        'answer sent',
        'answer not delivered; retrying',
      ]),
    );
    for (const l of ofRun)
      expect(l, JSON.stringify(l)).toMatchObject({ shkeptncontext: 'log-ctx-1', eventId: 'log-evt-1' });
    for (const l of ofRun.filter((x) => x.msg === 'task started' || x.msg === 'task ended'))
      expect(l).toMatchObject({ runId, task: 'first' });

    const text = lines.join('\n');
    for (const secret of [API_TOKEN, AUTH_TOKEN, ENV_VALUE, FILE_SECRET, 'wrong-token'])
      expect(text).not.toContain(secret);
  });
});
