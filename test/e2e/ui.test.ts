import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutgoingEvent } from '../../src/keptn/responses.js';
import type { Sink } from '../../src/keptn/sinks/sink.js';
import { createService, startServer, type RunningServer } from '../../src/service.js';
import { loadSettings } from '../../src/settings/settings.js';
import { silentLogger, tempTree } from '../helpers/service.js';

/** A busy CI machine (the whole suite runs in parallel) may take seconds for a run to finish. */
const POLL = { timeout: 15_000 };
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUT = path.resolve('test-output');
/** The README's screenshots; rewritten only when asked (UPDATE_SCREENSHOTS=1), so a test run leaves git clean. */
const README_SHOTS = path.resolve('test/fixtures/screenshots');
const KEPT_SHOTS = new Set([
  'runs-page.png',
  'run-detail.png',
  'untrusted-list.png',
  'untrusted-run.png',
  'answered-errored.png',
  'answering.png',
  'detached.png',
]);

/** RIGHT-TO-LEFT OVERRIDE: everything after it on its line is laid out right to left, unless an isolate ends it. */
const RLO = '\u202E';
/** The service whose `.finished` answers the sink holds back, so its run stays `answering` while we look. */
const HELD = 'held-service';

const CONFIG = `apiVersion: v2
actions:
  - name: deploy
    events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks: [{ name: hello, image: alpine, cmd: [sh, -c, "echo Hello from $KEPTN_SERVICE"] }]
  - name: test
    events: [{ name: "sh.keptn.event.test.triggered" }]
    tasks:
      - { name: smoke, image: alpine, cmd: [sh, -c, "echo checking; echo 'connection refused' >&2; exit 1"] }
      - { name: report, image: alpine, cmd: [sh, -c, "echo never"] }
  - name: load
    events: [{ name: "sh.keptn.event.load.triggered" }]
    tasks:
      - { name: warm-up, image: alpine, cmd: [sh, -c, "echo warming up"] }
      - { name: count, image: alpine, cmd: [sh, -c, "for i in 1 2 3 4 5; do echo line $i; sleep 0.5; done"] }
  - name: untrusted
    events: [{ name: "sh.keptn.event.markup.triggered" }]
    tasks:
      - { name: markup, image: alpine, cmd: [sh, -c, "echo '<b id=injected>bold</b><img src=x onerror=window.__xss=1>'"] }
  - name: i18n
    events: [{ name: "sh.keptn.event.i18n.triggered" }]
    tasks:
      - name: "${RLO}pukcab"
        image: alpine
        cmd: [sh, -c, "echo '部署完成 デプロイ完了 배포 완료'; echo '${RLO}dlrow olleh'; echo 'after the override'"]
      - { name: quiet, image: alpine, cmd: ["true"] }
  - name: refused
    events: [{ name: "sh.keptn.event.refused.triggered" }]
    tasks: [{ name: pinned, image: "{{data.image}}", cmd: [sh, -c, "echo never"] }]
`;

/** Answers go nowhere, except that a `.finished` for HELD waits until `release()`: a receiver that is slow. */
class HoldingSink implements Sink {
  readonly name = 'holding';
  private readonly waiting: Array<() => void> = [];

  async send(event: OutgoingEvent, signal: AbortSignal): Promise<void> {
    if (!event.type.endsWith('.finished') || event.data.service !== HELD) return;
    await new Promise<void>((resolve, reject) => {
      this.waiting.push(resolve);
      signal.addEventListener('abort', () => reject(new Error('shutting down')), { once: true });
    });
  }

  release(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

let seq = 0;
function event(type: string, data: Record<string, unknown>) {
  return {
    specversion: '1.0',
    id: `ui-${Date.now()}-${++seq}`,
    source: 'e2e',
    type: `sh.keptn.event.${type}.triggered`,
    shkeptncontext: '5b0c1d2e-3f40-4a51-8b62-7c83d94ea5fb',
    data: { project: 'podtatohead', stage: 'dev', ...data },
  };
}

/**
 * The element's text as a reader sees it: its characters ordered by where they are drawn (top to bottom, then
 * left to right), one string per visual line; characters drawn with no width (bidi controls) are left out.
 */
function visualLines(locator: Locator): Promise<string[]> {
  return locator.evaluate((root) => {
    // Runs in the page; the test is compiled without the DOM library, so no page globals are named here.
    const doc = root.ownerDocument;
    const drawn: Array<{ ch: string; left: number; middle: number }> = [];
    const walker = doc.createTreeWalker(root, 4 /* NodeFilter.SHOW_TEXT */);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent ?? '';
      for (let i = 0; i < text.length; i++) {
        const range = doc.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const box = range.getBoundingClientRect();
        if (box.width > 0 && text[i] !== '\n')
          drawn.push({ ch: text[i] as string, left: box.left, middle: (box.top + box.bottom) / 2 });
      }
    }
    // Characters of one line may sit a pixel or two apart vertically (badges, other font sizes).
    const lines: Array<{ middle: number; chars: typeof drawn }> = [];
    for (const c of drawn) {
      const line = lines.find((l) => Math.abs(l.middle - c.middle) < 6);
      if (line) line.chars.push(c);
      else lines.push({ middle: c.middle, chars: [c] });
    }
    return lines
      .sort((a, b) => a.middle - b.middle)
      .map((l) =>
        l.chars
          .sort((a, b) => a.left - b.left)
          .map((c) => c.ch)
          .join(''),
      );
  });
}

/** Font families fontconfig has that hold every character of `text`. */
function familiesWithGlyphs(text: string): Set<string> {
  const codes = [...new Set([...text.replace(/\s/g, '')].map((c) => (c.codePointAt(0) as number).toString(16)))];
  const out = execFileSync('fc-list', [`:charset=${codes.join(' ')}`, 'family'], { encoding: 'utf8' });
  return new Set(
    out
      .split('\n')
      .flatMap((line) => line.split(','))
      .map((f) => f.trim())
      .filter(Boolean),
  );
}

describe('the web page in headless Chromium', () => {
  let server: RunningServer;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const sink = new HoldingSink();
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: run \`bash scripts/install-browser.sh\` (installs Debian's chromium package), or set CHROMIUM_PATH`,
      );
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
    server = await startServer(settings, silentLogger, await createService(settings, silentLogger, { sinks: [sink] }));
    base = `http://127.0.0.1:${server.port}`;
    profile = await mkdtemp(path.join(os.tmpdir(), 'je-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
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
    sink.release();
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  const send = async (type: string, data: Record<string, unknown>) => {
    const res = await fetch(`${base}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json', authorization: 'Bearer ui-token' },
      body: JSON.stringify(event(type, data)),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { runId: string }).runId;
  };
  const row = (runId: string) => page.locator(`tr.run[data-run-id="${runId}"]`);
  const shot = async (name: string, fullPage = true) => {
    await page.screenshot({ path: path.join(OUT, name), fullPage });
    if (process.env.UPDATE_SCREENSHOTS === '1' && KEPT_SHOTS.has(name)) {
      await mkdir(README_SHOTS, { recursive: true });
      await copyFile(path.join(OUT, name), path.join(README_SHOTS, name));
    }
  };
  const openRun = async (runId: string, status: string) => {
    await page.goto(`${base}/#/runs/${runId}`);
    await expect.poll(() => page.locator('#run-title').getAttribute('data-status'), POLL).toBe(status);
  };

  it('lists the runs newest first with their status, result, scope, type and duration', async () => {
    const ok = await send('deployment', { service: 'helloservice' });
    const failed = await send('test', { service: 'checkout' });
    await page.goto(base);
    await expect.poll(() => row(failed).getAttribute('data-status'), POLL).toBe('failed');
    await expect.poll(() => row(ok).getAttribute('data-status'), POLL).toBe('succeeded');
    const ids = await page.locator('tr.run').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run-id')));
    expect(ids.slice(0, 2)).toEqual([failed, ok]);
    const cells = await row(ok).locator('td').allInnerTexts();
    expect(cells.slice(0, 4)).toEqual([
      'succeeded',
      'pass',
      'podtatohead / dev / helloservice',
      'deployment.triggered',
    ]);
    expect(cells[5]).toMatch(/^\d+\.\d\ds$/);
    expect((await row(failed).locator('td').allInnerTexts()).slice(0, 2)).toEqual(['failed', 'fail']);
    expect(await page.locator('#live').getAttribute('data-state')).toBe('live');
  });

  it('shows a new run appear while it runs, then its log lines arriving live in its detail view', async () => {
    const runId = await send('load', { service: 'carts' });
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
    await shot('run-live.png');
    await count.locator('pre.logs', { hasText: 'line 5' }).waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('#run-title').getAttribute('data-status'), POLL).toBe('succeeded');
    expect(await count.getAttribute('data-status')).toBe('succeeded');
    expect((await count.locator('pre.logs').innerText()).trim().split('\n')).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
      'line 5',
    ]);
    expect(await page.locator('.task[data-task="0"] pre.logs').innerText()).toContain('warming up');
    expect(await page.locator('.task[data-task="1"] .task-duration').innerText()).toMatch(/^2\.\d\ds$/);
    await shot('run-detail.png');

    await page.locator('a.back').click();
    await expect.poll(() => row(runId).getAttribute('data-status'), POLL).toBe('succeeded');
    await shot('runs-page.png', false);
  });

  it('shows markup in logs as text, never as HTML', async () => {
    const runId = await send('markup', { service: 'frontend' });
    await page.goto(`${base}/#/runs/${runId}`);
    const logs = page.locator('.task[data-task="0"] pre.logs');
    await logs.filter({ hasText: 'bold' }).waitFor();
    expect((await logs.innerText()).trim()).toBe('<b id=injected>bold</b><img src=x onerror=window.__xss=1>');
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
  });

  it('keeps a right-to-left override or right-to-left letters in a name from reordering the rest of the line', async () => {
    const override = await send('deployment', {
      project: `${RLO}tcejorp-live`,
      service: 'payments',
      labels: { [`${RLO}yb-detseuqer`]: `${RLO}adA`, ticket: 'OPS-7' },
    });
    const hebrew = await send('deployment', { project: 'שלום', stage: '42', service: 'cart' });
    await page.goto(base);
    await expect.poll(() => row(hebrew).getAttribute('data-status'), POLL).toBe('succeeded');
    await expect.poll(() => row(override).getAttribute('data-status'), POLL).toBe('succeeded');

    // The text is the sender's, unchanged; the override turns its own name around and stops there.
    const scope = row(override).locator('.scope');
    expect(await scope.innerText()).toBe(`${RLO}tcejorp-live / dev / payments`);
    expect(await visualLines(scope)).toEqual(['evil-project / dev / payments']);
    // Hebrew reads right to left inside its name; the stage number after it stays after it.
    expect(await visualLines(row(hebrew).locator('.scope'))).toEqual(['םולש / 42 / cart']);
    // And the rest of the row is where it belongs: status first, duration last.
    const cells = await row(override).locator('td').allInnerTexts();
    expect(cells.slice(0, 4)).toEqual([
      'succeeded',
      'pass',
      `${RLO}tcejorp-live / dev / payments`,
      'deployment.triggered',
    ]);
    await shot('untrusted-list.png');

    await openRun(override, 'succeeded');
    expect(await visualLines(page.locator('dd .scope'))).toEqual(['evil-project / dev / payments']);
    // Labels too: each key and value is its own isolate, so a label cannot swap itself with the next one.
    expect(await page.locator('.labels').innerText()).toBe(`${RLO}yb-detseuqer=${RLO}adAticket=OPS-7`);
    expect(await visualLines(page.locator('.labels'))).toEqual(['requested-by=Adaticket=OPS-7']);
  });

  it('isolates task names and log lines, shows CJK text with glyphs, and says "no output" for a finished task without any', async () => {
    const runId = await send('i18n', { project: '漢字プロジェクト', service: '결제' });
    await openRun(runId, 'succeeded');
    const first = page.locator('.task[data-task="0"]');
    const quiet = page.locator('.task[data-task="1"]');
    await expect.poll(() => quiet.getAttribute('data-status'), POLL).toBe('succeeded');

    // The task name's override turns the name around, not the status, image and action after it.
    expect(await first.locator('.name').innerText()).toBe(`${RLO}pukcab`);
    expect((await visualLines(first.locator('.task-head')))[0]).toMatch(/^backupsucceededalpineaction i18nexit 0/);
    // Each log line is its own isolate: the override acts on its line only.
    const logs = first.locator('pre.logs');
    expect((await logs.innerText()).trim().split('\n')).toEqual([
      '部署完成 デプロイ完了 배포 완료',
      `${RLO}dlrow olleh`,
      'after the override',
    ]);
    expect(await visualLines(logs)).toEqual(['部署完成 デプロイ完了 배포 완료', 'hello world', 'after the override']);

    // A finished task that printed nothing says so, without "yet"; its empty log box is not shown.
    expect(await quiet.locator('.no-output').innerText()).toBe('no output');
    expect(await quiet.locator('pre.logs').isHidden()).toBe(true);
    expect(await first.locator('.no-output').isHidden()).toBe(true);

    // Chinese, Japanese and Korean are drawn from fonts that have their glyphs (boxes otherwise).
    const cdp = await context.newCDPSession(page);
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
    const cases: Array<[string, string]> = [
      ['dd .scope .project', '漢字プロジェクト'],
      ['dd .scope .service', '결제'],
      ['.task[data-task="0"] pre.logs .line', '部署完成 デプロイ完了 배포 완료'],
    ];
    for (const [selector, text] of cases) {
      expect(await page.locator(selector).first().innerText()).toBe(text);
      const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
      const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
      const usable = familiesWithGlyphs(text);
      expect(
        usable.size,
        `no installed font has the glyphs of ${text}: run scripts/install-browser.sh (fonts-noto-cjk)`,
      ).toBeGreaterThan(0);
      // Every glyph but the spaces comes from a font that has the characters, not the .notdef box of another.
      const elsewhere = fonts.filter((f) => !usable.has(f.familyName));
      const spaces = text.length - text.replace(/\s/g, '').length;
      expect(
        elsewhere.reduce((n, f) => n + f.glyphCount, 0),
        `${text} drawn with ${fonts.map((f) => `${f.familyName} (${f.glyphCount})`).join(', ')}`,
      ).toBeLessThanOrEqual(spaces);
      expect(fonts.some((f) => usable.has(f.familyName))).toBe(true);
    }
    await cdp.detach();
    await shot('untrusted-run.png');
  });

  it('shows the run status and, beside it, what the answer said: failed, answered errored · fail', async () => {
    const runId = await send('test', { service: 'checkout' });
    await openRun(runId, 'failed');
    await expect
      .poll(() => page.locator('#answers tr[data-type$=".finished"] .delivery').innerText(), POLL)
      .toBe('delivered');
    const status = page.locator('#run-status');
    expect(await status.locator('.status').innerText()).toBe('failed');
    expect(await status.locator('.answered').innerText()).toBe('answered errored · fail');
    expect(await status.innerText()).toContain('a task failed');
    const finished = await page.locator('#answers tr[data-type$=".finished"] td').allInnerTexts();
    expect(finished.slice(0, 4)).toEqual(['test.finished', 'errored', 'fail', 'delivered']);
    const started = await page.locator('#answers tr[data-type$=".started"] td').allInnerTexts();
    expect(started.slice(0, 4)).toEqual(['test.started', 'succeeded', '', 'delivered']);
    // The task after the failed one never ran, and says so rather than waiting for output.
    expect(await page.locator('.task[data-task="0"]').getAttribute('data-status')).toBe('failed');
    expect(await page.locator('.task[data-task="1"]').getAttribute('data-status')).toBe('pending');
    expect(await page.locator('.task[data-task="1"] .no-output').innerText()).toBe('did not run');
    await shot('answered-errored.png');
  });

  it('shows an errored run with its reason, the event text in it kept from reversing the sentence', async () => {
    const runId = await send('refused', { service: 'vault', image: `ubuntu${RLO}:latest` });
    await openRun(runId, 'errored');
    expect(await page.locator('#run-status .answered').innerText()).toBe('answered errored · fail');
    const reason = page.locator('#run-error-text');
    const text = await reason.innerText();
    expect(text).toMatch(/^Forbidden: Image ubuntuU\+202E:latest does not match configured image allowlist/);
    // The override is shown as its code point, so the service's sentence reads left to right to its end.
    expect((await visualLines(reason)).join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''));
    await shot('errored.png');
  });

  it('shows a run whose tasks are over and whose .finished is on its way as answering', async () => {
    const runId = await send('deployment', { service: HELD });
    await openRun(runId, 'answering');
    const status = page.locator('#run-status');
    expect(await status.locator('.status').innerText()).toBe('answering');
    expect(await status.innerText()).toContain('its .finished is on its way');
    expect(await page.locator('.task[data-task="0"]').getAttribute('data-status')).toBe('succeeded');
    expect(await page.locator('#answers tr[data-type$=".finished"] .delivery').innerText()).toBe('pending');
    await shot('answering.png');
    await page.goto(base);
    await expect.poll(() => row(runId).getAttribute('data-status'), POLL).toBe('answering');
    sink.release();
    await expect.poll(() => row(runId).getAttribute('data-status'), POLL).toBe('succeeded');
  });

  it('shows a detached run as handed over, its task left running', async () => {
    // Only a Kubernetes Job outlives the service, so the local runner cannot detach: the page is shown a real
    // run's stream with what a detached run has instead (status detached, task detached, no .finished).
    const runId = await send('deployment', { service: 'long-job' });
    await expect
      .poll(async () => ((await (await fetch(`${base}/api/runs/${runId}`)).json()) as { status: string }).status, POLL)
      .toBe('succeeded');
    await page.route(`**/api/runs/${runId}/events`, async (route) => {
      const real = await (await route.fetch()).text();
      const body = real.replace(/^event: snapshot\ndata: (.*)$/m, (_all, json: string) => {
        const run = JSON.parse(json) as Record<string, unknown> & {
          tasks: Array<Record<string, unknown>>;
          answers: Array<{ type: string }>;
        };
        const tasks = run.tasks.map(({ exitCode: _exit, ...t }) => ({ ...t, status: 'detached' }));
        const detached = {
          ...run,
          status: 'detached',
          result: undefined,
          tasks,
          answers: run.answers.filter((a) => a.type.endsWith('.started')),
        };
        return `event: snapshot\ndata: ${JSON.stringify(detached)}`;
      });
      await route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
    });
    await openRun(runId, 'detached');
    const status = page.locator('#run-status');
    expect(await status.locator('.status').innerText()).toBe('detached');
    expect(await status.locator('.answered').count()).toBe(0);
    expect(await status.innerText()).toContain('the instance that takes the run over answers it');
    expect(await page.locator('.task[data-task="0"] .status').innerText()).toBe('detached');
    expect(await page.locator('.task[data-task="0"] pre.logs').innerText()).toContain('Hello from long-job');
    await shot('detached.png');
    await page.unroute(`**/api/runs/${runId}/events`);
  });

  it('says so when a run is not in the history', async () => {
    await page.goto(`${base}/#/runs/not-a-run`);
    await expect
      .poll(() => page.locator('#run-error').textContent(), POLL)
      .toBe('no run not-a-run (it may have left the history)');
    // The refused stream is the only expected console error (the browser reports the 404).
    const unexpected = problems.filter((p) => !/404/.test(p));
    expect(unexpected).toEqual([]);
  });
});
