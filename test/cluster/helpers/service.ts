/** A job-executor service on the Kubernetes runner, in this process, answering into a collecting sink. */
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseKeptnEvent, type KeptnEvent } from '../../../src/keptn/event.js';
import { createService, type Service } from '../../../src/service.js';
import { loadSettings } from '../../../src/settings/settings.js';
import { CollectingSink } from '../../helpers/service.js';
import { startServiceProcess, type ServiceProcess } from '../../helpers/service-process.js';

export async function configDir(files: Record<string, string | Buffer>): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'je-cluster-'));
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), content);
  }
  return root;
}

export async function kubeService(
  config: string,
  namespace: string,
  flags: Record<string, string | boolean> = {},
): Promise<{ service: Service; sink: CollectingSink }> {
  const sink = new CollectingSink();
  const settings = loadSettings(
    {
      config,
      runner: 'kubernetes',
      'job-namespace': namespace,
      'allowed-images': 'alpine:*,busybox:*',
      'managed-by': `je-${namespace}`,
      ...flags,
    },
    {},
  );
  const service = await createService(settings, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), {
    sinks: [sink],
  });
  return { service, sink };
}

let n = 0;
export function event(
  type: string,
  data: Record<string, unknown> = {},
  id = `cluster-${Date.now()}-${++n}`,
): KeptnEvent {
  return parseKeptnEvent({
    specversion: '1.0',
    id,
    source: 'cluster-test',
    type,
    shkeptncontext: '5f0c7a1e-1111-4222-8333-444455556666',
    data: { project: 'proj', stage: 'dev', service: 'svc', ...data },
  });
}

export async function runToEnd(service: Service, ev: KeptnEvent) {
  const r = await service.executor.submit(ev);
  if (r.status !== 'accepted') throw new Error(`event not accepted: ${r.status}`);
  return r.done;
}

/**
 * The built service as users run it with the Kubernetes runner (its own process), on the jobs namespace `ns`
 * and managing `je-<ns>`; the kubeconfig is the only thing it takes from this process's environment.
 */
export function kubeServiceProcess(o: {
  config: string;
  ns: string;
  sink: string;
  instanceId: string;
  args?: string[];
}): Promise<ServiceProcess> {
  return startServiceProcess(
    [
      '--runner',
      'kubernetes',
      '--config',
      o.config,
      '--job-namespace',
      o.ns,
      '--managed-by',
      `je-${o.ns}`,
      '--allowed-images',
      'alpine:*',
      '--sink',
      o.sink,
      '--instance-id',
      o.instanceId,
      ...(o.args ?? []),
    ],
    { KUBECONFIG: process.env.KUBECONFIG ?? '' },
  );
}
