import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { JobExecutorError } from '../../errors.js';
import { parseJobConfigOrThrow } from '../parse.js';
import type { JobConfig } from '../schema.js';
import type { ConfigLevel, ConfigScope, ConfigSource, FileSource, LoadedConfig, TaskFile } from '../source.js';

const CONFIG_PATH = path.join('job', 'config.yaml');

/** Project, stage and service come from the event: they must be plain path segments, never `..` or `a/b`. */
function segment(name: string, value: string): string {
  if (value === '' || value.startsWith('.') || /[/\\\0]/.test(value)) {
    throw new JobExecutorError('CONFIG_NOT_FOUND', `data.${name}: "${value}" cannot name a config directory`);
  }
  return value;
}

/** Files below `root`, for one `files` entry. The entry may not climb out of the root. */
export class DirectoryFileSource implements FileSource {
  constructor(private readonly root: string) {}

  async read(entry: string): Promise<TaskFile[]> {
    const rel = path.posix.normalize(entry.replace(/\\/g, '/').replace(/^\/+/, '')).replace(/\/+$/, '');
    if (rel === '' || rel === '.' || rel.startsWith('../') || rel === '..') {
      throw new JobExecutorError('FILE_NOT_FOUND', `files: "${entry}" is outside the config directory`);
    }
    const abs = path.join(this.root, rel);
    let info;
    try {
      info = await stat(abs);
    } catch {
      throw new JobExecutorError('FILE_NOT_FOUND', `could not find file or directory ${entry} in ${this.root}`);
    }
    if (info.isFile()) return [{ path: rel, content: await readFile(abs) }];
    const out: TaskFile[] = [];
    const walk = async (dir: string, relDir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const e of entries) {
        const childAbs = path.join(dir, e.name);
        const childRel = `${relDir}/${e.name}`;
        if (e.isDirectory()) await walk(childAbs, childRel);
        else if (e.isFile()) out.push({ path: childRel, content: await readFile(childAbs) });
      }
    };
    await walk(abs, rel);
    if (out.length === 0) throw new JobExecutorError('FILE_NOT_FOUND', `folder ${entry} in ${this.root} holds no files`);
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

  /** Returns undefined when the file does not exist. Throws CONFIG_INVALID when it does but is bad. */
  async get(file: string): Promise<{ config: JobConfig; hash: string } | undefined> {
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
        found = { mtimeMs: info.mtimeMs, size: info.size, ...parseJobConfigOrThrow(await readFile(file, 'utf8'), file) };
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
      const found = await this.cache.get(file);
      if (found) return { ...found, origin: file, level, files: new DirectoryFileSource(dir) };
    }
    throw new JobExecutorError(
      'CONFIG_NOT_FOUND',
      `no job/config.yaml for ${scope.project}/${scope.stage}/${scope.service} in ${this.root} (looked at service, stage, project and global level)`,
    );
  }
}

/** A single config file for every event. Its `files` are relative to the folder holding `job/`, or to its own folder. */
export class FileConfigSource implements ConfigSource {
  private readonly cache = new ParsedFileCache();
  private readonly filesRoot: string;
  constructor(private readonly file: string) {
    const dir = path.dirname(file);
    this.filesRoot = path.basename(dir) === 'job' ? path.dirname(dir) : dir;
  }

  describe(): string {
    return `file ${this.file}`;
  }

  async load(): Promise<LoadedConfig> {
    const found = await this.cache.get(this.file);
    if (!found) throw new JobExecutorError('CONFIG_NOT_FOUND', `config file ${this.file} does not exist`);
    return { ...found, origin: this.file, level: 'file', files: new DirectoryFileSource(this.filesRoot) };
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
