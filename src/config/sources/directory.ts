import { constants } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { JobExecutorError } from '../../errors.js';
import { loadJobConfig } from '../parse.js';
import { readConfigText } from '../read.js';
import { filesEntryProblem } from '../rules.js';
import type { JobConfig } from '../schema.js';
import type { ConfigLevel, ConfigScope, ConfigSource, FileSource, LoadedConfig, TaskFile } from '../source.js';
import { FileBudget } from '../task-files.js';
import { readAtMost } from '../../util/read-bounded.js';

const CONFIG_PATH = path.join('job', 'config.yaml');

/** Project, stage and service come from the event: they must be plain path segments, never `..` or `a/b`. */
function segment(name: string, value: string): string {
  if (value === '' || value.startsWith('.') || /[/\\\0]/.test(value)) {
    throw new JobExecutorError('CONFIG_NOT_FOUND', `data.${name}: "${value}" cannot name a config directory`);
  }
  return value;
}

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Files below `root`, for one `files` entry. Nothing outside the root is ever read: not through `..`, and
 * not through a symbolic link (a link to somewhere inside the root is fine). A link pointing out is refused
 * with an error naming the entry, never skipped. Messages name the entry, not the root's absolute path.
 */
export class DirectoryFileSource implements FileSource {
  private realRoot: Promise<string> | undefined;
  constructor(private readonly root: string) {}

  private refuseOutside(entry: string, rel: string): JobExecutorError {
    const what = rel === entry.replace(/^\/+/, '').replace(/\/+$/, '') ? '' : ` (at ${rel})`;
    return new JobExecutorError(
      'FILE_REFUSED',
      `files: "${entry}"${what} is a symbolic link to outside the config folder; only files inside it are delivered`,
    );
  }

  /** The real path of a file or folder below the root, refused when it resolves outside. */
  private async resolve(realRoot: string, abs: string, entry: string, rel: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(abs);
    } catch {
      throw new JobExecutorError(
        'FILE_NOT_FOUND',
        `files: could not find file or directory ${entry} in the config folder${rel === entry ? '' : ` (at ${rel})`}`,
      );
    }
    if (!inside(realRoot, real)) throw this.refuseOutside(entry, rel);
    return real;
  }

  /**
   * Reads one file that was resolved inside the root. It is opened without following a final symbolic link and
   * checked again through the open descriptor, so swapping the file for a link after the check gains nothing.
   */
  private async readInside(
    realRoot: string,
    real: string,
    entry: string,
    rel: string,
    budget: FileBudget,
  ): Promise<TaskFile> {
    let handle;
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      throw this.refuseOutside(entry, rel);
    }
    try {
      const opened = await realpath(`/proc/self/fd/${handle.fd}`).catch(() => real);
      if (!inside(realRoot, opened)) throw this.refuseOutside(entry, rel);
      const { size } = await handle.stat();
      budget.reserve(entry, rel, size);
      // Read what the file said it holds, and one byte more to notice a file that grew since.
      const content = await readAtMost(handle, size + 1);
      if (content.length > size)
        throw new JobExecutorError('FILE_REFUSED', `files: ${entry}: ${rel} changed while it was read`);
      return { path: rel, content };
    } finally {
      await handle.close();
    }
  }

  async read(entry: string, signal?: AbortSignal, budget: FileBudget = new FileBudget()): Promise<TaskFile[]> {
    const problem = filesEntryProblem(entry);
    if (problem) throw new JobExecutorError('FILE_REFUSED', `files: ${problem}`);
    const rel = entry.replace(/^\/+/, '').replace(/\/+$/, '');
    this.realRoot ??= realpath(this.root);
    const realRoot = await this.realRoot;
    const real = await this.resolve(realRoot, path.join(this.root, rel), entry, rel);
    if ((await stat(real)).isFile()) return [await this.readInside(realRoot, real, entry, rel, budget)];
    const out: TaskFile[] = [];
    // Iterative, in sorted order; a folder reached twice (links inside the root can loop) is read once.
    const seen = new Set<string>();
    const pending: Array<[string, string]> = [[real, rel]];
    while (pending.length > 0) {
      signal?.throwIfAborted();
      const [dir, relDir] = pending.shift() as [string, string];
      if (seen.has(dir)) continue;
      seen.add(dir);
      const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      );
      const subdirs: Array<[string, string]> = [];
      for (const e of entries) {
        const childRel = `${relDir}/${e.name}`;
        let childReal = path.join(dir, e.name);
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        if (e.isSymbolicLink()) {
          childReal = await this.resolve(realRoot, childReal, entry, childRel);
          const info = await stat(childReal);
          isDir = info.isDirectory();
          isFile = info.isFile();
        }
        if (isDir) subdirs.push([childReal, childRel]);
        else if (isFile) out.push(await this.readInside(realRoot, childReal, entry, childRel, budget));
      }
      pending.unshift(...subdirs);
    }
    if (out.length === 0)
      throw new JobExecutorError('FILE_NOT_FOUND', `files: folder ${entry} in the config folder holds no files`);
    return out;
  }
}

interface CacheEntry {
  readonly mtimeMs: number;
  readonly size: number;
  readonly config: JobConfig;
  readonly hash: string;
}

/**
 * Parsed configs by path. A file is looked at again (stat) at most once per `recheckMs`, and re-parsed only
 * when its mtime or size changed: editing a config takes effect within a second, while a busy service does
 * not touch the disk for every event. Missing files are remembered the same way.
 */
export class ParsedFileCache {
  private readonly parsed = new Map<string, CacheEntry>();
  private readonly checked = new Map<string, { at: number; found: CacheEntry | undefined }>();

  constructor(private readonly recheckMs = 1000) {}

  /**
   * Returns undefined when the file does not exist. Throws CONFIG_INVALID when it does but is bad; `name` is
   * how its message calls the file (relative to the config root).
   */
  async get(file: string, name: string): Promise<{ config: JobConfig; hash: string } | undefined> {
    const now = Date.now();
    const recent = this.checked.get(file);
    if (recent && now - recent.at < this.recheckMs) return recent.found;
    let found: CacheEntry | undefined;
    let info;
    try {
      info = await stat(file);
    } catch {
      info = undefined;
    }
    if (info?.isFile()) {
      const hit = this.parsed.get(file);
      if (hit && hit.mtimeMs === info.mtimeMs && hit.size === info.size) found = hit;
      else {
        // A bad file is not cached: it throws on every look until it is fixed.
        this.checked.delete(file);
        found = {
          mtimeMs: info.mtimeMs,
          size: info.size,
          ...(await loadJobConfig(await readConfigText(file, name), name)),
        };
        this.parsed.set(file, found);
      }
    } else this.parsed.delete(file);
    this.checked.set(file, { at: now, found });
    return found;
  }
}

/**
 * A directory laid out by scope, looked up in JES order (jes-anchor.md §2.4) plus a global default:
 * `<root>/<project>/<stage>/<service>/job/config.yaml`, then `<root>/<project>/<stage>/job/config.yaml`,
 * `<root>/<project>/job/config.yaml`, `<root>/job/config.yaml`. A task's `files` are read relative to the
 * folder holding the `job/` folder that was used.
 */
export class DirectoryConfigSource implements ConfigSource {
  private readonly cache = new ParsedFileCache();
  constructor(private readonly root: string) {}

  describe(): string {
    return `directory ${this.root}`;
  }

  async load(scope: ConfigScope): Promise<LoadedConfig> {
    const p = segment('project', scope.project);
    const s = segment('stage', scope.stage);
    const svc = segment('service', scope.service);
    const levels: Array<[ConfigLevel, string]> = [
      ['service', path.join(this.root, p, s, svc)],
      ['stage', path.join(this.root, p, s)],
      ['project', path.join(this.root, p)],
      ['global', this.root],
    ];
    for (const [level, dir] of levels) {
      const file = path.join(dir, CONFIG_PATH);
      // Messages name the file relative to the root: they reach HTTP callers and events.
      const origin = path.relative(this.root, file).split(path.sep).join('/');
      const found = await this.cache.get(file, origin);
      if (found) return { ...found, origin, level, files: new DirectoryFileSource(dir) };
    }
    throw new JobExecutorError(
      'CONFIG_NOT_FOUND',
      `no job/config.yaml for ${scope.project}/${scope.stage}/${scope.service} in the config directory (looked at service, stage, project and global level)`,
    );
  }
}

/** A single config file for every event. Its `files` are relative to the folder holding `job/`, or to its own folder. */
export class FileConfigSource implements ConfigSource {
  private readonly cache = new ParsedFileCache();
  private readonly filesRoot: string;
  /** The file relative to the folder its `files` are read from (`job/config.yaml`), for messages. */
  private readonly name: string;
  constructor(private readonly file: string) {
    const dir = path.dirname(file);
    this.filesRoot = path.basename(dir) === 'job' ? path.dirname(dir) : dir;
    this.name = path.relative(this.filesRoot, file).split(path.sep).join('/');
  }

  describe(): string {
    return `file ${this.file}`;
  }

  async load(): Promise<LoadedConfig> {
    const found = await this.cache.get(this.file, this.name);
    if (!found)
      throw new JobExecutorError('CONFIG_NOT_FOUND', `the config file ${this.name} does not exist (any more)`);
    return { ...found, origin: this.name, level: 'file', files: new DirectoryFileSource(this.filesRoot) };
  }
}

/** `--config PATH`: a directory source for a folder, a file source otherwise. */
export async function configSourceFor(location: string): Promise<ConfigSource> {
  const abs = path.resolve(location);
  let info;
  try {
    info = await stat(abs);
  } catch {
    throw new JobExecutorError('USAGE', `--config ${location}: no such file or directory`);
  }
  return info.isDirectory() ? new DirectoryConfigSource(abs) : new FileConfigSource(abs);
}
