// Footprint harness (issue 11), shared by bench/kubernetes.bench.mjs and bench/intake.bench.mjs: a burst of
// task .triggered events offered by the Keptn control-plane double (test/fixtures/keptn-double.ts) to the built
// service, which runs as its own process exactly as `npm start` starts it and takes the events through the
// Keptn API transport (as JES 0.3.0 does: register, poll, answer through the API) with its config from the
// double's resource service. Per run it records:
//   - per event: offered → `.started`, offered → `.finished` (and, given a Job observer, offered → Job created
//     and Job Complete → `.finished`), with the double's own clock;
//   - CPU seconds of the service process (utime + stime from /proc/<pid>/stat) from the first event offered to
//     the last one answered, and over the process lifetime;
//   - peak RSS (VmHWM from /proc/<pid>/status), read after the last answer;
//   - Keptn API requests the service made (the double's request log);
//   - with `audit`, kube-apiserver requests by verb and resource, counted from the test control plane's audit
//     log (scripts/testenv: only the user `audited` is logged, and the service runs with its kubeconfig).
// startService starts the service for these runs and for the intake and big-log benchmarks, so that every one
// measures it as `npm start` runs it.
import { spawn } from 'node:child_process';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  openSync,
  readSync,
  fstatSync,
  closeSync,
  mkdirSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const BIN = path.resolve('dist/src/cli/main.js');
/** The service is measured as `npm start` runs it: the same Node flags. */
export const START_FLAGS = (
  /node (.*?)dist\/src\/cli\/main\.js/.exec(JSON.parse(readFileSync('package.json', 'utf8')).scripts.start)?.[1] ?? ''
)
  .split(' ')
  .filter(Boolean);
/** The flags the service is started with: START_FLAGS and, for experiments, BENCH_NODE_FLAGS (recorded with results). */
export const NODE_FLAGS = [...START_FLAGS, ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
/** USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux architecture Node runs on. */
const CLK_TCK = 100;

/** The service's flags for the Keptn double: the Keptn API transport, the config from the double's resources. */
export const keptnApiArgs = (double) => [
  '--transport',
  'keptn-api',
  '--config-source',
  'keptn',
  '--keptn-api-endpoint',
  double.api,
  '--keptn-api-token',
  double.token,
];

/** startService's `ready` with the Keptn API transport: the service has polled the double. */
export const pollingReady = (double) => ({
  what: 'the service to register and poll',
  test: () => double.requests.some((r) => r.method === 'GET' && r.url.includes('/event/triggered/')),
});

/** A config folder as the service reads it (`--config`): `job/config.yaml` holding `yaml`. */
export function configDir(yaml, prefix = 'je-bench-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  mkdirSync(path.join(dir, 'job'));
  writeFileSync(path.join(dir, 'job', 'config.yaml'), yaml);
  return dir;
}

/**
 * A receiver for the service's `http:` sink in binary mode (the attributes in `ce-*` headers, the data as the
 * body). `startedAt`: performance.now() of each `.started`, by triggeredid; `counts()`: answers of each kind so
 * far; `finished(id)`: resolves with { at: Date.now(), data } of that run's `.finished` (only those bodies are
 * read; the others are let go unread).
 */
export function startReceiver() {
  const startedAt = new Map();
  const waiting = new Map();
  let started = 0;
  let finished = 0;
  const server = http.createServer((req, res) => {
    const type = req.headers['ce-type'];
    const id = req.headers['ce-triggeredid'];
    const waiter = type?.endsWith('.finished') ? waiting.get(id) : undefined;
    let body = '';
    if (waiter) {
      req.setEncoding('utf8');
      req.on('data', (d) => (body += d));
    } else req.resume();
    req.on('end', () => {
      if (type?.endsWith('.started')) {
        started++;
        startedAt.set(id, performance.now());
      } else if (type?.endsWith('.finished')) {
        finished++;
        waiter?.({ at: Date.now(), data: JSON.parse(body) });
      }
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}/`,
        startedAt,
        counts: () => ({ started, finished }),
        finished: (runId) => new Promise((r) => waiting.set(runId, r)),
        close: () => server.close(),
      }),
    ),
  );
}

/** The Keptn double, compiled from its TypeScript source (it imports only node: modules). */
export async function loadKeptnDouble() {
  // Loaded here, not at the top: the benchmarks that only need startService need no compiler.
  const { default: ts } = await import('typescript');
  const source = readFileSync('test/fixtures/keptn-double.ts', 'utf8');
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'je-footprint-'));
  const file = path.join(dir, 'keptn-double.mjs');
  writeFileSync(file, js);
  return (await import(pathToFileURL(file).href)).KeptnDouble;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** utime + stime of a process, in seconds (`which`: only one of them). */
export function cpuSeconds(pid, which = 'both') {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return (which === 'user' ? user : which === 'system' ? system : user + system) / CLK_TCK;
}

/** VmHWM and VmRSS of a process, in MB. */
export function memoryMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { hwm: +(kb('VmHWM') / 1024).toFixed(1), rss: +(kb('VmRSS') / 1024).toFixed(1) };
}

export const percentile = (values, p) => {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return +sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))].toFixed(1);
};
export const summary = (values) => ({
  samples: values.filter((v) => Number.isFinite(v)).length,
  p50: percentile(values, 50),
  p90: percentile(values, 90),
  max: percentile(values, 100),
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, test, timeoutMs, everyMs = 20) {
  const until = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Starts the built service as `npm start` runs it (START_FLAGS, then BENCH_NODE_FLAGS), with
 * `serve --port <port> ...args`, and resolves once it is ready:
 *   - `ready: 'healthz'` (the default): GET /healthz answers 2xx, tried 200 times 50 ms apart, then on regardless;
 *   - `ready: { what, test, timeoutMs = 60_000 }`: `test()` holds (tried every 20 ms); past the timeout the service
 *     is killed and the wait throws.
 * `bin` (default BIN, the built service) is the script started in its place, e.g. bench/floor-client.mjs.
 * `port` defaults to a free one; `env` is laid over this process's environment; `stdio` defaults to the
 * service's stdout and stderr on ours. With `rssSampleMs`, VmRSS is sampled that often from ready on: the
 * kernel's VmHWM cannot be reset, so a peak per phase has to be sampled (`peakRssMb()`, `resetPeakRss()`).
 * Returns { child, pid, port, url (no trailing slash), spawnedAt (performance.now() just before the spawn),
 * exited() (null, or { code, signal }), peakRssMb(), resetPeakRss(), stop() }; `stop()` sends SIGTERM unless the
 * service has exited already and resolves with its { code, signal }.
 */
export async function startService(
  args,
  { bin = BIN, port, env = {}, stdio = ['ignore', 'inherit', 'inherit'], ready = 'healthz', rssSampleMs } = {},
) {
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [
      // BENCH_NODE_FLAGS e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to see where the CPU goes (not for figures)
      ...NODE_FLAGS,
      bin,
      'serve',
      '--port',
      String(port),
      // A journal of its own unless the caller gives one: the default directory outlives the run, and a
      // benchmark that offers the same event ids again would find them taken by the last run.
      ...(args.includes('--work-dir') ? [] : ['--work-dir', mkdtempSync(path.join(os.tmpdir(), 'je-bench-work-'))]),
      ...args,
    ],
    { stdio, env: { ...process.env, ...env } },
  );
  let exit = null;
  const exitPromise = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve((exit = { code, signal }))),
  );
  if (ready === 'healthz') {
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await sleep(50);
    }
  } else {
    try {
      await waitFor(ready.what, ready.test, ready.timeoutMs ?? 60_000);
    } catch (e) {
      child.kill('SIGKILL');
      await exitPromise;
      throw e;
    }
  }
  let peakKb = 0;
  const sampler =
    rssSampleMs &&
    setInterval(() => {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
        peakKb = Math.max(peakKb, kb);
      } catch {
        /* exited */
      }
    }, rssSampleMs);
  return {
    child,
    pid: child.pid,
    port,
    url,
    spawnedAt,
    exited: () => exit,
    peakRssMb: () => peakKb / 1024,
    resetPeakRss: () => {
      peakKb = 0;
    },
    stop: () => {
      clearInterval(sampler);
      if (exit === null) child.kill('SIGTERM');
      return exitPromise;
    },
  };
}

/** Reads the audit log from `offset` on: one record per request (auditID), the last stage seen. */
export function auditRequests(file, offset) {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    const byId = new Map();
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      const e = JSON.parse(line);
      byId.set(e.auditID, e);
    }
    return [...byId.values()];
  } finally {
    closeSync(fd);
  }
}

export function fileSize(file) {
  const fd = openSync(file, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/** `verb resource[/subresource]` → count, plus the total. */
export function countByVerb(requests) {
  const out = {};
  for (const e of requests) {
    const r = e.objectRef
      ? `${e.objectRef.resource}${e.objectRef.subresource ? `/${e.objectRef.subresource}` : ''}`
      : e.requestURI;
    const key = `${e.verb} ${r}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * One run: starts the double and the service, waits until the service polls, offers `events` task events at
 * once, waits for every `.finished`, reads the process figures, stops the service (SIGTERM) and the double.
 * `observer` (optional) is told when events are offered and may add per-event times (Job created, Complete).
 * `bin` (optional) runs another script in the service's place (startService). `phaseEvents` (optional): after
 * the burst's figures are read, that many single events one after another, each offered at a random point of
 * the poll interval (`pollIntervalMs`, 1000 by default): `singleEventsOfferedToStartedMs`.
 */
export async function burstRun(o) {
  const KeptnDouble = o.KeptnDouble ?? (await loadKeptnDouble());
  const double = await new KeptnDouble({ token: 'bench-token' }).start();
  const scope = { project: 'bench', stage: 'dev', service: 'svc' };
  double.addResource(scope, 'job/config.yaml', o.config);
  const type = o.type ?? 'sh.keptn.event.action.triggered';

  const offeredAt = new Map();
  const startedAt = new Map();
  const finishedAt = new Map();
  let lastAnswer;
  let cpuAtLastAnswer;
  let systemAtLastAnswer;
  let svc;
  // The single events offered after the burst (`phaseEvents`), each at its own point of the poll interval.
  const phaseOfferedAt = new Map();
  const phaseStartedAt = new Map();
  const phaseFinishedAt = new Map();
  // Every answer as the double's controller sees it, with this process's clock.
  const process0 = double.process.bind(double);
  double.process = (event) => {
    const now = performance.now();
    if (event.triggeredid && phaseOfferedAt.has(event.triggeredid)) {
      const at = event.type.endsWith('.started') ? phaseStartedAt : phaseFinishedAt;
      if (!at.has(event.triggeredid)) at.set(event.triggeredid, now);
    }
    if (event.triggeredid && offeredAt.has(event.triggeredid)) {
      if (event.type.endsWith('.started') && !startedAt.has(event.triggeredid)) startedAt.set(event.triggeredid, now);
      if (event.type.endsWith('.finished') && !finishedAt.has(event.triggeredid)) {
        finishedAt.set(event.triggeredid, now);
        if (finishedAt.size === offeredAt.size) {
          lastAnswer = now;
          cpuAtLastAnswer = cpuSeconds(svc.pid);
          systemAtLastAnswer = cpuSeconds(svc.pid, 'system');
        }
      }
    }
    process0(event);
  };

  // When each event was first handed out by a poll: offered → polled is the poll interval's share of the wait.
  const polledAt = new Map();
  const poll0 = double.poll.bind(double);
  double.poll = (pollType, query, send, error) =>
    poll0(
      pollType,
      query,
      (status, body) => {
        const now = performance.now();
        for (const e of body?.events ?? []) if (offeredAt.has(e.id) && !polledAt.has(e.id)) polledAt.set(e.id, now);
        send(status, body);
      },
      error,
    );

  const workDir = mkdtempSync(path.join(os.tmpdir(), 'je-footprint-work-'));
  const auditOffset = o.audit ? fileSize(o.audit.log) : 0;
  try {
    svc = await startService(
      [
        ...keptnApiArgs(double),
        '--allowed-images',
        'alpine',
        '--log-level',
        'warn',
        '--work-dir',
        workDir,
        ...(o.args ?? []),
      ],
      { bin: o.bin, env: o.env, ready: pollingReady(double) },
    );
    const readyAt = performance.now();
    await o.observer?.ready?.();
    const keptnRequestsBefore = double.requests.length;
    const cpuAtOffer = cpuSeconds(svc.pid);
    const systemAtOffer = cpuSeconds(svc.pid, 'system');
    const t0 = performance.now();
    // BENCH_RSS_TRACE=1: resident memory every 20 ms (anonymous and file-backed), to see when the peak comes.
    const trace = [];
    const tracer = process.env.BENCH_RSS_TRACE
      ? setInterval(() => {
          try {
            const st = readFileSync(`/proc/${svc.pid}/status`, 'utf8');
            const kb = (n) => Number(new RegExp(`${n}:\\s+(\\d+)`).exec(st)?.[1] ?? 0);
            trace.push([
              Math.round(performance.now() - t0),
              +(kb('RssAnon') / 1024).toFixed(1),
              +(kb('RssFile') / 1024).toFixed(1),
            ]);
          } catch {
            /* exited */
          }
        }, 20)
      : undefined;
    for (let i = 0; i < o.events; i++) {
      const e = double.trigger(type, { ...scope, bench: { i } });
      offeredAt.set(e.id, performance.now());
    }
    o.observer?.offered?.([...offeredAt.keys()]);
    await waitFor(`${o.events} .finished answers`, () => finishedAt.size === o.events, o.timeoutMs ?? 300_000, 10);
    // Anything the service does right after its last answer (closing a claim) belongs to the run.
    await sleep(o.settleMs ?? 1000);
    clearInterval(tracer);
    const mem = memoryMb(svc.pid);
    const smaps = process.env.BENCH_SMAPS ? smapsSummary(svc.pid) : undefined;
    const threads = process.env.BENCH_THREADS ? threadCpu(svc.pid) : undefined;
    const cpuLifetime = cpuSeconds(svc.pid);
    const keptnRequests = double.requests.length - keptnRequestsBefore;
    /** The service's requests to the API server from its start on (counted at its stop, unless single events follow). */
    const auditedRequests = async () => {
      await o.audit.sentinel();
      const requests = auditRequests(o.audit.log, auditOffset).filter(
        (e) => e.user?.username === 'audited' && !o.audit.isSentinel(e),
      );
      const total = requests.length;
      return { total, perEvent: +(total / o.events).toFixed(2), byVerb: countByVerb(requests) };
    };
    // The single events' requests are not the burst's: counted before them.
    const kubeRequests = o.audit && (o.phaseEvents ?? 0) > 0 ? await auditedRequests() : undefined;
    // The burst's events all wait for one poll, so its offered → `.started` is either about 0 or a whole poll
    // interval. After its figures are read: single events, each offered at a random point of the interval once
    // the one before was answered, whose median is what an event waits on average.
    for (let i = 0; i < (o.phaseEvents ?? 0); i++) {
      await sleep(Math.random() * (o.pollIntervalMs ?? 1000));
      const e = double.trigger(type, { ...scope, bench: { phase: i } });
      phaseOfferedAt.set(e.id, performance.now());
      await waitFor(`the .finished of single event ${i + 1}`, () => phaseFinishedAt.has(e.id), 120_000, 5);
    }
    await o.beforeStop?.(svc.child);
    const exit = await svc.stop();
    const ids = [...offeredAt.keys()];
    const per = (from, to) => ids.map((id) => (to.get(id) ?? NaN) - (from.get(id) ?? NaN));
    const result = {
      events: o.events,
      answered: finishedAt.size,
      statuses: countStatuses(double, ids),
      violations: double.violations.slice(0, 10),
      startupSeconds: +((readyAt - svc.spawnedAt) / 1000).toFixed(2),
      wallSeconds: +((lastAnswer - t0) / 1000).toFixed(2),
      cpuSeconds: {
        runWindow: +(cpuAtLastAnswer - cpuAtOffer).toFixed(2),
        runWindowSystem: +(systemAtLastAnswer - systemAtOffer).toFixed(2),
        lifetime: +cpuLifetime.toFixed(2),
        perEventMs: +(((cpuAtLastAnswer - cpuAtOffer) / o.events) * 1000).toFixed(1),
      },
      peakRssMb: mem.hwm,
      rssAtEndMb: mem.rss,
      ...(smaps ? { smaps } : {}),
      ...(threads ? { threads } : {}),
      ...(tracer ? { rssTrace: trace } : {}),
      keptnApiRequests: keptnRequests,
      offeredToStartedMs: summary(per(offeredAt, startedAt)),
      offeredToPolledMs: summary(per(offeredAt, polledAt)),
      polledToStartedMs: summary(per(polledAt, startedAt)),
      offeredToFinishedMs: summary(per(offeredAt, finishedAt)),
      ...(phaseOfferedAt.size > 0
        ? {
            singleEventsOfferedToStartedMs: summary(
              [...phaseOfferedAt].map(([id, at]) => (phaseStartedAt.get(id) ?? NaN) - at),
            ),
          }
        : {}),
      exit,
    };
    if (o.observer?.times) Object.assign(result, o.observer.times({ offeredAt, finishedAt }));
    if (o.audit) result.kubeApiRequests = kubeRequests ?? (await auditedRequests());
    return result;
  } finally {
    if (svc?.exited() === null) svc.child.kill('SIGKILL');
    await double.stop();
  }
}

/** CPU seconds by thread name (BENCH_THREADS=1): the main thread, V8's workers, libuv's pool. */
function threadCpu(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    const key = tid === String(pid) ? 'main' : name;
    out[key] = +((out[key] ?? 0) + cpuSeconds(`${pid}/task/${tid}`)).toFixed(2);
  }
  return out;
}

/** Resident memory by kind of mapping (BENCH_SMAPS=1): where the RSS is. */
function smapsSummary(pid) {
  const out = {};
  let current = 'other';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1] || '[anon]';
      current =
        name.includes('/node') || name.endsWith('node') ? '[node binary]' : name.startsWith('/') ? '[files]' : name;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[current] = (out[current] ?? 0) + Number(rss[1]);
  }
  return Object.fromEntries(
    Object.entries(out)
      .map(([k, v]) => [k, +(v / 1024).toFixed(1)])
      .sort((a, b) => b[1] - a[1]),
  );
}

function countStatuses(double, ids) {
  const out = {};
  for (const id of ids) {
    const fin = double.task(id)?.answers.find((a) => a.type.endsWith('.finished'));
    const s = fin ? `${fin.data.status}/${fin.data.result}` : 'none';
    out[s] = (out[s] ?? 0) + 1;
  }
  return out;
}

export function machine() {
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

export function writeResult(name, result) {
  mkdirSync('bench/results', { recursive: true });
  // To the second: two runs within a minute must not write over each other.
  const file = `bench/results/${name}-${result.date.slice(0, 19).replace(/:/g, '')}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}
