import { readFile, readdir } from 'node:fs/promises';
import { type Collectable, header, sample } from './registry.js';

/** Of /proc/self/status (Linux), the sizes in bytes; undefined elsewhere. */
async function procStatus(): Promise<{ rss?: number; virtual?: number; data?: number } | undefined> {
  try {
    const text = await readFile('/proc/self/status', 'utf8');
    const kb = (field: string) => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) * 1024 : undefined;
    };
    return { rss: kb('VmRSS'), virtual: kb('VmSize'), data: kb('VmData') };
  } catch {
    return undefined;
  }
}

async function openFds(): Promise<{ open?: number; max?: number }> {
  try {
    // The listing's own descriptor is among the entries.
    const open = (await readdir('/proc/self/fd')).length - 1;
    const limits = await readFile('/proc/self/limits', 'utf8');
    const max = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    return { open, ...(max ? { max: Number(max) } : {}) };
  } catch {
    return {};
  }
}

/** How long a callback queued now waits for the event loop (what prom-client's `eventloop_lag_seconds` was). */
function eventLoopLag(): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
}

/**
 * The process and Node.js figures a dashboard reads, under the names prom-client's default metrics gave them,
 * all read when scraped: nothing runs between scrapes. Left out on purpose: prom-client's event-loop
 * percentiles and GC durations, which need a 10 ms sampling timer and a callback on every collection.
 */
export function processMetrics(prefix: string): Collectable {
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  const [major, minor, patch] = process.versions.node.split('.');
  const gauge = (name: string, help: string, value: number | undefined) =>
    value === undefined ? [] : [`${header(prefix + name, help, 'gauge')}\n${sample(prefix + name, value)}`];
  const counter = (name: string, help: string, value: number) => [
    `${header(prefix + name, help, 'counter')}\n${sample(prefix + name, value)}`,
  ];
  return {
    async collect() {
      const [status, fds, lag] = await Promise.all([procStatus(), openFds(), eventLoopLag()]);
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      return [
        ...counter('process_cpu_user_seconds_total', 'User CPU time spent in seconds.', cpu.user / 1e6),
        ...counter('process_cpu_system_seconds_total', 'System CPU time spent in seconds.', cpu.system / 1e6),
        ...counter(
          'process_cpu_seconds_total',
          'Total user and system CPU time spent in seconds.',
          (cpu.user + cpu.system) / 1e6,
        ),
        ...gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', startTime),
        ...gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', status?.rss ?? memory.rss),
        ...gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.', status?.virtual),
        ...gauge('process_heap_bytes', 'Process heap size in bytes.', status?.data),
        ...gauge('process_open_fds', 'Number of open file descriptors.', fds.open),
        ...gauge('process_max_fds', 'Maximum number of open file descriptors.', fds.max),
        ...gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', lag),
        ...gauge(
          'nodejs_active_resources_total',
          'Number of active resources that are currently keeping the event loop alive.',
          process.getActiveResourcesInfo().length,
        ),
        ...gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', memory.heapTotal),
        ...gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', memory.heapUsed),
        ...gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', memory.external),
        `${header(`${prefix}nodejs_version_info`, 'Node.js version info.', 'gauge')}\n${sample(`${prefix}nodejs_version_info`, 1, { version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' })}`,
      ].join('\n\n');
    },
  };
}
