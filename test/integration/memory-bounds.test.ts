import { describe, expect, it } from 'vitest';
import { keptnEvent, tempTree, testService } from '../helpers/service.js';

const config = `apiVersion: v2
actions:
  - name: slow
    events: [{ name: sh.keptn.event.test.triggered }]
    tasks:
      - { name: wait, image: alpine:3, cmd: ["/bin/sleep", "1"] }
`;

describe('what queued runs hold is bounded in bytes', () => {
  it('past --queue-max-bytes, events are refused as a full queue, whatever the count; one always fits', async () => {
    const dir = await tempTree({ 'c.yaml': config });
    const { service } = await testService(`${dir}/c.yaml`, {
      'queue-max-bytes': String(300 * 1024),
      concurrency: '1',
      'queue-size': '1000',
    });
    const big = () => keptnEvent('sh.keptn.event.test.triggered', { blob: 'b'.repeat(100 * 1024) });
    const results = [];
    for (let i = 0; i < 6; i++) results.push((await service.executor.submit(big())).status);
    expect(results.slice(0, 2)).toEqual(['accepted', 'accepted']);
    expect(results.filter((r) => r === 'queue-full').length).toBeGreaterThanOrEqual(3);
    // A small event still fits beside them.
    expect((await service.executor.submit(keptnEvent('sh.keptn.event.test.triggered'))).status).toBe('accepted');
    await service.executor.close(100);
  });

  it('a lone event larger than the budget still runs (the body limit bounds it)', async () => {
    const dir = await tempTree({ 'c.yaml': config });
    const { service } = await testService(`${dir}/c.yaml`, { 'queue-max-bytes': '1024' });
    expect(
      (await service.executor.submit(keptnEvent('sh.keptn.event.test.triggered', { blob: 'x'.repeat(50_000) }))).status,
    ).toBe('accepted');
    await service.executor.close(100);
  });
});
