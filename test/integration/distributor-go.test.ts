import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFinished, type OutgoingEvent } from '../../src/keptn/responses.js';
import { DistributorSink } from '../../src/keptn/sinks/http-sinks.js';
import { AnswerTooLargeError, PermanentDeliveryError } from '../../src/keptn/sinks/sink.js';
import { keptnEvent } from '../helpers/service.js';

const STANDIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/distributor-standin');
const hasGo = spawnSync('go', ['version']).status === 0;

function finishedOfSize(bytes: number): OutgoingEvent {
  const event = keptnEvent('sh.keptn.event.test.triggered');
  const base = buildFinished(event, 'job-executor-service', { status: 'succeeded', result: 'pass', message: '' });
  return buildFinished(event, 'job-executor-service', {
    status: 'succeeded',
    result: 'pass',
    message: 'x'.repeat(bytes - Buffer.byteLength(JSON.stringify(base))),
  });
}

async function send(sink: DistributorSink, event: OutgoingEvent): Promise<Error | undefined> {
  try {
    await sink.send(event, new AbortController().signal);
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

/**
 * The sink's reading of the distributor's bare 500 rests on what Go's net/http does once MaxBytesReader's
 * limit is hit (it closes the connection). Checked here against Go itself, with a stand-in that has the
 * distributor's middleware and handler shape (test/fixtures/distributor-standin). Needs a Go toolchain.
 */
describe.skipIf(!hasGo)("the distributor's refusals, from Go's own net/http", { timeout: 120_000 }, () => {
  let child: ChildProcess;
  let url: string;

  beforeAll(async () => {
    const bin = path.join(await mkdtemp(path.join(os.tmpdir(), 'je-standin-')), 'standin');
    await promisify(execFile)('go', ['build', '-o', bin, '.'], { cwd: STANDIN, timeout: 110_000 });
    child = spawn(bin, [], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, API_PROXY_MAX_PAYLOAD_BYTES_KB: '32' },
    });
    const addr = await new Promise<string>((resolve, reject) => {
      child.once('error', reject);
      child.stdout?.once('data', (b: Buffer) => resolve(b.toString('utf8').trim()));
    });
    url = `http://${addr}/event`;
  }, 120_000);
  afterAll(() => {
    child?.kill();
  });

  it('over API_PROXY_MAX_PAYLOAD_BYTES_KB (32 here): too large; within it: delivered; a bare 500 for another reason: retried', async () => {
    const sink = new DistributorSink(url);
    expect(await send(sink, finishedOfSize(32 * 1024))).toBeUndefined();
    // Under Keptn's default 64 KiB, so only Go's closing of the connection tells the refusal apart.
    const big = await send(sink, finishedOfSize(40_000));
    expect(big).toBeInstanceOf(AnswerTooLargeError);
    expect((big as AnswerTooLargeError).size).toBe(40_000);
    expect(await send(sink, finishedOfSize(66_807))).toBeInstanceOf(AnswerTooLargeError);
    // An event it cannot decode gets the same bare 500, but Go keeps the connection: not taken for size.
    const undecodable = await send(sink, { ...finishedOfSize(1000), specversion: '0.1' } as unknown as OutgoingEvent);
    expect(undecodable).toBeInstanceOf(Error);
    expect(undecodable?.message).toMatch(/answered 500$/);
    expect(undecodable).not.toBeInstanceOf(PermanentDeliveryError);
  });
});
