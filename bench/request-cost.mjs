// What one HTTP request costs a bare Node.js process on this machine (issue 11): the floor under the service's
// CPU per event, which makes about 8 requests per event (4 to the API server, 2 answers and the polls' share
// to Keptn). A server in a child process answers a small JSON body; this process makes keep-alive GETs with
// node:http, nothing else running, and reads its own CPU seconds (utime + stime) around them:
//   - paced: 6 requests a second, one after another, as the Keptn API transport polls its 6 subscriptions;
//   - burst: 50 at once, as the service answers a burst of 50 events.
// Usage: node --max-semi-space-size=1 bench/request-cost.mjs (as the service runs)   (BENCH_SECONDS: length of the paced run, default 20)
import { spawn } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { machine, writeResult } from './footprint.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const cpu = () => {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

const server = spawn(
  process.execPath,
  [
    '-e',
    `const body = JSON.stringify({ events: [], nextPageKey: '0' });
     require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.setHeader('content-type', 'application/json'); s.end(body); }); })
       .listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const get = () =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/api/controlPlane/v1/event/triggered/sh.keptn.event.action.triggered', agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      },
    );
    req.on('error', reject);
    req.end();
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Warm up: connections open, code compiled.
for (let i = 0; i < 50; i++) await get();

let n = 0;
let c0 = cpu();
const until = Date.now() + SECONDS * 1000;
while (Date.now() < until) {
  for (let i = 0; i < 6; i++, n++) await get();
  await sleep(1000);
}
const paced = { requests: n, cpuMsPerRequest: +(((cpu() - c0) * 1000) / n).toFixed(2) };

const bursts = 10;
c0 = cpu();
for (let b = 0; b < bursts; b++) {
  await Promise.all(Array.from({ length: 50 }, get));
  await sleep(1000);
}
const burst = { requests: bursts * 50, cpuMsPerRequest: +(((cpu() - c0) * 1000) / (bursts * 50)).toFixed(2) };

// The same process idle for as long, to take the timer and the event loop's own share out.
c0 = cpu();
await sleep(SECONDS * 1000);
const idleMsPerSecond = +(((cpu() - c0) * 1000) / SECONDS).toFixed(2);

server.kill();
agent.destroy();
const result = {
  date: new Date().toISOString(),
  machine: machine(),
  nodeFlags: process.execArgv,
  paced,
  burst,
  idleMsPerSecond,
};
console.log(JSON.stringify(result, null, 2));
console.log(`written to ${writeResult('request-cost', result)}`);
