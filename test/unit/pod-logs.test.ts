import http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeApi } from '../../src/runners/kubernetes/kube-client.js';
import { LiveLog, readContainerLog } from '../../src/runners/kubernetes/pod-logs.js';
import { TaskLog } from '../../src/runners/task-log.js';
import { found } from '../helpers/wait.js';
import { kubeApiFor } from '../helpers/kube-stand-in.js';

/**
 * A task's log over a real socket from an API server stand-in: streamed live, read once at the end, and the
 * read at the end skipped only when the live stream ended by itself after the container stopped.
 */

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
const waitUntil = (test: () => boolean) =>
  vi.waitFor(() => found(test(), 'the condition'), { timeout: 5000, interval: 5 });

async function apiServer(
  handle: (url: URL, res: http.ServerResponse) => void,
): Promise<{ api: KubeApi; requests: URL[] }> {
  const requests: URL[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url);
    handle(url, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { api: kubeApiFor(server), requests };
}

/** A task's log that keeps the lines it was given. */
function taskLog(): TaskLog & { lines: string[] } {
  const got: string[] = [];
  return Object.assign(new TaskLog({ maxBytes: 1 << 20, onLine: (l) => got.push(l.text) }), { lines: got });
}

describe('LiveLog', () => {
  it('streams the task container’s log as it comes; a stream that ends after the container stopped had it all', async () => {
    let stream: http.ServerResponse | undefined;
    const { api, requests } = await apiServer((url, res) => {
      res.writeHead(200).flushHeaders();
      stream = res;
    });
    const log = taskLog();
    let stopped = false;
    const live = new LiveLog(
      api,
      'ns',
      log,
      () => undefined,
      () => stopped,
    );
    live.start('pod-1');
    await waitUntil(() => stream !== undefined);
    expect(requests[0]?.pathname).toBe('/api/v1/namespaces/ns/pods/pod-1/log');
    expect(requests[0]?.searchParams.get('container')).toBe('task');
    expect(requests[0]?.searchParams.get('follow')).toBe('true');
    stream?.write('one\ntw');
    stream?.write('o\n');
    await waitUntil(() => log.lines.length === 2);
    stopped = true;
    stream?.end('three, no newline');
    await waitUntil(() => log.lines.length === 3);
    expect(log.lines).toEqual(['one', 'two', 'three, no newline']);
    expect(live.stop()).toEqual({ pod: 'pod-1', lines: 3, whole: true });
  });

  it('a stream that ends while the container runs (or is cut short) leaves the rest to the read at the end', async () => {
    const { api } = await apiServer((url, res) => {
      res.writeHead(200).flushHeaders();
      res.end('early\n');
    });
    const log = taskLog();
    const live = new LiveLog(
      api,
      'ns',
      log,
      () => undefined,
      () => false,
    );
    live.start('pod-1');
    await waitUntil(() => log.lines.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(live.stop()).toEqual({ pod: 'pod-1', lines: 1, whole: false });
  });

  it('a log that cannot be streamed is tried three times, then noted (the read at the end still comes)', async () => {
    const { api, requests } = await apiServer((url, res) => {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({ kind: 'Status', code: 400, message: 'container "task" in pod "pod-1" is waiting to start' }),
        );
    });
    const notes: string[] = [];
    const live = new LiveLog(
      api,
      'ns',
      taskLog(),
      (n) => notes.push(n),
      () => false,
    );
    for (let i = 0; i < 3; i++) {
      live.start('pod-1');
      await waitUntil(() => live.startable || requests.length === 3);
    }
    await waitUntil(() => notes.length === 1);
    expect(requests).toHaveLength(3);
    expect(live.startable).toBe(false);
    expect(notes[0]).toBe(
      'could not stream the log of pod pod-1 (container "task" in pod "pod-1" is waiting to start); it is read when the Job ends',
    );
  });
});

describe('readContainerLog', () => {
  it('reads the whole log once, skipping the lines the live stream passed on', async () => {
    const { api, requests } = await apiServer((url, res) => res.end('a\nb\nc\nd'));
    const got: string[] = [];
    expect(
      await readContainerLog(
        api,
        { namespace: 'ns', pod: 'p', container: 'task' },
        2,
        (l) => got.push(l),
        new AbortController().signal,
      ),
    ).toBeUndefined();
    expect(got).toEqual(['c', 'd']);
    expect(requests[0]?.searchParams.get('follow')).toBeNull();
  });

  it('says why it could not: the API server’s message, a body cut short, the service stopping', async () => {
    const noop = () => undefined;
    const refused = await apiServer((url, res) =>
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', code: 404, message: 'pods "p" not found' })),
    );
    expect(
      await readContainerLog(
        refused.api,
        { namespace: 'ns', pod: 'p', container: 'task' },
        0,
        noop,
        new AbortController().signal,
      ),
    ).toBe('pods "p" not found');
    const cut = await apiServer((url, res) => {
      res.writeHead(200).write('partial\n');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    expect(
      await readContainerLog(
        cut.api,
        { namespace: 'ns', pod: 'p', container: 'task' },
        0,
        noop,
        new AbortController().signal,
      ),
    ).toMatch(/cut short|aborted|socket hang up/);
    const hung = await apiServer((url, res) => res.writeHead(200).flushHeaders());
    const stop = new AbortController();
    const reading = readContainerLog(hung.api, { namespace: 'ns', pod: 'p', container: 'task' }, 0, noop, stop.signal);
    setTimeout(() => stop.abort(), 50);
    expect(await reading).toBe('the service is stopping');
  });
});
