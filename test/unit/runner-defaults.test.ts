import { describe, expect, it } from 'vitest';
import { loadSettings, settingsMarkdown } from '../../src/settings/settings.js';

/**
 * The concurrency default depends on the runner: local tasks share this machine (4), Kubernetes Jobs run in the
 * cluster, where the service only follows them (64). What a user sets wins either way.
 */
describe('default concurrency per runner', () => {
  it('4 with the local runner, 64 with the Kubernetes runner', () => {
    expect(loadSettings({}, {}).concurrency).toBe(4);
    expect(loadSettings({ runner: 'local' }, {}).concurrency).toBe(4);
    expect(loadSettings({ runner: 'kubernetes' }, {}).concurrency).toBe(64);
    expect(loadSettings({}, { JOB_RUNNER: 'kubernetes' }).concurrency).toBe(64);
  });

  it('a concurrency that is set wins, by flag or environment', () => {
    expect(loadSettings({ runner: 'kubernetes', concurrency: '4' }, {}).concurrency).toBe(4);
    expect(loadSettings({}, { JOB_RUNNER: 'kubernetes', JOB_CONCURRENCY: '8' }).concurrency).toBe(8);
    expect(loadSettings({ concurrency: '100' }, {}).concurrency).toBe(100);
  });

  it('the settings table says so', () => {
    const row = settingsMarkdown()
      .split('\n')
      .find((l) => l.startsWith('| `--concurrency`'));
    expect(row).toContain('4 with the local runner');
    expect(row).toContain('64 with the Kubernetes runner');
  });
});
