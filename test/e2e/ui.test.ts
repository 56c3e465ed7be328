import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, startServer, type RunningServer } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { CollectingSink, silentLogger, tempTree } from '../helpers/service.js';

/** A busy CI machine (the whole suite runs in parallel) may take seconds for a run to finish. */
const POLL = { timeout: 15_000 };
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUT = path.resolve('test-output');
/** The README's screenshot; rewritten only when asked (UPDATE_SCREENSHOTS=1), so a test run leaves git clean. */
const README_SHOTS = path.resolve('test/fixtures/screenshots');

const CONFIG = `apiVersion: v2
actions:
  - name: deploy
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: hello, image: alpine, cmd: [sh, -c, "echo Hello from $KEPTN_SERVICE"] }]
  - name: test
    events: [{ name: "sh.keptn.event.test.triggered" }]
    tasks:
      - { name: smoke, image: alpine, cmd: [sh, -c, "echo checking; echo 'connection refused' >&2; exit 1"] }
  - name: load
    events: [{ name: "sh.keptn.event.load.triggered" }]
    tasks:
      - { name: warm-up, image: alpine, cmd: [sh, -c, "echo warming up"] }
      - { name: count, image: alpine, cmd: [sh, -c, "for i in 1 2 3 4 5; do echo line $i; sleep 0.5; done"] }
  - name: untrusted
    events: [{ name: "sh.keptn.event.markup.triggered" }]
    tasks:
      - { name: markup, image: alpine, cmd: [sh, -c, "echo '<b id=injected>bold</b><img src=x onerror=window.__xss=1>'"] }
`;

let seq = 0;
function event(type: string, service: string) {
  return {
    specversion: '1.0',
    id: `ui-${Date.now()}-${++seq}`,
    source: 'e2e',
    type: `sh.keptn.event.${type}.triggered`,
    shkeptncontext: '5b0c1d2e-3f40-4a51-8b62-7c83d94ea5fb',
    data: { project: 'podtatohead', stage: 'dev', service },
  };
}

describe('the web page in headless Chromium', () => {
  let server: RunningServer;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: run \`bash scripts/install-browser.sh\` (installs Debian's chromium package), or set CHROMIUM_PATH`);
    }
    const settings = loadSettings(
      {
        config: await tempTree({ 'job/config.yaml': CONFIG }),
        port: '0',
        'allowed-images': 'alpine',
        'work-dir': await mkdtemp(path.join(os.tmpdir(), 'je-ui-')),
        'auth-token': 'ui-token',
      },
      {},
    );
    server = await startServer(settings, silentLogger, await createService(settings, silentLogger, { sinks: [new CollectingSink()] }));
    base = `http://127.0.0.1:${server.port}`;
    profile = await mkdtemp(path.join(os.tmpdir(), 'je-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    await mkdir(OUT, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  const send = async (type: string, service: string) => {
    const res = await fetch(`${base}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json', authorization: 'Bearer ui-token' },
      body: JSON.stringify(event(type, service)),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { runId: string }).runId;
  };
  const row = (runId: string) => page.locator(`tr.run[data-run-id="${runId}"]`);

  it('lists the runs newest first with their status, scope, type and duration', async () => {
    const ok = await send('deployment', 'helloservice');
    const failed = await send('test', 'checkout');
    await page.goto(base);
    await expect.poll(() => row(failed).getAttribute('data-status'), POLL).toBe('failed');
    await expect.poll(() => row(ok).getAttribute('data-status'), POLL).toBe('succeeded');
    const ids = await page.locator('tr.run').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run-id')));
    expect(ids.slice(0, 2)).toEqual([failed, ok]);
    const cells = await row(ok).locator('td').allInnerTexts();
    expect(cells.slice(0, 3)).toEqual(['succeeded', 'podtatohead / dev / helloservice', 'deployment.triggered']);
    expect(cells[4]).toMatch(/^\d+\.\d\ds$/);
    expect(await page.locator('#live').getAttribute('data-state')).toBe('live');
  });

  it('shows a new run appear while it runs, then its log lines arriving live in its detail view', async () => {
    const runId = await send('load', 'carts');
    // No reload: the list stream brings the new run in.
    await expect.poll(() => row(runId).getAttribute('data-status'), POLL).toBe('running');
    await row(runId).click();
    await page.waitForURL(`**/#/runs/${runId}`);
    const count = page.locator('.task[data-task="1"]');
    await count.locator('pre.logs', { hasText: 'line 1' }).waitFor();
    // Caught in the middle: the first lines are shown, the task is still running, the last line is not there yet.
    expect(await count.getAttribute('data-status')).toBe('running');
    expect(await page.locator('#run-title').getAttribute('data-status')).toBe('running');
    expect(await count.locator('pre.logs').innerText()).not.toContain('line 5');
    // Fields a task does not have yet (exit code, reason) are left out, not shown as "null".
    expect(await page.locator('main').innerText()).not.toMatch(/null|undefined|NaN/);
    await page.screenshot({ path: path.join(OUT, 'run-live.png'), fullPage: true });
    await count.locator('pre.logs', { hasText: 'line 5' }).waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('#run-title').getAttribute('data-status'), POLL).toBe('succeeded');
    expect(await count.getAttribute('data-status')).toBe('succeeded');
    expect((await count.locator('pre.logs').innerText()).trim().split('\n')).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    expect(await page.locator('.task[data-task="0"] pre.logs').innerText()).toContain('warming up');
    expect(await page.locator('.task[data-task="1"] .task-duration').innerText()).toMatch(/^2\.\d\ds$/);
    await page.screenshot({ path: path.join(OUT, 'run-detail.png'), fullPage: true });

    await page.locator('a.back').click();
    await expect.poll(() => row(runId).getAttribute('data-status'), POLL).toBe('succeeded');
    await page.screenshot({ path: path.join(OUT, 'runs-page.png') });
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await mkdir(README_SHOTS, { recursive: true });
      await copyFile(path.join(OUT, 'runs-page.png'), path.join(README_SHOTS, 'runs-page.png'));
      await copyFile(path.join(OUT, 'run-detail.png'), path.join(README_SHOTS, 'run-detail.png'));
    }
  });

  it('shows markup in logs as text, never as HTML', async () => {
    const runId = await send('markup', 'frontend');
    await page.goto(`${base}/#/runs/${runId}`);
    const logs = page.locator('.task[data-task="0"] pre.logs');
    await logs.filter({ hasText: 'bold' }).waitFor();
    expect((await logs.innerText()).trim()).toBe('<b id=injected>bold</b><img src=x onerror=window.__xss=1>');
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
  });

  it('says so when a run is not in the history', async () => {
    await page.goto(`${base}/#/runs/not-a-run`);
    await expect.poll(() => page.locator('#run-error').textContent(), POLL).toBe('no run not-a-run (it may have left the history)');
    // The refused stream is the only expected console error (the browser reports the 404).
    const unexpected = problems.filter((p) => !/404/.test(p));
    expect(unexpected).toEqual([]);
  });
});
