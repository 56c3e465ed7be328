import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DedupWindow } from '../../src/executor/dedup.js';
import { JournalClaims } from '../../src/executor/journal-claims.js';
import { RunJournal, type JournalOptions } from '../../src/executor/journal.js';
import { RunStore, type RunRecord } from '../../src/executor/run-store.js';
import { buildFinished, buildStarted } from '../../src/keptn/responses.js';
import { keptnEvent } from '../helpers/service.js';

const logger = pino({ level: 'silent' });
function options(dir: string, extra: Partial<JournalOptions> = {}): JournalOptions {
  return { dir, retentionMs: 60_000, maxClosedBytes: 1024 * 1024, compactBytes: 1024 * 1024, logger, ...extra };
}
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'je-journal-'));

describe('the run journal', () => {
  it('after a restart, hands over each open run once, with its answers, tasks and processes; closed runs are duplicates', async () => {
    const dir = tmp();
    const a = keptnEvent('sh.keptn.event.test.triggered');
    const b = keptnEvent('sh.keptn.event.test.triggered');
    const c = keptnEvent('sh.keptn.event.test.triggered');
    const first = new JournalClaims(await RunJournal.openIn(options(dir)));
    for (const e of [a, b, c]) expect(await first.claim(e)).toBe('claimed');
    expect(await first.claim(a)).toBe('taken');
    const started = buildStarted(a, 's');
    await first.answerQueued(a, started);
    await first.answerDelivered(a, started.id);
    await first.taskStarted(a, 'build');
    first.process(a, { pgid: 4242, startTime: '99' });
    await first.answerQueued(b, buildStarted(b, 's'));
    const finished = buildFinished(c, 's', { status: 'succeeded', result: 'pass', message: 'ok' });
    await first.answerQueued(c, finished);
    await first.answered(c);
    await first.close();

    // As after a crash: a new process opens the same directory.
    const second = new JournalClaims(await RunJournal.openIn(options(dir)));
    const taken = await second.takeOver();
    expect(taken.map((t) => t.event.id).sort()).toEqual([a.id, b.id].sort());
    const ta = taken.find((t) => t.event.id === a.id);
    expect(ta).toMatchObject({
      startedDelivered: true,
      journal: { tasks: ['build'], answers: [{ delivered: true }], processes: [{ pgid: 4242, startTime: '99' }] },
    });
    const tb = taken.find((t) => t.event.id === b.id);
    expect(tb).toMatchObject({ startedDelivered: true, journal: { answers: [{ delivered: false }] } });
    expect(await second.takeOver()).toEqual([]);
    expect(await second.claim(c)).toBe('taken');
    expect(await second.claim(a)).toBe('taken');
    await second.close();
  });

  it('skips a torn last line (a crash mid-write) and keeps everything before it', async () => {
    const dir = tmp();
    const a = keptnEvent('sh.keptn.event.test.triggered');
    const j = new JournalClaims(await RunJournal.openIn(options(dir)));
    await j.claim(a);
    await j.close();
    appendFileSync(path.join(dir, 'journal.jsonl'), '{"k":"answer","id":"x","ans');
    const again = new JournalClaims(await RunJournal.openIn(options(dir)));
    expect((await again.takeOver()).map((t) => t.event.id)).toEqual([a.id]);
    await again.close();
  });

  it('refuses a second live service on the same directory, and takes over the lock of a dead one', async () => {
    const dir = tmp();
    const j = await RunJournal.openIn(options(dir));
    // our own pid holds it; a different live pid (the parent, here) must be refused
    writeFileSync(path.join(dir, 'journal.lock'), String(process.ppid));
    await expect(RunJournal.openIn(options(dir))).rejects.toThrow(
      /in use by another job-executor \(pid \d+\); give each instance its own --work-dir/,
    );
    writeFileSync(path.join(dir, 'journal.lock'), '999999999');
    const k = await RunJournal.openIn(options(dir));
    await k.closeFile();
    await j.closeFile();
  });

  it('stays small: compaction keeps open runs and the ids of the window, not every line ever written', async () => {
    const dir = tmp();
    const j = new JournalClaims(
      await RunJournal.openIn(options(dir, { compactBytes: 64 * 1024, maxClosedBytes: 16 * 1024 })),
    );
    const open = keptnEvent('sh.keptn.event.test.triggered');
    await j.claim(open);
    for (let i = 0; i < 500; i++) {
      const e = keptnEvent('sh.keptn.event.test.triggered', { filler: 'f'.repeat(500) });
      await j.claim(e);
      await j.answerQueued(e, buildStarted(e, 's'));
      await j.answered(e);
    }
    await j.close();
    expect(statSync(path.join(dir, 'journal.jsonl')).size).toBeLessThan(80 * 1024);
    const again = new JournalClaims(await RunJournal.openIn(options(dir)));
    expect((await again.takeOver()).map((t) => t.event.id)).toEqual([open.id]);
    const closedLines = readFileSync(path.join(dir, 'journal.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"closed"'));
    expect(closedLines.length).toBeLessThan(500);
    await again.close();
  });
});

describe('the run journal under load', () => {
  it('compacting while writes wait for their flush keeps each entry once: answers and tasks survive a replay', async () => {
    const dir = tmp();
    // Compaction after every flush, and writes that pile up behind it.
    const j = new JournalClaims(await RunJournal.openIn(options(dir, { compactBytes: 1 })));
    const events = Array.from({ length: 30 }, () => keptnEvent('sh.keptn.event.test.triggered'));
    // Each run goes its own way at once, so new entries keep arriving while a flush and its compaction run.
    await Promise.all(
      events.map(async (e) => {
        await j.claim(e);
        await j.answerQueued(e, buildStarted(e, 's'));
        await j.taskStarted(e, 'build');
      }),
    );
    await j.close();
    const again = new JournalClaims(await RunJournal.openIn(options(dir)));
    const taken = await again.takeOver();
    expect(taken).toHaveLength(30);
    for (const t of taken) {
      expect(t.startedDelivered).toBe(true);
      expect(t.journal?.answers).toHaveLength(1);
      expect(t.journal?.tasks).toEqual(['build']);
    }
    await again.close();
  });
});

describe('memory bounds in bytes', () => {
  it('the dedup window forgets the oldest ids past its byte budget', () => {
    const w = new DedupWindow(60_000, 100_000);
    for (let i = 0; i < 1000; i++) w.remember(`${i}-${'i'.repeat(1000)}`, `run-${i}`);
    expect(w.size).toBeLessThanOrEqual(100_000);
    expect(w.lookup(`999-${'i'.repeat(1000)}`)).toBe('run-999');
    expect(w.lookup(`0-${'i'.repeat(1000)}`)).toBeUndefined();
  });

  it('the run store drops the oldest final runs past its byte budget, never one on its way', () => {
    const store = new RunStore(1000, 1024 * 1024, 200_000);
    const runs: RunRecord[] = [];
    for (let i = 0; i < 50; i++) {
      const run: RunRecord = {
        id: `r${i}`,
        event: keptnEvent('sh.keptn.event.test.triggered', { big: 'b'.repeat(20_000) }),
        receivedAt: i,
        status: i === 0 ? 'running' : 'succeeded',
        actions: [],
        tasks: [],
        answers: [],
        logBytes: 0,
      };
      runs.push(run);
      store.add(run);
    }
    expect(store.bytes).toBeLessThanOrEqual(200_000 + 25_000);
    expect(store.get('r0')).toBeDefined();
    expect(store.get('r49')).toBeDefined();
    expect(store.get('r1')).toBeUndefined();
  });
});
