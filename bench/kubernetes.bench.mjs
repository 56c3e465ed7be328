// Kubernetes runner benchmark, against the project's test control plane (or any KUBECONFIG):
//   1. time from a Job's Complete condition (as seen by an independent watch in this process) to the
//      `.finished` answer reaching the sink, per Job: target under 0.5 s at the median;
//   2. watch connections the service holds with many Jobs in flight: target two (one for Jobs, one for pods).
// Usage: scripts/testenv up && eval "$(scripts/testenv env)" && npm run build && node bench/kubernetes.bench.mjs
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { parseKeptnEvent } from '../dist/src/keptn/event.js';
import { createService } from '../dist/src/service.js';
import { loadSettings } from '../dist/src/settings/settings.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 200);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 20000);

const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = `je-bench-${Date.now().toString(36)}`;
await core.createNamespace({ body: { metadata: { name: ns } } });
for (let i = 0; i < 100; i++) {
  try {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: ns });
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 200));
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'je-kbench-'));
mkdirSync(path.join(dir, 'job'));
writeFileSync(
  path.join(dir, 'job', 'config.yaml'),
  `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.bench.triggered" }]
    tasks:
      - name: hold
        image: alpine
        cmd: ["sleep", "20"]
        annotations: { "pod-complete.stage.kwok.x-k8s.io/delay": "${HOLD_MS}ms" }
`,
);
const finishedAt = new Map();
const sink = { name: 'bench', send: async (e) => { if (e.type.endsWith('.finished')) finishedAt.set(e.triggeredid, performance.now()); } };
const settings = loadSettings({ config: dir, runner: 'kubernetes', 'job-namespace': ns, 'allowed-images': 'alpine', 'managed-by': ns, concurrency: String(JOBS), 'queue-size': String(JOBS) }, {});
const service = await createService(settings, pino({ level: 'warn' }), { sinks: [sink] });
const watcher = service.runner.watcher;

// An independent observer of the Complete conditions, with this process's clock.
const completeAt = new Map();
const observer = await new k8s.Watch(kc).watch(`/apis/batch/v1/namespaces/${ns}/jobs`, {}, (phase, job) => {
  const id = job.metadata?.annotations?.['job-executor.keptn.sh/event-id'];
  if (id && !completeAt.has(id) && job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')) completeAt.set(id, performance.now());
}, () => undefined);

const t0 = performance.now();
const submitted = await Promise.all(
  Array.from({ length: JOBS }, (_, i) =>
    service.executor.submit(parseKeptnEvent({ specversion: '1.0', id: `bench-${i}-${Date.now()}`, source: 'bench', type: 'sh.keptn.event.bench.triggered', shkeptncontext: 'c', data: { project: 'p', stage: 's', service: 'v' } })),
  ),
);
let maxInFlight = 0;
let maxConnections = 0;
const sampler = setInterval(() => {
  maxInFlight = Math.max(maxInFlight, service.executor.inFlight);
  maxConnections = Math.max(maxConnections, watcher.connections);
}, 100);
const runs = await Promise.all(submitted.map((s) => s.done));
clearInterval(sampler);
const total = performance.now() - t0;
observer.abort();
const lat = [...finishedAt].map(([id, t]) => t - (completeAt.get(id) ?? NaN)).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
const pct = (p) => +lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)].toFixed(1);
const result = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  jobs: JOBS,
  succeeded: runs.filter((r) => r.status === 'succeeded').length,
  maxRunsInFlight: maxInFlight,
  watchConnections: { max: maxConnections, opened: watcher.opened },
  completeToFinishedMs: { samples: lat.length, p50: pct(50), p90: pct(90), p99: pct(99), max: pct(100) },
  wallSeconds: +(total / 1000).toFixed(1),
};
await service.executor.close(1000);
await core.deleteNamespace({ name: ns, propagationPolicy: 'Background' }).catch(() => undefined);
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/kubernetes-${result.date.slice(0, 10)}.json`, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
console.log(result.completeToFinishedMs.p50 < 500 && result.watchConnections.max <= 2 ? 'targets met' : 'TARGETS MISSED');
process.exit(0);
