// Big-log benchmark (issue 10, defect 5): a task printing 200 MB through the local runner of the built
// service, in its own process as `npm start` runs it, answering to an HTTP receiver. Measured per shape of
// output (short lines; one line without a newline):
//   - delay: from the task's exit (it writes the time just before it exits) to the `.finished` received;
//   - CPU seconds of the service and of its launcher process while the task ran (/proc/<pid>/stat), and the
//     service's share of one core over the task's wall time;
//   - the service's peak resident memory (VmRSS sampled every 50 ms).
// Target: answered within a few seconds of the exit, never a timeout.
// Usage: npm run build --silent && node bench/big-log.bench.mjs   (BENCH_MB=200; writes bench/results/big-log-<date>.json)
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configDir, cpuSeconds, machine, startReceiver, startService, writeResult } from './footprint.mjs';

const MB = Number(process.env.BENCH_MB ?? 200);
const BYTES = MB * 1000 * 1000;

const SHAPES = {
  // 100-byte lines: 2 million lines for 200 MB.
  lines: `yes 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' | head -c ${BYTES}`,
  // One line without a newline.
  'one line': `head -c ${BYTES} /dev/zero | tr '\\0' a`,
};

/** One action per shape; each task's last step stamps when it ended into `stamps`. */
function config(stamps) {
  const actions = Object.entries(SHAPES).map(
    ([name, cmd], i) => `  - name: "shape ${i}"
    events: [{ name: "sh.keptn.event.biglog${i}.triggered" }]
    tasks:
      - name: "${name}"
        image: alpine
        maxPollDuration: 600
        cmd: [sh, -c, "${cmd.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}; date +%s%3N > ${stamps}/end-${i}"]`,
  );
  return `apiVersion: v2\nactions:\n${actions.join('\n')}\n`;
}

function event(i) {
  return JSON.stringify({
    specversion: '1.0',
    id: `biglog-${process.pid}-${i}`,
    source: 'bench',
    type: `sh.keptn.event.biglog${i}.triggered`,
    shkeptncontext: '11111111-2222-4333-8444-555555555555',
    datacontenttype: 'application/json',
    data: { project: 'bench', stage: 'dev', service: 'svc' },
  });
}

/** CPU seconds of a process, NaN once it is gone (the launcher may exit between reads). */
function cpuOf(pid) {
  try {
    return cpuSeconds(pid);
  } catch {
    return NaN;
  }
}

function launcherOf(pid) {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('launcher-main')) return Number(name);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

async function main() {
  const stamps = mkdtempSync(path.join(os.tmpdir(), 'je-bench-stamps-'));
  const receiver = await startReceiver();
  const svc = await startService(
    [
      '--config',
      configDir(config(stamps), 'je-bench-biglog-'),
      '--allowed-images',
      'alpine',
      '--sink',
      `http:${receiver.url}`,
      '--log-level',
      'warn',
      '--work-dir',
      mkdtempSync(path.join(os.tmpdir(), 'je-bench-work-')),
    ],
    { rssSampleMs: 50 },
  );

  const results = [];
  for (const [i, shape] of Object.keys(SHAPES).entries()) {
    svc.resetPeakRss();
    const id = `biglog-${process.pid}-${i}`;
    const finished = receiver.finished(id);
    const cpu0 = cpuOf(svc.pid);
    const sent = Date.now();
    await fetch(`${svc.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: event(i),
    });
    // The launcher starts with the first task; its CPU is read before it finishes the next one.
    let launcher;
    let launcherCpu0 = 0;
    while (launcher === undefined && Date.now() - sent < 5000) {
      launcher = launcherOf(svc.pid);
      if (launcher !== undefined) launcherCpu0 = i === 0 ? 0 : cpuOf(launcher);
      else await new Promise((r) => setTimeout(r, 10));
    }
    const { at, data } = await finished;
    const cpu1 = cpuOf(svc.pid);
    const launcherCpu = launcher === undefined ? NaN : cpuOf(launcher) - launcherCpu0;
    const end = Number(readFileSync(path.join(stamps, `end-${i}`), 'utf8'));
    const r = {
      shape,
      mb: MB,
      status: data.status,
      result: data.result,
      taskWallS: (end - sent) / 1000,
      delayAfterExitMs: at - end,
      serviceCpuS: Number((cpu1 - cpu0).toFixed(2)),
      serviceCpuShare: Number(((cpu1 - cpu0) / ((at - sent) / 1000)).toFixed(2)),
      launcherCpuS: Number(launcherCpu.toFixed(2)),
      peakRssMb: Math.round(svc.peakRssMb()),
      messageBytes: Buffer.byteLength(data.message ?? ''),
      // What the answer says about the bytes it does not show.
      cutNote: /\[\.\.\. \d+ bytes [^\]]*\]/.exec(data.message ?? '')?.[0],
    };
    results.push(r);
    console.log(JSON.stringify(r));
  }
  await svc.stop();
  receiver.close();
  const file = writeResult('big-log', { date: new Date().toISOString(), machine: machine(), results });
  console.log(`written ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
