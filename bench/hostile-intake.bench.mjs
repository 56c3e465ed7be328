// Hostile intake benchmark (issue 10, defect 2): the built service in its own process, a config that matches
// every event below with a trivial task, and three loads over loopback, one after the other:
//   A. 1000 events whose string attributes are all at their refusal limit (id and shkeptncontext 256
//      characters, source 512, gitcommitid 128): taken, run, answered, remembered by the dedup window;
//   B. 1000 events whose id is near the body limit (1 MB): refused with 400 naming `id` (before the fix these
//      were remembered and logged several times each, and the heap reached 4 GB);
//   C. 1000 events with valid ids and data near the body limit: taken and run; what the run store and the
//      dedup window keep of them is the executor's business (bounded in bytes there).
// Resident memory (VmRSS) of the service is sampled every 50 ms; VmHWM (the kernel's peak) is read at the end.
// Usage: npm run build --silent && node bench/hostile-intake.bench.mjs
//   (writes bench/results/hostile-intake-<date>.json and prints it). BENCH_EVENTS (per load, 1000), BENCH_PARALLEL
//   (16), BENCH_LOG_LEVEL (info), BENCH_LOADS (comma-separated subset), BENCH_SERVICE_FLAGS (extra flags for serve).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { NODE_FLAGS, configDir, machine, startReceiver, startService, writeResult } from './footprint.mjs';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1000);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 16);
const BODY_LIMIT = 1024 * 1024; // the default JOB_EXECUTOR_BODY_LIMIT, 1mb
const TARGET_MB = 200;
// The limits of src/keptn/event-limits.ts.
const LIMITS = { id: 256, shkeptncontext: 256, source: 512, gitcommitid: 128 };

const CONFIG = `apiVersion: v2
actions:
  - name: trivial
    events: [{ name: "sh.keptn.event.hostile.triggered" }]
    tasks: [{ name: "true", image: "alpine", cmd: ["true"] }]
`;

const pad = (prefix, length) => prefix.padEnd(length, 'x');

function event({
  id,
  shkeptncontext = '11111111-2222-4333-8444-555555555555',
  source = 'bench',
  gitcommitid,
  data = {},
}) {
  return JSON.stringify({
    specversion: '1.0',
    id,
    source,
    type: 'sh.keptn.event.hostile.triggered',
    shkeptncontext,
    ...(gitcommitid ? { gitcommitid } : {}),
    datacontenttype: 'application/json',
    data: { project: 'bench', stage: 'dev', service: 'svc', ...data },
  });
}

const LOADS = {
  // Every remembered attribute at its limit; unique per event so none is a duplicate.
  atLimit: (i) =>
    event({
      id: pad(`a${i}-`, LIMITS.id),
      shkeptncontext: pad(`c${i}-`, LIMITS.shkeptncontext),
      source: pad(`s${i}-`, LIMITS.source),
      gitcommitid: pad(`g${i}-`, LIMITS.gitcommitid),
    }),
  // The id fills the body up to 1 KB under the limit.
  idNearBodyLimit: (i) => event({ id: pad(`b${i}-`, BODY_LIMIT - 1024) }),
  // A valid id, the data fills the body up to 1 KB under the limit.
  dataNearBodyLimit: (i) => event({ id: `d-${process.pid}-${i}`, data: { pad: pad(`${i}`, BODY_LIMIT - 1024) } }),
};

/** The service's `field` of /proc/<pid>/status (VmRSS, VmHWM) in MB; 0 once it has exited. */
function statusMb(pid, field) {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The peak sampled since the last call. */
function takePeakMb(svc) {
  const p = Math.max(svc.peakRssMb(), statusMb(svc.pid, 'VmRSS'));
  svc.resetPeakRss();
  return p;
}

/** Posts `count` bodies from `make`, PARALLEL at a time; returns the status codes seen and the time taken. */
async function load(target, make, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL });
  const codes = {};
  const messages = new Set();
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count) {
      const body = make(next++);
      const { status, text } = await new Promise((resolve) => {
        const req = http.request(
          target,
          { method: 'POST', agent, headers: { 'content-type': 'application/cloudevents+json' } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode, text }));
          },
        );
        req.on('error', (e) => resolve({ status: `error ${e.code ?? e.message}`, text: '' }));
        req.end(body);
      });
      codes[status] = (codes[status] ?? 0) + 1;
      if (status >= 400 && messages.size < 3) messages.add(text.slice(0, 200));
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  agent.destroy();
  return {
    events: count,
    httpStatus: codes,
    seconds: +((performance.now() - t0) / 1000).toFixed(2),
    refusals: [...messages],
  };
}

async function main() {
  const receiver = await startReceiver();
  const svc = await startService(
    [
      '--config',
      configDir(CONFIG, 'je-hostile-bench-'),
      '--allowed-images',
      'alpine:*',
      '--sink',
      `http:${receiver.url}`,
      '--log-level',
      process.env.BENCH_LOG_LEVEL ?? 'info',
      '--concurrency',
      '16',
      '--queue-size',
      '5000',
      '--dedup-window',
      '600',
      ...(process.env.BENCH_SERVICE_FLAGS ?? '').split(' ').filter(Boolean),
    ],
    // The log goes nowhere, but is written: logging each refusal is part of what is measured.
    { stdio: ['ignore', 'ignore', 'ignore'], rssSampleMs: 50 },
  );
  const target = `${svc.url}/`;
  const idleMb = takePeakMb(svc);
  const phases = {};
  const chosen = (process.env.BENCH_LOADS ?? Object.keys(LOADS).join(',')).split(',');
  for (const [name, make] of Object.entries(LOADS).filter(([n]) => chosen.includes(n))) {
    const before = receiver.counts().finished;
    const result = await load(target, make, EVENTS);
    const accepted = result.httpStatus[202] ?? 0;
    // Let the runs of this phase finish, so its memory includes what they leave behind.
    for (let w = 0; w < 600 && receiver.counts().finished - before < accepted; w++)
      await new Promise((r) => setTimeout(r, 100));
    phases[name] = {
      ...result,
      finishedReceived: receiver.counts().finished - before,
      peakRssMb: Math.round(takePeakMb(svc)),
      rssAfterMb: Math.round(statusMb(svc.pid, 'VmRSS')),
    };
  }
  const alive = await fetch(`${svc.url}/healthz`).then(
    (r) => r.ok,
    () => false,
  );
  const result = {
    date: new Date().toISOString(),
    nodeFlags: NODE_FLAGS,
    machine: machine(),
    settings: {
      bodyLimitBytes: BODY_LIMIT,
      parallel: PARALLEL,
      logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
      serviceFlags: process.env.BENCH_SERVICE_FLAGS ?? '',
      limits: LIMITS,
    },
    idleRssMb: Math.round(idleMb),
    phases,
    // The kernel's peak resident set over the whole run.
    vmHwmMb: Math.round(statusMb(svc.pid, 'VmHWM')),
    aliveAtEnd: alive && svc.exited() === null,
    targetMb: TARGET_MB,
  };
  // The target is for the two loads of defect 2; the third shows what the executor keeps of big events.
  const hostilePeak = Math.max(phases.atLimit?.peakRssMb ?? 0, phases.idNearBodyLimit?.peakRssMb ?? 0);
  result.verdict = {
    atLimitAndIdNearBodyLimitPeakRssMb: hostilePeak,
    met:
      result.aliveAtEnd &&
      hostilePeak < TARGET_MB &&
      (!phases.idNearBodyLimit || phases.idNearBodyLimit.httpStatus[400] === EVENTS),
  };
  await svc.stop();
  receiver.close();
  writeResult('hostile-intake', result);
  console.log(JSON.stringify(result, null, 2));
  console.log(result.verdict.met ? 'target met' : 'TARGET MISSED');
}

await main();
