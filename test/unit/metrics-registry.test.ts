import { describe, expect, it } from 'vitest';
import { processMetrics } from '../../src/metrics/process-metrics.js';
import { CONTENT_TYPE, Counter, Gauge, Histogram, Registry } from '../../src/metrics/registry.js';
import { parseMetrics } from '../helpers/metrics.js';

/**
 * The text format as Prometheus reads it (exposition format 0.0.4): `# HELP` and `# TYPE` once per metric,
 * before its samples; each sample `name{label="value",...} number`.
 */
function checkExposition(text: string): void {
  const sampleLine =
    /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? (NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/;
  const typed = new Map<string, string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(typed.has(meta[2] as string), `${meta[2]} typed twice`).toBe(false);
        typed.set(meta[2] as string, meta[3] as string);
      }
      continue;
    }
    expect(line).toMatch(sampleLine);
    const name = line.split(/[{ ]/)[0] as string;
    const family = typed.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    expect(typed.get(family), `${name} has no # TYPE before it`).toBeDefined();
  }
}

describe('metrics registry', () => {
  it('writes counters, gauges and histograms in the text format, labels in their declared order', async () => {
    const registry = new Registry();
    const registers = [registry];
    const plain = new Counter({ name: 'x_events_total', help: 'Events', registers });
    const byReason = new Counter<'reason' | 'kind'>({
      name: 'x_rejected_total',
      help: 'Rejected\nby reason',
      labelNames: ['reason', 'kind'],
      registers,
    });
    let depth = 3;
    new Gauge({ name: 'x_depth', help: 'Depth', registers, collect: () => depth });
    const duration = new Histogram<'outcome'>({
      name: 'x_duration_seconds',
      help: 'Duration',
      labelNames: ['outcome'],
      buckets: [1, 0.1, 5],
      registers,
    });
    plain.inc();
    plain.inc({}, 2);
    byReason.inc({ kind: 'a', reason: 'too "big"\\' });
    byReason.inc({ reason: 'queue_full' }, 0);
    duration.observe({ outcome: 'ok' }, 0.05);
    duration.observe({ outcome: 'ok' }, 2);
    duration.observe({ outcome: 'ok' }, 10);
    depth = 4;

    const text = await registry.metrics();
    checkExposition(text);
    expect(text).toBe(
      [
        '# HELP x_events_total Events',
        '# TYPE x_events_total counter',
        'x_events_total 3',
        '',
        '# HELP x_rejected_total Rejected\\nby reason',
        '# TYPE x_rejected_total counter',
        'x_rejected_total{reason="too \\"big\\"\\\\",kind="a"} 1',
        'x_rejected_total{reason="queue_full"} 0',
        '',
        '# HELP x_depth Depth',
        '# TYPE x_depth gauge',
        'x_depth 4',
        '',
        '# HELP x_duration_seconds Duration',
        '# TYPE x_duration_seconds histogram',
        'x_duration_seconds_bucket{le="0.1",outcome="ok"} 1',
        'x_duration_seconds_bucket{le="1",outcome="ok"} 1',
        'x_duration_seconds_bucket{le="5",outcome="ok"} 2',
        'x_duration_seconds_bucket{le="+Inf",outcome="ok"} 3',
        'x_duration_seconds_sum{outcome="ok"} 12.05',
        'x_duration_seconds_count{outcome="ok"} 3',
        '',
      ].join('\n'),
    );
    expect(registry.contentType).toBe(CONTENT_TYPE);
  });

  it('refuses to count down', () => {
    const c = new Counter({ name: 'x_total', help: 'x' });
    expect(() => c.inc({}, -1)).toThrow(/only goes up/);
    expect(() => c.inc({}, Number.NaN)).toThrow(/only goes up/);
  });

  it('reads the process figures when scraped, under the names prom-client gave them', async () => {
    const registry = new Registry();
    registry.register(processMetrics('p_'));
    const text = await registry.metrics();
    checkExposition(text);
    const m = parseMetrics(text);
    const cpu = process.cpuUsage();
    expect(m.get('p_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(m.get('p_process_cpu_seconds_total')).toBeLessThanOrEqual((cpu.user + cpu.system) / 1e6);
    // Resident memory as the kernel counts it, within what this process has at most had.
    const hwm =
      Number(
        /VmHWM:\s+(\d+)/.exec(await import('node:fs').then((fs) => fs.readFileSync('/proc/self/status', 'utf8')))?.[1],
      ) * 1024;
    expect(m.get('p_process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(m.get('p_process_resident_memory_bytes')).toBeLessThanOrEqual(hwm);
    expect(m.get('p_process_open_fds')).toBeGreaterThan(2);
    expect(m.get('p_process_start_time_seconds')).toBeCloseTo(Date.now() / 1000 - process.uptime(), -1);
    expect(m.get('p_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(m.get('p_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    const [major] = process.versions.node.split('.');
    expect(
      m.get(
        `p_nodejs_version_info{version="${process.version}",major="${major}",minor="${process.versions.node.split('.')[1]}",patch="${process.versions.node.split('.')[2]}"}`,
      ),
    ).toBe(1);
  });
});
