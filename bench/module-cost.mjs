// What each dependency costs in resident memory (issue 11): every module measured in a fresh process started as
// `npm start` starts the service (`node --max-semi-space-size=1`), RSS after import and two full GCs, minus the
// same process's RSS before it. "alone" is a module by itself; "in the service" is how much less the service's
// idle set of packages weighs without it (leave one out: what dropping it would save). Then the built service
// itself at idle per runner and transport, and a few single operations (the first fetch, a TLS context).
// Usage: npm run build && node bench/module-cost.mjs   (KUBECONFIG set: also the Kubernetes runner)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  START_FLAGS,
  keptnApiArgs,
  loadKeptnDouble,
  machine,
  memoryMb,
  startService,
  writeResult,
} from './footprint.mjs';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** RSS and peak (MB) after running `body` (an async function's text) in a fresh process, less before it. */
function measure(body) {
  const script = `
    const { readFileSync } = await import('node:fs');
    const kb = (n) => Number(new RegExp(n + ':\\\\s+(\\\\d+)').exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    gc(); gc();
    const before = kb('VmRSS');
    ${body}
    await new Promise((r) => setTimeout(r, 300));
    gc(); gc();
    process.stdout.write(JSON.stringify({ before, after: kb('VmRSS'), hwm: kb('VmHWM') }));
  `;
  const runs = [];
  for (let i = 0; i < REPEAT; i++) {
    const out = execFileSync(process.execPath, [...START_FLAGS, '--expose-gc', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      encoding: 'utf8',
    });
    runs.push(JSON.parse(out));
  }
  return {
    rssMb: +median(runs.map((r) => r.after - r.before)).toFixed(1),
    peakMb: +median(runs.map((r) => r.hwm - r.before)).toFixed(1),
    baseMb: +median(runs.map((r) => r.before)).toFixed(1),
  };
}

const importAll = (specs) => specs.map((s) => `await import(${JSON.stringify(s)});`).join('\n');
const deps = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).dependencies);
// What `serve` loads at idle, as it loads them (the rest on use: js-yaml, jsonpath-plus, pino-pretty, nats,
// the Kubernetes client). Handlebars is its single-file build (src/render/handlebars-lib.ts).
const IDLE = ['handlebars/dist/handlebars.min.js', 'pino', 'yaml', 'zod'];
const KUBE = path.resolve('node_modules/@kubernetes/client-node/dist');

const result = {
  date: new Date().toISOString(),
  machine: machine(),
  nodeFlags: START_FLAGS,
  repeat: REPEAT,
  bare: measure(''),
  alone: {},
  inService: {},
  operations: {},
  service: {},
};

for (const d of deps) result.alone[d] = measure(importAll([d]));
result.alone['handlebars/dist/handlebars.min.js (the build the service loads)'] = measure(
  importAll(['handlebars/dist/handlebars.min.js']),
);
result.alone['@kubernetes/client-node (index: every API and model)'] = measure(
  importAll([pathToFileURL(`${KUBE}/index.js`).href]),
);
result.alone['client-node config.js (its KubeConfig)'] = measure(importAll([pathToFileURL(`${KUBE}/config.js`).href]));
result.alone['the runner (dist/src/runners/kubernetes/*: own client, config_types, exec/file auth)'] = measure(
  importAll(
    ['kube-client.js', 'kubernetes-runner.js', 'claims.js'].map(
      (f) => pathToFileURL(path.resolve('dist/src/runners/kubernetes', f)).href,
    ),
  ),
);

const all = measure(importAll(IDLE));
result.inService['all idle packages together'] = all;
for (const d of IDLE) {
  const without = measure(importAll(IDLE.filter((x) => x !== d)));
  result.inService[d] = { savedRssMb: +(all.rssMb - without.rssMb).toFixed(1) };
}

result.operations['first fetch() (undici, its llhttp WebAssembly)'] = measure(`
  const http = await import('node:http');
  const s = http.createServer((q, r) => r.end('{}'));
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const u = 'http://127.0.0.1:' + s.address().port;
  for (let i = 0; i < 20; i++) await (await fetch(u)).text();
  s.close();`);
result.operations['20 requests with node:http (keep-alive)'] = measure(`
  const http = await import('node:http');
  const s = http.createServer((q, r) => r.end('{}'));
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const agent = new http.Agent({ keepAlive: true });
  for (let i = 0; i < 20; i++) await new Promise((r) => http.get('http://127.0.0.1:' + s.address().port, { agent }, (res) => { res.resume(); res.on('end', r); }));
  agent.destroy(); s.close();`);
result.operations["TLS context with Node's root CAs"] = measure(`(await import('node:tls')).createSecureContext({});`);
result.operations['Intl.DateTimeFormat (ICU data)'] = measure(`new Intl.DateTimeFormat().format(new Date());`);
result.operations['String.prototype.localeCompare (ICU collation)'] = measure(`'a'.localeCompare('b');`);

/** The built service at idle, 4 s after it was started: VmRSS and VmHWM. */
async function idle(name, args, env = {}) {
  const svc = await startService(['--log-level', 'warn', '--allowed-images', 'alpine', ...args], {
    env,
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, Math.max(0, 4000 - (performance.now() - svc.spawnedAt))));
  result.service[name] = memoryMb(svc.pid);
  await svc.stop();
}

const KeptnDouble = await loadKeptnDouble();
const double = await new KeptnDouble({ token: 't' }).start();
double.addResource({ project: 'p', stage: 's', service: 'v' }, 'job/config.yaml', 'apiVersion: v2\nactions: []\n');
const cfg = path.resolve('job-config');
const keptnApi = keptnApiArgs(double);
await idle('local runner, http transport', ['--config', cfg]);
await idle('local runner, keptn-api transport', keptnApi);
if (process.env.KUBECONFIG) {
  const kubeconfig = process.env.TESTENV_AUDITED_KUBECONFIG ?? process.env.KUBECONFIG;
  await idle('kubernetes runner, http transport', ['--runner', 'kubernetes', '--config', cfg], {
    KUBECONFIG: kubeconfig,
  });
  await idle('kubernetes runner, keptn-api transport', ['--runner', 'kubernetes', ...keptnApi], {
    KUBECONFIG: kubeconfig,
  });
}
await double.stop();

const file = writeResult('module-cost', result);
const rows = (o) =>
  Object.entries(o)
    .map(([k, v]) => `| ${k} | ${v.rssMb ?? v.savedRssMb ?? v.rss} | ${v.peakMb ?? v.hwm ?? ''} |`)
    .join('\n');
console.log(
  `bare Node.js: ${result.bare.baseMb} MB\n\n| module alone | +RSS MB | +peak MB |\n| --- | --- | --- |\n${rows(result.alone)}\n\n| left out of the idle set | saves RSS MB | |\n| --- | --- | --- |\n${rows(result.inService)}\n\n| operation | +RSS MB | +peak MB |\n| --- | --- | --- |\n${rows(result.operations)}\n\n| service at idle | RSS MB | peak MB |\n| --- | --- | --- |\n${rows(result.service)}`,
);
console.log(`written to ${file}`);
process.exit(0);
