// What the Keptn API transport's poll interval costs and buys (issue 11): for each interval, the built service
// (local runner, as `npm start` runs it) registers with the Keptn control-plane double and polls JES's six
// default subscriptions; measured are its CPU per second while idle, and offered → `.started` of single events
// each offered at a random point of the interval once the one before was answered.
//
// Usage: npm run build && node bench/poll-cost.mjs
//   BENCH_INTERVALS (ms, comma-separated; 1000,500,250), BENCH_IDLE_SECONDS (20), BENCH_SINGLE_EVENTS (20).
import {
  cpuSeconds,
  keptnApiArgs,
  loadKeptnDouble,
  machine,
  pollingReady,
  startService,
  summary,
  writeResult,
  NODE_FLAGS,
} from './footprint.mjs';

const INTERVALS = (process.env.BENCH_INTERVALS ?? '1000,500,250').split(',').map(Number);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
const SINGLE_EVENTS = Number(process.env.BENCH_SINGLE_EVENTS ?? 20);
const CONFIG = `apiVersion: v2
actions:
  - name: bench
    events: [{ name: "sh.keptn.event.action.triggered" }]
    tasks: [{ name: "one", image: "alpine", cmd: ["true"] }]
`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(KeptnDouble, intervalMs) {
  const double = await new KeptnDouble({ token: 'bench-token' }).start();
  const scope = { project: 'bench', stage: 'dev', service: 'svc' };
  double.addResource(scope, 'job/config.yaml', CONFIG);
  const offeredAt = new Map();
  const startedAt = new Map();
  const finishedAt = new Set();
  const process0 = double.process.bind(double);
  double.process = (event) => {
    if (event.triggeredid && offeredAt.has(event.triggeredid)) {
      if (event.type.endsWith('.started') && !startedAt.has(event.triggeredid))
        startedAt.set(event.triggeredid, performance.now());
      if (event.type.endsWith('.finished')) finishedAt.add(event.triggeredid);
    }
    process0(event);
  };
  const svc = await startService(
    [
      ...keptnApiArgs(double),
      '--allowed-images',
      'alpine',
      '--log-level',
      'warn',
      '--poll-interval-ms',
      String(intervalMs),
    ],
    { ready: pollingReady(double) },
  );
  try {
    // Settled first: the first seconds hold start-up work (registration, compiling the code paths).
    await sleep(3000);
    const polls0 = double.requests.length;
    const cpu0 = cpuSeconds(svc.pid);
    await sleep(IDLE_SECONDS * 1000);
    const idleCpuMsPerSecond = +(((cpuSeconds(svc.pid) - cpu0) / IDLE_SECONDS) * 1000).toFixed(1);
    const keptnRequestsPerSecond = +((double.requests.length - polls0) / IDLE_SECONDS).toFixed(1);
    for (let i = 0; i < SINGLE_EVENTS; i++) {
      await sleep(Math.random() * intervalMs);
      const e = double.trigger('sh.keptn.event.action.triggered', { ...scope, bench: { i } });
      offeredAt.set(e.id, performance.now());
      const until = Date.now() + 60_000;
      while (!finishedAt.has(e.id)) {
        if (Date.now() > until) throw new Error(`no .finished for single event ${i + 1}`);
        await sleep(5);
      }
    }
    return {
      pollIntervalMs: intervalMs,
      idleCpuMsPerSecond,
      keptnRequestsPerSecond,
      singleEventsOfferedToStartedMs: summary([...offeredAt].map(([id, at]) => (startedAt.get(id) ?? NaN) - at)),
      violations: double.violations.slice(0, 10),
    };
  } finally {
    await svc.stop();
    await double.stop();
  }
}

const KeptnDouble = await loadKeptnDouble();
const runs = [];
for (const intervalMs of INTERVALS) {
  const run = await measure(KeptnDouble, intervalMs);
  runs.push(run);
  console.error(JSON.stringify(run));
}
const file = writeResult('poll-cost', {
  date: new Date().toISOString(),
  machine: machine(),
  nodeFlags: NODE_FLAGS,
  idleSeconds: IDLE_SECONDS,
  singleEvents: SINGLE_EVENTS,
  runs,
});
console.log(`written to ${file}`);
