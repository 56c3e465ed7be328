import http from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeApi } from '../../src/runners/kubernetes/kube-client.js';
import { ListWatch, MAX_WATCH_LINE_BYTES, type WatchEventType } from '../../src/runners/kubernetes/list-watch.js';
import { found } from '../helpers/wait.js';
import { kubeApiFor } from '../helpers/kube-stand-in.js';

/**
 * The runner's informer against an API server stand-in on a real socket: what it lists and watches, in what
 * order it tells of objects, and how it comes back from a watch that ends, a 410 and a refusal.
 */

const waitUntil = (test: () => boolean) =>
  vi.waitFor(() => found(test(), 'the condition'), { timeout: 5000, interval: 5 });

interface Req {
  readonly url: URL;
  readonly res: http.ServerResponse;
}

const servers: http.Server[] = [];
const watches: Array<ListWatch<V1Pod>> = [];
afterEach(async () => {
  for (const w of watches.splice(0)) w.stop();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function apiServer(handle: (r: Req) => void): Promise<{ api: KubeApi; requests: URL[] }> {
  const requests: URL[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url);
    handle({ url, res });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { api: kubeApiFor(server), requests };
}

const pod = (name: string, rv: string, phase = 'Running'): V1Pod => ({
  metadata: { name, resourceVersion: rv, managedFields: [{ manager: 'x' }] },
  spec: { containers: [] },
  status: { phase },
});
const list = (items: V1Pod[], rv: string, cont?: string) =>
  JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: rv, ...(cont ? { continue: cont } : {}) }, items });
const line = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;

function start(api: KubeApi) {
  const events: Array<[WatchEventType, string, string | undefined]> = [];
  const errors: unknown[] = [];
  const live: boolean[] = [];
  const w = new ListWatch<V1Pod>({
    api,
    path: '/api/v1/namespaces/ns/pods',
    labelSelector: 'app=je',
    // What the runner keeps: no spec, no managedFields.
    keep: (p) => ({
      metadata: { name: p.metadata?.name, resourceVersion: p.metadata?.resourceVersion },
      ...(p.status ? { status: p.status } : {}),
    }),
    onEvent: (type, p) => {
      events.push([type, p.metadata?.name as string, p.status?.phase]);
      expect(p.spec).toBeUndefined();
      expect(p.metadata?.managedFields).toBeUndefined();
    },
    onLive: (l) => live.push(l),
    onError: (e) => errors.push(e),
  });
  watches.push(w);
  return { w, events, errors, live };
}

describe('ListWatch', () => {
  it('lists every page, then watches from the list’s version, and tells of each change in order', async () => {
    let watchRes: http.ServerResponse | undefined;
    const { api, requests } = await apiServer(({ url, res }) => {
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
        watchRes = res;
        return;
      }
      if (!url.searchParams.get('continue')) res.end(list([pod('a', '1')], '10', 'page-2'));
      else res.end(list([pod('b', '2')], '10'));
    });
    const { w, events, live } = start(api);
    await waitUntil(() => watchRes !== undefined);
    expect(
      requests.map((u) => [
        u.searchParams.get('continue'),
        u.searchParams.get('watch'),
        u.searchParams.get('resourceVersion'),
      ]),
    ).toEqual([
      [null, null, null],
      ['page-2', null, null],
      [null, 'true', '10'],
    ]);
    expect(requests.every((u) => u.searchParams.get('labelSelector') === 'app=je')).toBe(true);
    expect(requests[2]?.searchParams.get('allowWatchBookmarks')).toBe('true');
    expect(live).toEqual([true]);
    watchRes?.write(line('MODIFIED', pod('a', '11', 'Succeeded')) + line('ADDED', pod('c', '12')));
    // An event split over two chunks.
    const deleted = line('DELETED', pod('b', '13'));
    watchRes?.write(deleted.slice(0, 10));
    watchRes?.write(deleted.slice(10) + line('BOOKMARK', { metadata: { resourceVersion: '20' } }));
    await waitUntil(() => events.length === 5);
    expect(events).toEqual([
      ['add', 'a', 'Running'],
      ['add', 'b', 'Running'],
      ['update', 'a', 'Succeeded'],
      ['add', 'c', 'Running'],
      ['delete', 'b', 'Running'],
    ]);
    expect(w.get('a')?.status?.phase).toBe('Succeeded');
    expect(w.get('b')).toBeUndefined();
    // The server ends the watch (its timeoutSeconds): watched again from the bookmark, without a list.
    watchRes?.end();
    await waitUntil(() => requests.length === 4);
    expect(requests[3]?.searchParams.get('watch')).toBe('true');
    expect(requests[3]?.searchParams.get('resourceVersion')).toBe('20');
    expect(w.watches).toBe(2);
  });

  it('after a 410 (version too old) it lists again: what the list lacks is deleted, what changed is updated', async () => {
    let lists = 0;
    let watchRes: http.ServerResponse | undefined;
    const { api } = await apiServer(({ url, res }) => {
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200).flushHeaders();
        if (lists === 1) res.end(line('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' }));
        else watchRes = res;
        return;
      }
      lists++;
      res.end(
        lists === 1 ? list([pod('a', '1'), pod('b', '2')], '5') : list([pod('a', '7', 'Failed'), pod('c', '8')], '9'),
      );
    });
    const { events, errors } = start(api);
    await waitUntil(() => watchRes !== undefined);
    expect(lists).toBe(2);
    expect(errors.map((e) => (e as { code?: number }).code)).toEqual([410]);
    expect(events).toEqual([
      ['add', 'a', 'Running'],
      ['add', 'b', 'Running'],
      ['delete', 'b', 'Running'],
      ['update', 'a', 'Failed'],
      ['add', 'c', 'Running'],
    ]);
  });

  it('a refused list is reported (status and the API server’s message) and tried again until it is allowed', async () => {
    let allowed = false;
    const { api } = await apiServer(({ url, res }) => {
      if (!allowed) {
        res.writeHead(403, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            kind: 'Status',
            code: 403,
            message: 'pods is forbidden: User "u" cannot list resource "pods"',
          }),
        );
        return;
      }
      if (url.searchParams.get('watch') === 'true') res.writeHead(200).flushHeaders();
      else res.end(list([pod('a', '1')], '3'));
    });
    const { events, errors, live } = start(api);
    await waitUntil(() => errors.length >= 1);
    expect((errors[0] as { code: number }).code).toBe(403);
    expect((errors[0] as Error).message).toContain('cannot list resource "pods"');
    expect(live).toEqual([]);
    allowed = true;
    await waitUntil(() => events.length === 1);
    expect(live).toEqual([true]);
  });

  it('a watch event larger than the limit breaks the watch (reported), and the watch goes on from where it was', async () => {
    const versions: Array<string | null> = [];
    let watchCount = 0;
    const { api } = await apiServer(({ url, res }) => {
      if (url.searchParams.get('watch') !== 'true') return void res.end(list([], '1'));
      versions.push(url.searchParams.get('resourceVersion'));
      res.writeHead(200);
      if (++watchCount === 1)
        res.write(`{"type":"ADDED","object":{"metadata":{"name":"big"},"x":"${'x'.repeat(MAX_WATCH_LINE_BYTES + 10)}`);
    });
    const { events, errors } = start(api);
    await waitUntil(() => versions.length === 2);
    expect((errors[0] as Error).message).toContain(`a watch event of more than ${MAX_WATCH_LINE_BYTES} bytes`);
    expect(events).toEqual([]);
    expect(versions).toEqual(['1', '1']);
  });

  it('stop() ends the watch request', async () => {
    let closed = false;
    const { api } = await apiServer(({ url, res }) => {
      if (url.searchParams.get('watch') !== 'true') return void res.end(list([], '1'));
      res.writeHead(200).flushHeaders();
      res.on('close', () => (closed = true));
    });
    const { w } = start(api);
    await waitUntil(() => w.watches === 1);
    w.stop();
    await waitUntil(() => closed);
    await w.done;
  });
});
