import { JobExecutorError } from '../errors.js';
import { formatBytes, LIMITS } from './limits.js';
import type { FileSource, TaskFile } from './source.js';

/**
 * What one task may still be given: files and bytes. A source reserves each file before it reads it, so a
 * folder of many or large files is refused before it is read, naming the entry and the limit.
 */
export class FileBudget {
  private files = 0;
  private bytes = 0;

  /** Throws FILE_REFUSED when the file would break a limit; `size` is what the file says it holds. */
  reserve(entry: string, path: string, size: number): void {
    if (size > LIMITS.fileBytes) {
      throw new JobExecutorError('FILE_REFUSED', `files: ${entry}: ${path} is ${size} bytes, more than the limit of ${formatBytes(LIMITS.fileBytes)} per file`);
    }
    if (this.files + 1 > LIMITS.taskFiles) {
      throw new JobExecutorError('FILE_REFUSED', `files: ${entry}: a task may be given at most ${LIMITS.taskFiles} files`);
    }
    if (this.bytes + size > LIMITS.taskFileBytes) {
      throw new JobExecutorError('FILE_REFUSED', `files: ${entry}: a task may be given at most ${formatBytes(LIMITS.taskFileBytes)} of files`);
    }
    this.files++;
    this.bytes += size;
  }

  /** Files left before the count limit, so a source can refuse a long listing before it fetches anything. */
  filesLeft(): number {
    return LIMITS.taskFiles - this.files;
  }
}

/**
 * Every file a task's `files` entries name, read from where its config came from, within the limits of one
 * task. A path named twice (a folder and a file in it) is delivered once.
 */
export async function readTaskFiles(source: FileSource, entries: readonly string[], signal?: AbortSignal): Promise<TaskFile[]> {
  const budget = new FileBudget();
  const out = new Map<string, TaskFile>();
  for (const entry of entries) {
    signal?.throwIfAborted();
    for (const file of await source.read(entry, signal, budget)) if (!out.has(file.path)) out.set(file.path, file);
  }
  return [...out.values()];
}
