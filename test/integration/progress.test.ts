import { describe, expect, it } from 'vitest';
import { reportProgress } from '../../src/cli/progress.js';
import { keptnEvent, runEvent, tempTree, testService } from '../helpers/service.js';

const CONFIG = `apiVersion: v2
actions:
  - events: [{ name: "sh.keptn.event.deployment.triggered" }]
    tasks:
      - { name: build, image: alpine, cmd: [sh, -c, "echo compiling; sleep 0.2; echo done"] }
      - { name: check, image: alpine, cmd: [sh, -c, "echo broken >&2; exit 4"] }
`;

/** What `job-executor run` prints on stderr for one run, on a terminal or not. */
async function progressOf(tty: boolean): Promise<{ text: string; times: number[] }> {
  const { service } = await testService(await tempTree({ 'job/config.yaml': CONFIG }));
  let text = '';
  const times: number[] = [];
  const stop = reportProgress(
    service.store,
    (t) => {
      text += t;
      times.push(Date.now());
    },
    tty,
  );
  await runEvent(service, keptnEvent('sh.keptn.event.deployment.triggered'));
  stop();
  await service.executor.close(100);
  return { text, times };
}

describe('run progress on stderr', () => {
  it('plain words and no escape codes when not a terminal: start, each log line as it comes, end with duration', async () => {
    const { text, times } = await progressOf(false);
    expect(text).not.toContain('\u001b[');
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('task started: build (alpine)');
    expect(lines.slice(1, 3)).toEqual(['  [build] compiling', '  [build] done']);
    expect(lines[3]).toMatch(/^task ended: build succeeded in \d+\.\d+s$/);
    expect(lines[4]).toBe('task started: check (alpine)');
    expect(lines[5]).toBe('  [check] broken');
    expect(lines[6]).toMatch(/^task ended: check failed in \d\.\d\ds: .+/);
    // Written as they happen, not at the end: "done" came about 0.2 s after "compiling".
    expect((times[2] ?? 0) - (times[1] ?? 0)).toBeGreaterThan(100);
  });

  it('symbols and colour on a terminal', async () => {
    const { text } = await progressOf(true);
    const plain = text.replace(new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g'), '');
    expect(text).toContain('\u001b[');
    expect(plain).toContain('▶ build (alpine)');
    expect(plain).toContain('  │ compiling');
    expect(plain).toMatch(/✔ build succeeded in \d+\.\d+s/);
    expect(plain).toMatch(/✘ check failed in \d\.\d\ds/);
  });
});
