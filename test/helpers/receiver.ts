import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/**
 * A real HTTP server on 127.0.0.1 that records what it is sent: stands in for a CloudEvents receiver, the
 * distributor's /event or the Keptn API's /v1/event. `failFirst` answers 503 to that many requests first.
 */
export async function startReceiver(options: { failFirst?: number; status?: number; maxBodyBytes?: number } = {}) {
  const received: Received[] = [];
  /** Bodies refused with 413 for their size (`maxBodyBytes`), as a receiver with a size limit does. */
  const refused: Received[] = [];
  let failures = options.failFirst ?? 0;
  /** While true, every request is answered 503 (an outage). */
  let down = false;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (failures > 0 || down) {
        if (!down) failures--;
        res.writeHead(503).end('try later');
        return;
      }
      if (options.maxBodyBytes !== undefined && Buffer.byteLength(body) > options.maxBodyBytes) {
        refused.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.writeHead(413).end('request body too large');
        return;
      }
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(options.status ?? 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    refused,
    setDown(value: boolean): void {
      down = value;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
