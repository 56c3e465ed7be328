import http from 'node:http';
import https from 'node:https';
import { JobExecutorError } from '../errors.js';

/** Kept-alive connections: the Keptn API is called all day long (polls, heartbeats, resources). */
const AGENTS = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

/** The largest answer read into memory: a resource file or a page of events is far smaller. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/**
 * One request over node:http, its answer read as text. Not fetch: its first use loads undici and compiles its
 * WebAssembly, measured at 23 MB more resident memory (44 MB at the peak) for a service that makes a handful of
 * calls a second. The answer is bounded in bytes; `signal` cancels and times it out.
 */
export function requestText(
  url: string,
  method: string,
  o: { headers: Record<string, string>; body?: string },
  signal: AbortSignal,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const headers =
      o.body === undefined ? o.headers : { ...o.headers, 'content-length': String(Buffer.byteLength(o.body)) };
    const agent = secure ? AGENTS.https : AGENTS.http;
    const req = (secure ? https : http).request(target, { method, headers, agent, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES)
          res.destroy(new JobExecutorError('KEPTN_API_ERROR', `the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
