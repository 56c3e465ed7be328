import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll } from 'vitest';
import type { OutgoingEvent } from '../../src/keptn/responses.js';
import type { Sink } from '../../src/keptn/sinks/sink.js';
import { parseKeptnEvent, type KeptnEvent } from '../../src/keptn/event.js';
import {
  createService,
  startServer,
  type RunningServer,
  type Service,
  type ServiceOverrides,
} from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { startReceiver, type Receiver } from './receiver.js';

export const silentLogger = pino({ level: 'silent' });

/** A sink that keeps what it is given, for tests that read the answers of an in-process service. */
export class CollectingSink implements Sink {
  readonly name = 'collect';
  readonly events: OutgoingEvent[] = [];
  async send(event: OutgoingEvent): Promise<void> {
    this.events.push(event);
  }
}

/** Writes files below a fresh temp directory: `{ 'job/config.yaml': '...' }`. */
export async function tempTree(files: Record<string, string | Buffer>): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'je-test-'));
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  return root;
}

export async function testService(
  config: string,
  flags: Record<string, string | boolean> = {},
): Promise<{ service: Service; sink: CollectingSink }> {
  const sink = new CollectingSink();
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'je-work-'));
  const settings = loadSettings({ config, 'allowed-images': '*', 'work-dir': workDir, ...flags }, {});
  const service = await createService(settings, silentLogger, { sinks: [sink] });
  return { service, sink };
}

export interface TestServer {
  readonly service: Service;
  readonly server: RunningServer;
  /** supertest on the listening server. */
  readonly http: ReturnType<typeof request>;
  /**
   * `POST /` as a structured CloudEvent with the bearer token of the `auth-token` flag (`headers` go over
   * both): an object is sent as JSON, a string or a Buffer as it is.
   */
  post(body: unknown, headers?: Record<string, string>): request.Test;
}

/**
 * The service as `job-executor serve` starts it (settings, the app, the transports) on an ephemeral port of
 * 127.0.0.1, with a work directory of its own.
 */
export async function testServer(
  flags: Record<string, string>,
  options: { env?: Record<string, string>; logger?: Logger; overrides?: ServiceOverrides } = {},
): Promise<TestServer> {
  const { env = {}, logger = silentLogger, overrides = {} } = options;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'je-work-'));
  const settings = loadSettings({ port: '0', 'work-dir': workDir, ...flags }, env);
  const service = await createService(settings, logger, overrides);
  const server = await startServer(settings, logger, service);
  const http = request(server.server);
  const auth: Record<string, string> = settings.authToken ? { authorization: `Bearer ${settings.authToken}` } : {};
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    http
      .post('/')
      .set({ 'content-type': 'application/cloudevents+json', ...auth, ...headers })
      // A Buffer goes as its bytes: superagent would JSON-encode it for a JSON content type.
      .serialize((bytes: Buffer) => bytes as unknown as string)
      .send(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
  return { service, server, http, post };
}

/**
 * In a describe: a CloudEvents receiver, and the service answering to it (`--sink http:<receiver>/events`)
 * with `flags`, started before the tests and closed after them; its parts are there once the tests run.
 */
export function answeringTestServer(
  flags: () => Promise<Record<string, string>>,
): TestServer & { readonly receiver: Receiver } {
  let served: TestServer | undefined;
  let receiver: Receiver | undefined;
  beforeAll(async () => {
    receiver = await startReceiver();
    served = await testServer({ sink: `http:${receiver.url}/events`, ...(await flags()) });
  });
  afterAll(async () => {
    await served?.server.close();
    await receiver?.close();
  });
  const started = <T>(part: T | undefined): T => {
    if (part === undefined) throw new Error('answeringTestServer: its parts are there in tests, not before');
    return part;
  };
  return {
    get service() {
      return started(served).service;
    },
    get server() {
      return started(served).server;
    },
    get http() {
      return started(served).http;
    },
    post: (body, headers) => started(served).post(body, headers),
    get receiver() {
      return started(receiver);
    },
  };
}

let counter = 0;
/** A valid Keptn task event; `data` is merged over project/stage/service. */
export function keptnEvent(
  type: string,
  data: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): KeptnEvent {
  counter++;
  return parseKeptnEvent({
    specversion: '1.0',
    id: `evt-${process.pid}-${Date.now()}-${counter}`,
    source: 'test',
    type,
    shkeptncontext: '11111111-2222-4333-8444-555555555555',
    gitcommitid: 'abc123',
    data: { project: 'proj', stage: 'dev', service: 'svc', ...data },
    ...extra,
  });
}

/** Submits and waits for the run and its answers. */
export async function runEvent(service: Service, event: KeptnEvent) {
  const r = await service.executor.submit(event);
  if (r.status !== 'accepted') throw new Error(`not accepted: ${r.status}`);
  const run = await r.done;
  return run;
}
