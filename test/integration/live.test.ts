import type { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../src/service.js';
import { createApp } from '../../src/server/app.js';
import { keptnEvent, silentLogger, tempTree, testService } from '../helpers/service.js';
import { openSse } from '../helpers/sse.js';

const CONFIG = `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.lines.triggered" }]
    tasks:
      - { name: count, image: alpine, cmd: [sh, -c, "for i in 1 2 3 4; do echo line $i; sleep 0.3; done; echo oops >&2"] }
  - events: [{ name: "sh.keptn.event.flood.triggered" }]
    tasks:
      - { name: flood, image: alpine, cmd: [sh, -c, "for i in $(seq 1 100); do head -c 200000 /dev/zero | tr '\\\\0' x | fold -w 1000; sleep 0.05; done"] }
`;

describe('live run streams (Server-Sent Events) over a real socket', () => {
  let service: Service;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    ({ service } = await testService(await tempTree({ 'job/config.yaml': CONFIG }), {
      'run-log-max-bytes': String(64 * 1024 * 1024),
    }));
    const app = createApp({
      executor: service.executor,
      store: service.store,
      logger: silentLogger,
      bodyLimit: '1mb',
      metrics: service.metrics,
      live: { heartbeatMs: 100, maxBufferedBytes: 64 * 1024 },
    });
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await service.executor.close(100);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const submit = async (type: string) => {
    const r = await service.executor.submit(keptnEvent(type));
    if (r.status !== 'accepted') throw new Error(r.status);
    return r;
  };

  it("streams a run's log lines as the task prints them, then its end, and closes", async () => {
    const { runId, done } = await submit('sh.keptn.event.lines.triggered');
    const sse = await openSse(`${base}/api/runs/${runId}/events`);
    expect(sse.res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    await sse.done; // the server closes the stream after `end`
    await done;

    const [first, ...rest] = sse.messages;
    expect(first?.event).toBe('snapshot');
    const snapshot = JSON.parse(first?.data ?? '{}') as { id: string; tasks: Array<{ logs: Array<{ text: string }> }> };
    expect(snapshot.id).toBe(runId);
    const logs = rest.filter((m) => m.event === 'log');
    const parsed = logs.map((m) => JSON.parse(m.data) as { task: number; stream: string; text: string });
    // Lines already printed when the client came are in the snapshot; the rest arrive one by one.
    const seen = [...(snapshot.tasks[0]?.logs ?? []).map((l) => l.text), ...parsed.map((l) => l.text)];
    expect(seen).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'oops']);
    expect(parsed.at(-1)).toMatchObject({ task: 0, stream: 'stderr', text: 'oops' });
    expect(logs.length).toBeGreaterThanOrEqual(3);
    // Live, not in a batch at the end: the lines came over about a second.
    expect((logs.at(-1)?.at ?? 0) - (logs[0]?.at ?? 0)).toBeGreaterThan(500);

    const states = rest
      .filter((m) => m.event === 'run')
      .map((m) => JSON.parse(m.data) as { status: string; tasks: Array<{ status: string }> });
    expect(states.at(-1)).toMatchObject({ status: 'succeeded', tasks: [{ status: 'succeeded' }] });
    expect(sse.messages.at(-1)).toMatchObject({ event: 'end' });
    expect(JSON.parse(sse.messages.at(-1)?.data ?? '{}')).toEqual({ id: runId, status: 'succeeded' });
  });

  it('gives a finished run as a snapshot and an end right away; 404 for an unknown run', async () => {
    const { runId, done } = await submit('sh.keptn.event.lines.triggered');
    await done;
    const sse = await openSse(`${base}/api/runs/${runId}/events`);
    await sse.done;
    expect(sse.messages.map((m) => m.event)).toEqual(['snapshot', 'end']);
    const gone = await fetch(`${base}/api/runs/nope/events`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { message: string } }).error.message).toBe(
      'no run nope (it may have left the history)',
    );
  });

  it('list stream: the runs first, then each change; heartbeats; listeners removed when the client goes', async () => {
    const updateListeners = service.store.listenerCount('update');
    const sse = await openSse(`${base}/api/events`);
    await expect
      .poll(() => sse.messages.length, { timeout: 10_000, message: 'messages on the list stream' })
      .toBeGreaterThanOrEqual(1);
    expect(sse.messages[0]?.event).toBe('runs');
    expect(service.store.listenerCount('update')).toBe(updateListeners + 1);
    const { runId, done } = await submit('sh.keptn.event.lines.triggered');
    await done;
    await expect
      .poll(
        () =>
          sse.messages.filter((m) => m.event === 'run').map((m) => (JSON.parse(m.data) as { status: string }).status),
        { timeout: 10_000, message: 'run statuses on the list stream' },
      )
      .toContain('succeeded');
    const statuses = sse.messages
      .filter((m) => m.event === 'run')
      .map((m) => JSON.parse(m.data) as { id: string; status: string });
    expect(statuses.every((s) => s.id === runId)).toBe(true);
    expect(statuses.map((s) => s.status)).toContain('running');
    expect(sse.comments).toContain(': ping');
    sse.close();
    await expect
      .poll(() => service.store.listenerCount('update'), {
        timeout: 10_000,
        message: 'update listeners once the client went',
      })
      .toBe(updateListeners);
  });

  it('lets go of a client that stops reading instead of buffering without bound', async () => {
    // Counted as they happen: the stream may be opened and dropped between two polls on a busy machine.
    const events = service.store as unknown as EventEmitter;
    let added = 0;
    let removed = 0;
    const onAdd = (name: string) => void (name === 'log' && added++);
    const onRemove = (name: string) => void (name === 'log' && removed++);
    events.on('newListener', onAdd);
    events.on('removeListener', onRemove);
    const { runId, done } = await submit('sh.keptn.event.flood.triggered');
    // A raw socket that sends the request and then never reads: the server's buffer for it must stay bounded.
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', r));
    socket.write(`GET /api/runs/${runId}/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
    socket.pause();
    // 20 MB of log lines go by over several seconds; the stream is dropped long before that, listeners with it.
    await expect
      .poll(() => ({ added, removed }), { timeout: 20_000, message: 'log listeners added and removed' })
      .toEqual({ added: 1, removed: 1 });
    expect(service.store.get(runId)?.status).toBe('running');
    events.off('newListener', onAdd);
    events.off('removeListener', onRemove);
    socket.destroy();
    await done;
  }, 40_000);
});
