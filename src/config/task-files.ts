import { JobExecutorError } from '../errors.js';
import { formatBytes, LIMITS } from './limits.js';
import type { FileSource, TaskFile } from './source.js';

interface Limits {
  readonly files: number;
  readonly bytes: number;
  /** `a task`, `a run`: who the limit is for, in messages. */
  readonly who: string;
}

const TASK: Limits = { files: LIMITS.taskFiles, bytes: LIMITS.taskFileBytes, who: 'a task' };
const RUN: Limits = { files: Number.POSITIVE_INFINITY, bytes: LIMITS.runFileBytes, who: 'the tasks of a run' };

/**
 * What one task (and, through its parent, its run) may still be given: files and bytes. A source reserves each
 * file before it reads it, so a folder of many or large files is refused before it is read, naming the entry
 * and the limit.
 */
export class FileBudget {
  private files = 0;
  private bytes = 0;

  constructor(
    private readonly limits: Limits = TASK,
    private readonly parent?: FileBudget,
  ) {}

  /** The budget of a whole run: pass it to readTaskFiles for each of its tasks. */
  static forRun(): FileBudget {
    return new FileBudget(RUN);
  }

  /** Throws FILE_REFUSED when the file would break a limit; `size` is what the file says it holds. */
  reserve(entry: string, path: string, size: number): void {
    if (size > LIMITS.fileBytes) {
      throw new JobExecutorError(
        'FILE_REFUSED',
        `files: ${entry}: ${path} is ${size} bytes, more than the limit of ${formatBytes(LIMITS.fileBytes)} per file`,
      );
    }
    this.check(entry, size);
    this.parent?.check(entry, size);
    this.take(size);
    this.parent?.take(size);
  }

  private check(entry: string, size: number): void {
    if (this.files + 1 > this.limits.files) {
      throw new JobExecutorError(
        'FILE_REFUSED',
        `files: ${entry}: ${this.limits.who} may be given at most ${this.limits.files} files`,
      );
    }
    if (this.bytes + size > this.limits.bytes) {
      throw new JobExecutorError(
        'FILE_REFUSED',
        `files: ${entry}: ${this.limits.who} may be given at most ${formatBytes(this.limits.bytes)} of files`,
      );
    }
  }

  private take(size: number): void {
    this.files++;
    this.bytes += size;
  }

  /** Files left before the count limit, so a source can refuse a long listing before it fetches anything. */
  filesLeft(): number {
    return Math.min(this.limits.files - this.files, this.parent?.filesLeft() ?? Number.POSITIVE_INFINITY);
  }
}

/**
 * Every file a task's `files` entries name, read from where its config came from, within the limits of one
 * task and, given `run` (FileBudget.forRun()), of its run. A path named twice (a folder and a file in it) is
 * delivered once. Throws FILE_NOT_FOUND or FILE_REFUSED naming the entry.
 */
export async function readTaskFiles(
  source: FileSource,
  entries: readonly string[],
  signal?: AbortSignal,
  run?: FileBudget,
): Promise<TaskFile[]> {
  const budget = new FileBudget(TASK, run);
  const out = new Map<string, TaskFile>();
  for (const entry of entries) {
    signal?.throwIfAborted();
    for (const file of await source.read(entry, signal, budget)) if (!out.has(file.path)) out.set(file.path, file);
  }
  return [...out.values()];
}
