// Kubernetes runner footprint benchmark (issue 11), against the project's test control plane (scripts/testenv;
// kwok runs each Job's pod for TESTENV_POD_COMPLETE_DELAY_MS, 1 s by default).
//
// Each repetition: a fresh namespace, the built service as its own process (`node --max-semi-space-size=1
// dist/src/cli/main.js serve --runner kubernetes --transport keptn-api --config-source keptn`, default settings
// otherwise) with the kubeconfig of testenv's `audited` user, 50 `sh.keptn.event.action.triggered` events
// offered at once by the Keptn control-plane double, one Job each (bench/footprint.mjs has the measures).
// An independent watch in this process (admin user, not counted) notes when each Job is created and when it
// gets its Complete condition.
//
// Usage: scripts/testenv up && eval "$(scripts/testenv env)" && npm run build && node bench/kubernetes.bench.mjs
//   BENCH_EVENTS (50), BENCH_REPS (3), BENCH_ARGS (extra service flags, e.g. "--concurrency 4"),
//   BENCH_LABEL (a name for the run in the results file).
import * as k8s from '@kubernetes/client-node';
import {
  auditRequests,
  burstRun,
  fileSize,
  loadKeptnDouble,
  machine,
  summary,
  writeResult,
  NODE_FLAGS,
} from './footprint.mjs';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const EXTRA = (process.env.BENCH_ARGS ?? '').split(' ').filter(Boolean);
const AUDITED = process.env.TESTENV_AUDITED_KUBECONFIG;
const AUDIT_LOG = process.env.TESTENV_AUDIT_LOG;
if (!process.env.KUBECONFIG || !AUDITED || !AUDIT_LOG) {
  console.error(
    'needs the test control plane: scripts/testenv up && eval "$(scripts/testenv env)" (KUBECONFIG, TESTENV_AUDITED_KUBECONFIG, TESTENV_AUDIT_LOG)',
  );
  process.exit(2);
}

const admin = new k8s.KubeConfig();
admin.loadFromDefault();
const core = admin.makeApiClient(k8s.CoreV1Api);
const audited = new k8s.KubeConfig();
audited.loadFromFile(AUDITED);
const auditedCore = audited.makeApiClient(k8s.CoreV1Api);

const CONFIG = `apiVersion: v2
actions:
  - name: bench
    events: [{ name: "sh.keptn.event.action.triggered" }]
    tasks:
      - name: one
        image: alpine
        cmd: ["true"]
`;

async function namespace(name) {
  await core.createNamespace({ body: { metadata: { name } } });
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`namespace ${name}: no default ServiceAccount`);
}

/** Job created and Complete, per event id, from a watch of the admin user (not in the audit log). */
function jobObserver(ns) {
  const createdAt = new Map();
  const completeAt = new Map();
  let request;
  let listening = false;
  return {
    async ready() {
      request = await new k8s.Watch(admin).watch(
        `/apis/batch/v1/namespaces/${ns}/jobs`,
        {},
        (phase, job) => {
          const id = job.metadata?.annotations?.['job-executor.keptn.sh/event-id'];
          if (!id) return;
          const now = performance.now();
          if (!createdAt.has(id)) createdAt.set(id, now);
          if (!completeAt.has(id) && job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True'))
            completeAt.set(id, now);
        },
        () => undefined,
      );
      listening = true;
    },
    times({ offeredAt, finishedAt }) {
      request?.abort();
      const ids = [...offeredAt.keys()];
      const per = (from, to) => ids.map((id) => (to.get(id) ?? NaN) - (from.get(id) ?? NaN));
      return {
        jobs: createdAt.size,
        offeredToJobCreatedMs: summary(per(offeredAt, createdAt)),
        completeToFinishedMs: summary(per(completeAt, finishedAt)),
        observerListening: listening,
      };
    },
  };
}

/** A request of the audited user that marks the end of the service's requests in the audit log. */
function sentinel(ns) {
  const name = `je-bench-sentinel-${Date.now().toString(36)}`;
  return {
    isSentinel: (e) => e.objectRef?.name === name,
    async sentinel() {
      const from = fileSize(AUDIT_LOG);
      await auditedCore.readNamespacedConfigMap({ name, namespace: ns }).catch(() => undefined);
      for (let i = 0; i < 100; i++) {
        if (auditRequests(AUDIT_LOG, from).some((e) => e.objectRef?.name === name)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the sentinel request never reached the audit log');
    },
  };
}

const KeptnDouble = await loadKeptnDouble();
const runs = [];
for (let rep = 0; rep < REPS; rep++) {
  const ns = `je-fp-${Date.now().toString(36)}-${rep}`;
  await namespace(ns);
  try {
    const mark = sentinel(ns);
    const run = await burstRun({
      KeptnDouble,
      events: EVENTS,
      config: CONFIG,
      args: ['--runner', 'kubernetes', '--job-namespace', ns, '--managed-by', ns, ...EXTRA],
      env: { KUBECONFIG: AUDITED },
      observer: jobObserver(ns),
      audit: { log: AUDIT_LOG, ...mark },
    });
    runs.push(run);
    console.error(
      `rep ${rep + 1}/${REPS}: ${JSON.stringify({ wall: run.wallSeconds, cpu: run.cpuSeconds, hwm: run.peakRssMb, kube: run.kubeApiRequests?.perEvent, started: run.offeredToStartedMs.p50, c2f: run.completeToFinishedMs?.p50 })}`,
    );
  } finally {
    await core.deleteNamespace({ name: ns, propagationPolicy: 'Background' }).catch(() => undefined);
  }
}

const range = (f) => {
  const v = runs.map(f).filter((x) => typeof x === 'number');
  return v.length ? [Math.min(...v), Math.max(...v)] : null;
};
const result = {
  date: new Date().toISOString(),
  label: process.env.BENCH_LABEL ?? null,
  machine: machine(),
  nodeFlags: NODE_FLAGS,
  serviceArgs: EXTRA,
  events: EVENTS,
  reps: REPS,
  ranges: {
    peakRssMb: range((r) => r.peakRssMb),
    cpuRunWindowS: range((r) => r.cpuSeconds.runWindow),
    cpuPerEventMs: range((r) => r.cpuSeconds.perEventMs),
    cpuLifetimeS: range((r) => r.cpuSeconds.lifetime),
    kubeApiRequests: range((r) => r.kubeApiRequests?.total),
    kubeApiRequestsPerEvent: range((r) => r.kubeApiRequests?.perEvent),
    offeredToStartedP50Ms: range((r) => r.offeredToStartedMs.p50),
    completeToFinishedP50Ms: range((r) => r.completeToFinishedMs?.p50),
    wallSeconds: range((r) => r.wallSeconds),
    keptnApiRequests: range((r) => r.keptnApiRequests),
  },
  runs,
};
const file = writeResult(`kubernetes-footprint${process.env.BENCH_LABEL ? `-${process.env.BENCH_LABEL}` : ''}`, result);
console.log(JSON.stringify(result.ranges, null, 2));
console.log(`written to ${file}`);
process.exit(0);
