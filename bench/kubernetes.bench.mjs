// Kubernetes runner footprint benchmark (issue 11), against the project's test control plane (scripts/testenv;
// kwok runs each Job's pod for TESTENV_POD_COMPLETE_DELAY_MS, 1 s by default).
//
// Each repetition (and each subject in it, see BENCH_SUBJECTS): a fresh namespace, the built service as its own
// process (`node --max-semi-space-size=1 dist/src/cli/main.js serve --runner kubernetes --transport keptn-api
// --config-source keptn`, default settings otherwise) with the kubeconfig of testenv's `audited` user,
// 50 `sh.keptn.event.action.triggered` events offered at once by the Keptn control-plane double, one Job each
// (bench/footprint.mjs has the measures).
// An independent watch in this process (admin user, not counted) notes when each Job is created and when it
// gets its Complete condition.
//
// Usage: scripts/testenv up && eval "$(scripts/testenv env)" && npm run build && node bench/kubernetes.bench.mjs
//   BENCH_EVENTS (50), BENCH_REPS (3), BENCH_ARGS (extra service flags, e.g. "--concurrency 4"),
//   BENCH_LABEL (a name for the run in the results file),
//   BENCH_PHASE_EVENTS (0; after each burst, that many single events offered at random points of the poll
//   interval, for offered → `.started` over the poll's phase),
//   BENCH_SUBJECTS (`service` by default; `service,floor,floor+libs` also runs bench/floor-client.mjs, the least a
//   Node.js process can do to answer the same events, bare and with the service's libraries loaded, each
//   repetition in the same order; the floor's Jobs copy one the service made in that repetition).
import path from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
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

const PHASE_EVENTS = Number(process.env.BENCH_PHASE_EVENTS ?? 0);
const SUBJECTS = (process.env.BENCH_SUBJECTS ?? 'service').split(',').filter(Boolean);
for (const s of SUBJECTS)
  if (!['service', 'floor', 'floor+libs'].includes(s)) throw new Error(`BENCH_SUBJECTS: unknown subject ${s}`);
if (SUBJECTS.some((s) => s !== 'service') && SUBJECTS[0] !== 'service')
  throw new Error('BENCH_SUBJECTS: the floor copies a Job the service made, so `service` comes first');

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

/**
 * One Job the service made, as a template for the floor's: what the API server and the Job controller add is
 * taken off, so that it can be created again under another name.
 */
async function jobTemplate(ns) {
  const { items } = await admin.makeApiClient(k8s.BatchV1Api).listNamespacedJob({ namespace: ns, limit: 1 });
  const job = items[0];
  if (!job) throw new Error(`no Job in ${ns} to copy`);
  const generated = [
    'controller-uid',
    'batch.kubernetes.io/controller-uid',
    'job-name',
    'batch.kubernetes.io/job-name',
  ];
  const labels = Object.fromEntries(
    Object.entries(job.spec?.template?.metadata?.labels ?? {}).filter(([k]) => !generated.includes(k)),
  );
  const {
    name: _n,
    uid: _u,
    resourceVersion: _r,
    creationTimestamp: _c,
    managedFields: _m,
    generation: _g,
    ...meta
  } = job.metadata ?? {};
  const { selector: _s, ...spec } = job.spec ?? {};
  const template = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta,
    spec: { ...spec, template: { ...spec.template, metadata: { ...spec.template?.metadata, labels } } },
  };
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'je-floor-')), 'job.json');
  writeFileSync(file, JSON.stringify(template));
  return file;
}

const floorKube = () => {
  const cfg = new k8s.KubeConfig();
  cfg.loadFromFile(AUDITED);
  const cluster = cfg.getCurrentCluster();
  return JSON.stringify({ server: cluster?.server, caFile: cluster?.caFile, token: cfg.getCurrentUser()?.token });
};

const KeptnDouble = await loadKeptnDouble();
const runs = [];
for (let rep = 0; rep < REPS; rep++) {
  let template;
  for (const subject of SUBJECTS) {
    const ns = `je-fp-${Date.now().toString(36)}-${rep}`;
    await namespace(ns);
    try {
      const mark = sentinel(ns);
      const floor = subject !== 'service';
      const run = await burstRun({
        KeptnDouble,
        events: EVENTS,
        config: CONFIG,
        args: ['--runner', 'kubernetes', '--job-namespace', ns, '--managed-by', ns, ...EXTRA],
        ...(floor ? { bin: path.resolve('bench/floor-client.mjs') } : {}),
        env: {
          KUBECONFIG: AUDITED,
          ...(floor
            ? { FLOOR_KUBE: floorKube(), FLOOR_JOB: template, FLOOR_LIBS: subject === 'floor+libs' ? '1' : '0' }
            : {}),
        },
        observer: jobObserver(ns),
        audit: { log: AUDIT_LOG, ...mark },
        phaseEvents: PHASE_EVENTS,
      });
      runs.push({ subject, ...run });
      if (subject === 'service' && SUBJECTS.length > 1) template = await jobTemplate(ns);
      console.error(
        `rep ${rep + 1}/${REPS} ${subject}: ${JSON.stringify({ wall: run.wallSeconds, cpu: run.cpuSeconds, hwm: run.peakRssMb, kube: run.kubeApiRequests?.perEvent, started: run.offeredToStartedMs.p50, c2f: run.completeToFinishedMs?.p50 })}`,
      );
    } finally {
      await core.deleteNamespace({ name: ns, propagationPolicy: 'Background' }).catch(() => undefined);
    }
  }
}

const rangesOf = (list) => {
  const range = (f) => {
    const v = list.map(f).filter((x) => typeof x === 'number');
    return v.length ? [Math.min(...v), Math.max(...v)] : null;
  };
  return {
    peakRssMb: range((r) => r.peakRssMb),
    cpuRunWindowS: range((r) => r.cpuSeconds.runWindow),
    cpuPerEventMs: range((r) => r.cpuSeconds.perEventMs),
    cpuLifetimeS: range((r) => r.cpuSeconds.lifetime),
    kubeApiRequests: range((r) => r.kubeApiRequests?.total),
    kubeApiRequestsPerEvent: range((r) => r.kubeApiRequests?.perEvent),
    offeredToStartedP50Ms: range((r) => r.offeredToStartedMs.p50),
    singleEventsOfferedToStartedP50Ms: range((r) => r.singleEventsOfferedToStartedMs?.p50),
    completeToFinishedP50Ms: range((r) => r.completeToFinishedMs?.p50),
    wallSeconds: range((r) => r.wallSeconds),
    keptnApiRequests: range((r) => r.keptnApiRequests),
  };
};
const result = {
  date: new Date().toISOString(),
  label: process.env.BENCH_LABEL ?? null,
  machine: machine(),
  nodeFlags: NODE_FLAGS,
  serviceArgs: EXTRA,
  events: EVENTS,
  reps: REPS,
  subjects: SUBJECTS,
  // The service's runs, as before subjects were added; the others under their names.
  ranges: rangesOf(runs.filter((r) => r.subject === 'service')),
  ...(SUBJECTS.length > 1
    ? { rangesBySubject: Object.fromEntries(SUBJECTS.map((s) => [s, rangesOf(runs.filter((r) => r.subject === s))])) }
    : {}),
  runs,
};
const file = writeResult(`kubernetes-footprint${process.env.BENCH_LABEL ? `-${process.env.BENCH_LABEL}` : ''}`, result);
console.log(JSON.stringify(result.rangesBySubject ?? result.ranges, null, 2));
console.log(`written to ${file}`);
process.exit(0);
