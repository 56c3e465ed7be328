import http from 'node:http';
import type { Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KubernetesClaims } from '../../src/runners/kubernetes/claims.js';
import { KubeApi } from '../../src/runners/kubernetes/kube-client.js';
import { CALL_CONNECTIONS } from '../../src/runners/kubernetes/kube-config.js';
import { kubeApiFor } from '../helpers/kube-stand-in.js';
import { keptnEvent } from '../helpers/service.js';

/**
 * How many connections the runner opens to the API server, counted by an API server stand-in on a real socket:
 * a burst of short calls shares a bounded set of kept-alive connections (each one a TLS handshake against a real
 * API server), and watches and followed logs, which hold theirs for as long as they run, never keep a call waiting.
 */

let server: http.Server | undefined;
let api: KubeApi | undefined;
afterEach(async () => {
  api?.close();
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = api = undefined;
});

/** `held`: calls to a ConfigMap named `busy-*` are not answered until released (an API server that is stuck). */
async function apiServer(): Promise<{
  api: KubeApi;
  sockets: Map<string, Set<Socket>>;
  open: Set<http.ServerResponse>;
  held: http.ServerResponse[];
  paths: string[];
}> {
  const sockets = new Map<string, Set<Socket>>();
  const open = new Set<http.ServerResponse>();
  const held: http.ServerResponse[] = [];
  const paths: string[] = [];
  const listening = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    paths.push(`${req.method ?? ''} ${url.pathname}`);
    if (url.pathname.includes('/configmaps/busy-')) {
      res.setHeader('content-type', 'application/json');
      held.push(res);
      return;
    }
    const kind = url.searchParams.has('watch') || url.searchParams.has('follow') ? 'stream' : 'call';
    if (!sockets.has(kind)) sockets.set(kind, new Set());
    sockets.get(kind)?.add(req.socket);
    res.setHeader('content-type', 'application/json');
    if (kind === 'stream') {
      // A watch or a followed log: headers now, then it stays open.
      res.writeHead(200);
      res.flushHeaders();
      open.add(res);
      return;
    }
    // A call that takes a moment, so that a burst overlaps.
    setTimeout(() => res.end(JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'x' } })), 20);
  });
  server = listening;
  await new Promise<void>((r) => listening.listen(0, '127.0.0.1', r));
  const made = kubeApiFor(listening);
  api = made;
  return { api: made, sockets, open, held, paths };
}

describe('connections to the API server', () => {
  it('makes a burst of calls over at most CALL_CONNECTIONS connections, while more streams than that stay open', async () => {
    const { api, sockets, open } = await apiServer();
    const stop = new AbortController();
    const streams = [
      ...Array.from({ length: CALL_CONNECTIONS }, (_, i) =>
        api.stream(`/api/v1/namespaces/ns/pods`, { watch: true, resourceVersion: String(i) }, stop.signal),
      ),
      ...Array.from({ length: 4 }, (_, i) => api.podLog('ns', `pod-${i}`, 'job', true, stop.signal)),
    ];
    const responses = await Promise.all(streams);
    expect(open.size).toBe(CALL_CONNECTIONS + 4);

    const calls = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api.createConfigMap('ns', { metadata: { name: `claim-${i}` } }, AbortSignal.timeout(10_000)),
      ),
    );
    expect(calls).toHaveLength(50);
    expect(sockets.get('call')?.size).toBeGreaterThan(1);
    expect(sockets.get('call')?.size).toBeLessThanOrEqual(CALL_CONNECTIONS);
    // Every stream on a connection of its own, none shared with a call.
    expect(sockets.get('stream')?.size).toBe(CALL_CONNECTIONS + 4);
    for (const s of sockets.get('call') ?? []) expect(sockets.get('stream')?.has(s)).toBe(false);

    stop.abort();
    for (const r of responses) r.destroy();
  });

  it("reads a finished container's log (it ends by itself) over the calls' connections", async () => {
    const { api, sockets } = await apiServer();
    const first = await api.createConfigMap('ns', { metadata: { name: 'a' } });
    expect(first.metadata?.name).toBe('x');
    const log = await api.podLog('ns', 'pod', 'job', false, AbortSignal.timeout(10_000));
    log.resume();
    await new Promise((r) => log.once('end', r));
    expect(sockets.get('stream')).toBeUndefined();
    expect(sockets.get('call')?.size).toBe(1);
  });

  it("renews the claims' heartbeat over a connection of its own while every call connection is stuck", async () => {
    const { api, held, paths } = await apiServer();
    const claims = new KubernetesClaims({
      api,
      namespace: 'ns',
      managedBy: 'm',
      identity: 'me',
      renewMs: 50,
      staleMs: 45_000,
      retentionMs: 600_000,
      logger: pino({ level: 'silent' }),
    });
    expect(await claims.claim(keptnEvent('sh.keptn.event.action.triggered'))).toBe('claimed');
    // A burst of calls the API server does not answer: they take every call connection, and more wait.
    const stuck = Array.from({ length: 5 * CALL_CONNECTIONS }, (_, i) =>
      api.patchConfigMap('ns', `busy-${i}`, {}, AbortSignal.timeout(30_000)).catch(() => undefined),
    );
    await expect.poll(() => held.length).toBe(CALL_CONNECTIONS);
    // The heartbeat still reaches the API server, so no peer takes this instance's runs for lack of it.
    await expect
      .poll(() => paths.filter((p) => /^PATCH .*\/configmaps\/je-holder-/.test(p)).length, { timeout: 10_000 })
      .toBeGreaterThan(0);
    expect(held).toHaveLength(CALL_CONNECTIONS);
    // Unstuck: each answer frees a connection for the next call waiting.
    const answer = setInterval(() => held.splice(0).forEach((res) => res.end('{}')), 10);
    await Promise.all(stuck);
    clearInterval(answer);
    await claims.close();
  });
});
