import {
  closeSync,
  constants,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { JobExecutorError, errorMessage } from '../errors.js';
import { parseKeptnEvent, type KeptnEvent } from '../keptn/event.js';
import type { OutgoingEvent } from '../keptn/responses.js';
import type { ProcessHandle } from '../runners/runner.js';
import { isPlainObject } from '../util/objects.js';

/**
 * The journal of open runs: one append-only file of JSON lines under the work directory, written before the
 * service acts (claim before `.started`, each answer before it is sent) and fsync'd, so that after a crash the
 * service knows every run it took and what it had told Keptn. Writes that arrive together share one fsync
 * (group commit). Closed runs are kept only as their event id, for the dedup window; the file is rewritten
 * from the live state (compacted) at start and whenever it has grown past `compactBytes`.
 */

type Entry =
  | { k: 'open'; event: unknown; at: number }
  | { k: 'answer'; id: string; answer: OutgoingEvent }
  | { k: 'delivered'; id: string; answerId: string }
  | { k: 'task'; id: string; name: string }
  | { k: 'process'; id: string; handle: ProcessHandle }
  | { k: 'closed'; id: string; at: number };

export interface JournalRun {
  readonly event: KeptnEvent;
  readonly openedAt: number;
  answers: Array<{ answer: OutgoingEvent; delivered: boolean }>;
  tasks: string[];
  processes: ProcessHandle[];
}

export interface JournalOptions {
  readonly dir: string;
  /** How long a closed run's event id is remembered (the dedup window). */
  readonly retentionMs: number;
  /** Bytes of closed ids kept at most, whatever the window: a flood of events cannot grow it without bound. */
  readonly maxClosedBytes: number;
  readonly compactBytes: number;
  readonly logger: Logger;
}

const FILE = 'journal.jsonl';
const LOCK = 'journal.lock';

export class RunJournal {
  /** Open runs by event id. */
  readonly open = new Map<string, JournalRun>();
  /** Closed event ids and when they closed, oldest first. */
  private readonly closed = new Map<string, number>();
  private closedBytes = 0;
  private file: FileHandle | undefined;
  private size = 0;
  private batch: string[] = [];
  private flushing: Promise<void> | undefined;
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly filePath: string;

  private constructor(private readonly options: JournalOptions) {
    this.filePath = path.join(options.dir, FILE);
  }

  /** Takes the directory (one service per journal), replays the file and compacts it. */
  static async openIn(options: JournalOptions): Promise<RunJournal> {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    takeLock(options.dir);
    const journal = new RunJournal(options);
    journal.replay();
    journal.compactSync();
    journal.file = await open(journal.filePath, 'a', 0o600);
    return journal;
  }

  has(eventId: string): boolean {
    return this.open.has(eventId) || this.closed.has(eventId);
  }

  /** Appends entries and resolves once they are on disk. */
  write(...entries: Entry[]): Promise<void> {
    for (const e of entries) this.apply(e, Date.now(), false);
    for (const e of entries) this.batch.push(`${JSON.stringify(e)}\n`);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.flushing ??= this.flush();
    return done;
  }

  openRun(event: KeptnEvent): Promise<void> {
    return this.write({ k: 'open', event, at: Date.now() });
  }
  answer(eventId: string, answer: OutgoingEvent): Promise<void> {
    return this.write({ k: 'answer', id: eventId, answer });
  }
  delivered(eventId: string, answerId: string): Promise<void> {
    return this.write({ k: 'delivered', id: eventId, answerId });
  }
  task(eventId: string, name: string): Promise<void> {
    return this.write({ k: 'task', id: eventId, name });
  }
  process(eventId: string, handle: ProcessHandle): Promise<void> {
    return this.write({ k: 'process', id: eventId, handle });
  }
  close(eventId: string): Promise<void> {
    return this.write({ k: 'closed', id: eventId, at: Date.now() });
  }

  private async flush(): Promise<void> {
    while (this.batch.length > 0) {
      const text = this.batch.join('');
      const waiters = this.waiters;
      this.batch = [];
      this.waiters = [];
      try {
        const file = this.file;
        if (!file) throw new JobExecutorError('JOURNAL_ERROR', 'the run journal is closed');
        await file.appendFile(text);
        await file.datasync();
        this.size += Buffer.byteLength(text);
        for (const w of waiters) w.resolve();
      } catch (e) {
        const err = new JobExecutorError(
          'JOURNAL_ERROR',
          `could not write the run journal ${this.filePath}: ${errorMessage(e)}`,
        );
        for (const w of waiters) w.reject(err);
      }
      if (this.size > this.options.compactBytes) await this.compact();
    }
    this.flushing = undefined;
  }

  private apply(e: Entry, now: number, replaying: boolean): void {
    if (e.k === 'open') {
      // Written from an event already checked at intake; read back, it is checked again like any input.
      const event = replaying ? parseKeptnEvent(e.event) : (e.event as KeptnEvent);
      this.open.set(event.id, { event, openedAt: e.at, answers: [], tasks: [], processes: [] });
      return;
    }
    if (e.k === 'closed') {
      this.open.delete(e.id);
      this.remember(e.id, e.at, now);
      return;
    }
    const run = this.open.get(e.id);
    if (!run) return;
    switch (e.k) {
      case 'answer':
        run.answers = [
          ...run.answers.filter((a) => a.answer.id !== e.answer.id),
          { answer: e.answer, delivered: false },
        ];
        break;
      case 'delivered':
        for (const a of run.answers) if (a.answer.id === e.answerId) a.delivered = true;
        break;
      case 'task':
        run.tasks.push(e.name);
        break;
      case 'process':
        run.processes.push(e.handle);
        break;
    }
  }

  private remember(id: string, at: number, now: number): void {
    if (now - at > this.options.retentionMs) return;
    this.closed.set(id, at);
    this.closedBytes += id.length + 64;
    for (const [old, when] of this.closed) {
      if (this.closedBytes <= this.options.maxClosedBytes && now - when <= this.options.retentionMs) break;
      this.closed.delete(old);
      this.closedBytes -= old.length + 64;
    }
  }

  /** Reads the file; a torn last line (a crash mid-write) and lines it cannot use are skipped and logged. */
  private replay(): void {
    let text: string;
    try {
      text = readFileSync(this.filePath, 'utf8');
    } catch {
      return;
    }
    const now = Date.now();
    let bad = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const e: unknown = JSON.parse(line);
        if (!isPlainObject(e) || typeof e.k !== 'string')
          throw new JobExecutorError('JOURNAL_ERROR', 'not a journal entry');
        this.apply(e as Entry, now, true);
      } catch {
        bad++;
      }
    }
    if (bad > 0)
      this.options.logger.warn(
        { file: this.filePath, lines: bad },
        'run journal: lines that could not be read were skipped',
      );
  }

  private snapshot(): string {
    const lines: string[] = [];
    for (const [id, at] of this.closed) lines.push(JSON.stringify({ k: 'closed', id, at }));
    for (const [id, run] of this.open) {
      lines.push(JSON.stringify({ k: 'open', event: run.event, at: run.openedAt }));
      for (const a of run.answers) {
        lines.push(JSON.stringify({ k: 'answer', id, answer: a.answer }));
        if (a.delivered) lines.push(JSON.stringify({ k: 'delivered', id, answerId: a.answer.id }));
      }
      for (const name of run.tasks) lines.push(JSON.stringify({ k: 'task', id, name }));
      for (const handle of run.processes) lines.push(JSON.stringify({ k: 'process', id, handle }));
    }
    return lines.length > 0 ? `${lines.join('\n')}\n` : '';
  }

  /** Rewrites the file from the state: a new file made durable, then renamed over the old one. */
  private compactSync(): void {
    const text = this.snapshot();
    const tmp = `${this.filePath}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    const fd = openSync(tmp, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.filePath);
    syncDir(this.options.dir);
    this.size = Buffer.byteLength(text);
  }

  private async compact(): Promise<void> {
    const old = this.file;
    // Entries written but not yet flushed are in the state already, so the snapshot holds them: appended
    // again after it, a second `open` would wipe the answers recorded before it when the file is replayed.
    const covered = this.waiters;
    const batch = this.batch;
    this.batch = [];
    this.waiters = [];
    try {
      this.compactSync();
      for (const w of covered) w.resolve();
    } catch (e) {
      this.batch = [...batch, ...this.batch];
      this.waiters = [...covered, ...this.waiters];
      this.options.logger.error(
        { err: errorMessage(e), file: this.filePath },
        'run journal: compaction failed; appending to the old file',
      );
      return;
    }
    try {
      this.file = await open(this.filePath, 'a', 0o600);
      await old?.close();
    } catch (e) {
      // The compacted file is in place; without a handle on it nothing more can be journaled.
      this.file = undefined;
      await old?.close().catch(() => undefined);
      this.options.logger.error(
        { err: errorMessage(e), file: this.filePath },
        'run journal: cannot open the compacted file',
      );
    }
  }

  async closeFile(): Promise<void> {
    await this.flushing;
    await this.file?.close();
    this.file = undefined;
    releaseLock(this.options.dir);
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    /* not every file system syncs directories; the rename is still atomic */
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One service per journal: two writing the same file would each answer the other's runs after a restart. */
function takeLock(dir: string): void {
  const lock = path.join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && pidAlive(holder)) {
        throw new JobExecutorError(
          'SETTINGS_INVALID',
          `the work directory ${path.dirname(dir)} is in use by another job-executor (pid ${holder}); give each instance its own --work-dir`,
        );
      }
      // A lock left by a process that is gone (a crash): take it over.
      unlinkSync(lock);
    }
  }
}

function releaseLock(dir: string): void {
  const lock = path.join(dir, LOCK);
  try {
    if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
  } catch {
    /* already gone */
  }
}
