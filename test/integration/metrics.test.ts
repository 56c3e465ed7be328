import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createService } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { parseMetrics } from '../helpers/metrics.js';
import { answeringTestServer, silentLogger, tempTree } from '../helpers/service.js';

const CONFIG = `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: hello, image: alpine, cmd: [echo, hello] }]
  - events: [{ name: "sh.keptn.event.test.triggered" }]
    tasks: [{ name: broken, image: alpine, cmd: [sh, -c, "echo no; exit 3"] }]
  - events: [{ name: "sh.keptn.event.slow.triggered" }]
    tasks: [{ name: slow, image: alpine, cmd: [sleep, "0.6"] }]
`;

const event = (type: string, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id: `m-${Math.random().toString(36).slice(2)}`,
  source: 'test',
  type: `sh.keptn.event.${type}.triggered`,
  shkeptncontext: 'ctx-metrics',
  data: { project: 'p', stage: 's', service: 'svc' },
  ...extra,
});

describe('/metrics after a few runs, over a real socket', () => {
  const served = answeringTestServer(async () => ({
    config: await tempTree({ 'job/config.yaml': CONFIG }),
    'allowed-images': 'alpine',
    concurrency: '1',
    'queue-size': '1',
    'body-limit': '2kb',
    'auth-token': 'tok',
  }));

  const { post } = served;
  const scrape = async () => {
    const res = await served.http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(res.text);
  };

  /** Scrapes until the values of `want` are there (vi.waitFor rethrows the last mismatch), and returns that scrape. */
  const scrapeUntil = (want: Record<string, number>) =>
    vi.waitFor(
      async () => {
        const m = await scrape();
        expect(Object.fromEntries(Object.keys(want).map((k) => [k, m.get(k)]))).toEqual(want);
        return m;
      },
      { timeout: 10_000 },
    );
  const idle = () => scrapeUntil({ job_executor_runs_in_flight: 0, job_executor_queue_depth: 0 });

  it('starts at zero, with every rejection reason and run outcome already present', async () => {
    const m = await scrape();
    expect(m.get('job_executor_events_received_total')).toBe(0);
    expect(m.get('job_executor_events_rejected_total{reason="queue_full"}')).toBe(0);
    expect(m.get('job_executor_runs_total{outcome="failed"}')).toBe(0);
    expect(m.get('job_executor_queue_depth')).toBe(0);
    // Node's own metrics, with the same prefix.
    expect(m.get('job_executor_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.has('job_executor_nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('counts events, rejections by reason, runs by outcome, task durations and answers', async () => {
    const ok = event('deployment');
    expect((await post(ok)).status).toBe(202);
    expect((await post(ok)).status).toBe(202); // the same event again: a duplicate
    // One slot and one queue place: let each run end before the next, so none is refused here.
    await idle();
    expect((await post(event('deployment'))).status).toBe(202);
    await idle();
    expect((await post(event('test'))).status).toBe(202);
    expect((await post(event('evaluation'))).status).toBe(200); // nothing matches
    expect((await post('{nope')).status).toBe(400);
    expect((await post(event('deployment', { type: 'com.example.other' }))).status).toBe(400);
    expect((await post(event('deployment'), { authorization: 'Bearer wrong' })).status).toBe(401);
    expect(
      (
        await post({
          ...event('deployment'),
          data: { project: 'p', stage: 's', service: 'svc', big: 'x'.repeat(4000) },
        })
      ).status,
    ).toBe(413);

    const m = await scrapeUntil({
      'job_executor_runs_total{outcome="failed"}': 1,
      'job_executor_answers_total{outcome="delivered"}': 6,
    });
    expect(m.get('job_executor_events_received_total')).toBe(9);
    expect(m.get('job_executor_events_matched_total')).toBe(3);
    expect(m.get('job_executor_events_duplicate_total')).toBe(1);
    expect(m.get('job_executor_events_rejected_total{reason="no_match"}')).toBe(1);
    expect(m.get('job_executor_events_rejected_total{reason="event_invalid"}')).toBe(1);
    expect(m.get('job_executor_events_rejected_total{reason="event_not_keptn"}')).toBe(1);
    expect(m.get('job_executor_events_rejected_total{reason="unauthorized"}')).toBe(1);
    expect(m.get('job_executor_events_rejected_total{reason="body_too_large"}')).toBe(1);
    expect(m.get('job_executor_events_rejected_total{reason="queue_full"}')).toBe(0);
    expect(m.get('job_executor_runs_total{outcome="succeeded"}')).toBe(2);
    expect(m.get('job_executor_runs_total{outcome="failed"}')).toBe(1);
    expect(m.get('job_executor_task_duration_seconds_count{outcome="succeeded"}')).toBe(2);
    expect(m.get('job_executor_task_duration_seconds_count{outcome="failed"}')).toBe(1);
    expect(m.get('job_executor_task_duration_seconds_bucket{le="+Inf",outcome="failed"}')).toBe(1);
    expect(m.get('job_executor_run_duration_seconds_count{outcome="succeeded"}')).toBe(2);
    expect(m.get('job_executor_answers_total{outcome="delivered"}')).toBe(6); // .started and .finished for each run
    expect(m.get('job_executor_answers_pending')).toBe(0);
  });

  it('shows the queue and the run in flight while they wait, and counts a full queue', async () => {
    expect((await post(event('slow'))).status).toBe(202);
    expect((await post(event('slow'))).status).toBe(202);
    expect((await post(event('slow'))).status).toBe(503);
    const busy = await scrapeUntil({ job_executor_runs_in_flight: 1, job_executor_queue_depth: 1 });
    expect(busy.get('job_executor_runs_in_flight')).toBe(1);
    expect(busy.get('job_executor_queue_depth')).toBe(1);
    expect(busy.get('job_executor_events_rejected_total{reason="queue_full"}')).toBe(1);
    const idle = await scrapeUntil({
      job_executor_runs_in_flight: 0,
      job_executor_queue_depth: 0,
      'job_executor_runs_total{outcome="succeeded"}': 4,
    });
    expect(idle.get('job_executor_runs_total{outcome="succeeded"}')).toBe(4);
    expect(idle.get('job_executor_task_duration_seconds_sum{outcome="succeeded"}')).toBeGreaterThan(1.2);
  });

  it('keeps its own registry per service: a second service counts from zero', async () => {
    const settings = loadSettings(
      {
        config: await tempTree({ 'job/config.yaml': CONFIG }),
        port: '0',
        'allowed-images': 'alpine',
        // Its own journal: the default work directory may be held by a service someone is running here.
        'work-dir': await mkdtemp(path.join(os.tmpdir(), 'je-work-')),
      },
      {},
    );
    const other = await createService(settings, silentLogger);
    const m = parseMetrics(await other.metrics.text());
    expect(m.get('job_executor_events_received_total')).toBe(0);
    other.metrics.kubernetesApiError('create_job', 409);
    other.metrics.kubernetesApiError('watch');
    const after = parseMetrics(await other.metrics.text());
    expect(after.get('job_executor_kubernetes_api_errors_total{operation="create_job",status="409"}')).toBe(1);
    expect(after.get('job_executor_kubernetes_api_errors_total{operation="watch",status=""}')).toBe(1);
    expect((await scrape()).has('job_executor_kubernetes_api_errors_total{operation="create_job",status="409"}')).toBe(
      false,
    );
    await other.executor.close(100);
  });
});
