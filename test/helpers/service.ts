import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { OutgoingEvent } from '../../src/keptn/responses.js';
import type { Sink } from '../../src/keptn/sinks/sink.js';
import { parseKeptnEvent, type KeptnEvent } from '../../src/keptn/event.js';
import { createService, type Service } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';

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

let counter = 0;
/** A valid Keptn task event; `data` is merged over project/stage/service. */
export function keptnEvent(type: string, data: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): KeptnEvent {
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
