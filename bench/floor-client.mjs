// The floor of issue 11's footprint: the least a Node.js process can do and still answer each polled event as
// the service does through the Keptn API transport. With the Kubernetes runner it makes the requests the audit
// log counts for the service (per event: claim ConfigMap create, `.started`, Job create, pod log read, claim
// patch, `.finished`; one list and one watch of Jobs and of pods; six subscriptions polled every second, every
// page); with `--runner local` each task is a child process whose output is read whole. node:http, node:https
// and node:child_process alone: no package, no validation, no templates, no logs, no journal, no retries, no
// bounds. What it leaves out of the service's requests (registration and its heartbeat, the claims' heartbeat,
// the config read) is named in bench/RESULTS.md, "The floor".
//
// bench/kubernetes.bench.mjs (BENCH_SUBJECTS) and bench/intake.bench.mjs (BENCH_FLOOR=1) start it as they start
// the service (`serve --port … --keptn-api-endpoint … --keptn-api-token … [--runner local] [--job-namespace …
// --managed-by …]`, other flags ignored), with FLOOR_KUBE (JSON: { server, caFile, token }) and FLOOR_JOB (a
// file holding a Job the service made in the same repetition, the template of every Job); FLOOR_COMMAND (JSON
// argv, default `["sleep", "1"]`) is the local task. With FLOOR_LIBS=1 it also loads the packages the service
// cannot do without (zod, pino, Handlebars, yaml), to price them apart from everything else.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const PORT = Number(arg('port'));
const API = arg('keptn-api-endpoint');
const TOKEN = arg('keptn-api-token');
const NS = arg('job-namespace');
const LOCAL = arg('runner') === 'local';
const KUBE = JSON.parse(process.env.FLOOR_KUBE ?? '{}');
const JOB = LOCAL ? '' : readFileSync(process.env.FLOOR_JOB ?? '', 'utf8');
/** With `--runner local`: the task each event runs, as a process of its own (JSON argv). */
const COMMAND = JSON.parse(process.env.FLOOR_COMMAND ?? '["sleep", "1"]');
const TOPICS = [
  'sh.keptn.event.deployment.triggered',
  'sh.keptn.event.test.triggered',
  'sh.keptn.event.evaluation.triggered',
  'sh.keptn.event.release.triggered',
  'sh.keptn.event.approval.triggered',
  'sh.keptn.event.action.triggered',
];
const MANAGED_BY = arg('managed-by') ?? NS;
const SELECTOR = `app.kubernetes.io/managed-by=${MANAGED_BY}`;

if (process.env.FLOOR_LIBS === '1') {
  // Loaded as the service loads them; each used once so that its first-use code is compiled too.
  const [{ z }, { default: pino }, yaml] = await Promise.all([import('zod'), import('pino'), import('yaml')]);
  const { createRequire } = await import('node:module');
  const Handlebars = createRequire(import.meta.url)('handlebars/dist/handlebars.min.js');
  z.object({ a: z.string() }).parse({ a: 'x' });
  pino({ level: 'warn' }).info('unused');
  yaml.parse('a: 1');
  Handlebars.compile('{{a}}')({ a: 1 });
}

const kubeAgent = new https.Agent({
  keepAlive: true,
  maxSockets: 8,
  ca: LOCAL ? undefined : readFileSync(KUBE.caFile),
});
const streamAgent = new https.Agent({ keepAlive: false, ca: kubeAgent.options.ca });
const keptnAgent = new http.Agent({ keepAlive: true });

/** One request; resolves with the response body as text (rejects on a status of 400 or more). */
function request(url, { method = 'GET', headers = {}, body, agent }) {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 500) >= 400) reject(new Error(`${method} ${url.pathname}: ${res.statusCode} ${text}`));
        else resolve(text);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const kube = (method, path, body, contentType = 'application/json') =>
  request(new URL(path, KUBE.server), {
    method,
    agent: kubeAgent,
    headers: {
      authorization: `Bearer ${KUBE.token}`,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': contentType }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then((text) => JSON.parse(text));

const keptn = (method, path, body) =>
  request(new URL(`${API}${path}`), {
    method,
    agent: keptnAgent,
    headers: { 'x-token': TOKEN, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then((text) => (text ? JSON.parse(text) : undefined));

/** A cache of one collection: listed, then watched from the list's resourceVersion; `onChange` on each event. */
async function listWatch(collection, cache, onChange) {
  const list = await kube('GET', `${collection}?labelSelector=${encodeURIComponent(SELECTOR)}`);
  for (const o of list.items) cache.set(o.metadata.name, o);
  const url = new URL(
    `${collection}?watch=true&allowWatchBookmarks=true&labelSelector=${encodeURIComponent(SELECTOR)}&resourceVersion=${list.metadata.resourceVersion}`,
    KUBE.server,
  );
  const req = https.request(url, { agent: streamAgent, headers: { authorization: `Bearer ${KUBE.token}` } }, (res) => {
    let pending = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
        const event = JSON.parse(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        if (event.type === 'BOOKMARK') continue;
        if (event.type === 'DELETED') cache.delete(event.object.metadata.name);
        else cache.set(event.object.metadata.name, event.object);
        onChange(event.object);
      }
    });
  });
  req.end();
}

const jobs = new Map();
const pods = new Map();
/** Job name → resolve, for the runs waiting for their Job to complete. */
const waiting = new Map();
const complete = (job) => job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');
if (!LOCAL) {
  await listWatch(`/apis/batch/v1/namespaces/${NS}/jobs`, jobs, (job) => {
    if (complete(job)) waiting.get(job.metadata.name)?.();
  });
  await listWatch(`/api/v1/namespaces/${NS}/pods`, pods, () => {});
}

const answer = (triggered, phase, data) =>
  keptn('POST', '/v1/event', {
    specversion: '1.0',
    id: randomUUID(),
    source: 'job-executor-floor',
    type: triggered.type.replace(/\.triggered$/, `.${phase}`),
    time: new Date().toISOString(),
    contenttype: 'application/json',
    shkeptncontext: triggered.shkeptncontext,
    triggeredid: triggered.id,
    data: {
      project: triggered.data.project,
      stage: triggered.data.stage,
      service: triggered.data.service,
      ...data,
    },
  });

/** The local runner's part: the task as a child process, its output read whole. */
async function runLocal(event) {
  await answer(event, 'started', { status: 'succeeded' });
  const [cmd, ...args] = COMMAND;
  const output = await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    child.once('error', reject);
    child.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  await answer(event, 'finished', { status: 'succeeded', result: 'pass', message: output.slice(0, 100) });
}

let runs = 0;
async function run(event) {
  if (LOCAL) return runLocal(event);
  const n = ++runs;
  const claim = `je-floor-claim-${n}`;
  await kube('POST', `/api/v1/namespaces/${NS}/configmaps`, {
    metadata: { name: claim, labels: { 'app.kubernetes.io/managed-by': MANAGED_BY } },
    data: { event: JSON.stringify(event) },
  });
  await answer(event, 'started', { status: 'succeeded' });
  const job = JSON.parse(JOB);
  job.metadata.name = `je-floor-${n}`;
  job.metadata.namespace = NS;
  job.metadata.labels['app.kubernetes.io/managed-by'] = MANAGED_BY;
  job.spec.template.metadata.labels['app.kubernetes.io/managed-by'] = MANAGED_BY;
  // The benchmark's observer tells the runs apart by this annotation.
  job.metadata.annotations['job-executor.keptn.sh/event-id'] = event.id;
  const done = new Promise((resolve) => waiting.set(job.metadata.name, resolve));
  await kube('POST', `/apis/batch/v1/namespaces/${NS}/jobs`, job);
  await done;
  waiting.delete(job.metadata.name);
  const pod = [...pods.values()].find((p) => p.metadata.labels?.['job-name'] === job.metadata.name);
  const log = pod
    ? await request(new URL(`/api/v1/namespaces/${NS}/pods/${pod.metadata.name}/log?container=task`, KUBE.server), {
        agent: kubeAgent,
        headers: { authorization: `Bearer ${KUBE.token}` },
      })
    : '';
  await kube(
    'PATCH',
    `/api/v1/namespaces/${NS}/configmaps/${claim}`,
    { metadata: { annotations: { 'job-executor.keptn.sh/answered-at': new Date().toISOString() } } },
    'application/merge-patch+json',
  );
  await answer(event, 'finished', { status: 'succeeded', result: 'pass', message: log.slice(0, 100) });
}

const seen = new Set();
async function pollLoop() {
  for (;;) {
    for (const type of TOPICS) {
      // Every page, as the service reads them (Keptn pages at 20 whatever is asked for).
      for (let key = '0', first = true; first || key !== '0'; first = false) {
        const page = await keptn('GET', `/controlPlane/v1/event/triggered/${type}?pageSize=100&nextPageKey=${key}`);
        for (const e of page.events ?? []) {
          if (seen.has(e.id)) continue;
          seen.add(e.id);
          run(e).catch((err) => process.stderr.write(`floor-client: run ${e.id}: ${err.message}\n`));
        }
        key = page.nextPageKey || '0';
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

http.createServer((_req, res) => res.end('ok')).listen(PORT, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
pollLoop().catch((err) => {
  process.stderr.write(`floor-client: polling: ${err.message}\n`);
  process.exit(1);
});
