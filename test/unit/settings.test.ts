import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SETTINGS, loadSettings, settingsMarkdown } from '../../src/settings/settings.js';

describe('settings', () => {
  it('have defaults, and flags win over the environment (JES names work)', () => {
    const s = loadSettings(
      { port: '9000' },
      { JOB_EXECUTOR_PORT: '7000', ALLOWED_IMAGE_LIST: 'alpine:*, busybox', ALWAYS_SEND_FINISHED_EVENT: 'true' },
    );
    expect(s.port).toBe(9000);
    expect(s.allowedImages).toEqual(['alpine:*', 'busybox']);
    expect(s.alwaysSendFinished).toBe(true);
    expect(s.concurrency).toBe(4);
    expect(s.sink).toEqual(['auto']);
    expect(Object.isFrozen(s)).toBe(true);
  });

  it('name the flag and the variable at fault, and hide secrets', () => {
    const bad = () => loadSettings({}, { JOB_CONCURRENCY: 'lots', KEPTN_API_ENDPOINT: 'not a url' });
    expect(bad).toThrow(/JOB_CONCURRENCY \(--concurrency\): .*got "lots"/);
    expect(bad).toThrow(/KEPTN_API_ENDPOINT \(--keptn-api-endpoint\): .*got "not a url"/);
    expect(() => loadSettings({ 'auth-token': '' }, {})).toThrow(/got \(hidden\)/);
  });

  it('every setting has an environment variable and a description', () => {
    for (const d of Object.values(SETTINGS)) {
      expect(d.env.length).toBeGreaterThan(0);
      expect(d.description.length).toBeGreaterThan(10);
    }
  });
});

describe('README', () => {
  it('carries the current settings table (regenerate with `job-executor settings`)', async () => {
    const readme = await readFile('README.md', 'utf8');
    const table = /<!-- settings:start -->\n([\s\S]*?)\n<!-- settings:end -->/.exec(readme)?.[1];
    expect(table).toBe(settingsMarkdown());
  });

  it('gives the start and test commands on its first screen', async () => {
    const firstScreen = (await readFile('README.md', 'utf8')).split('\n').slice(0, 30).join('\n');
    expect(firstScreen).toContain("npm install && JOB_ALLOWED_IMAGE_LIST='alpine:*' npm start");
    expect(firstScreen).toContain('npm test');
  });
});
