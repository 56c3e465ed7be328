import type { JobConfig } from './schema.js';
import type { FileBudget } from './task-files.js';

/** Where an event's config is looked up: the event's scope (and commit, where the source has history). */
export interface ConfigScope {
  readonly project: string;
  readonly stage: string;
  readonly service: string;
  readonly gitcommitid?: string;
}

/** A file delivered to a task under `/keptn/<path>`. */
export interface TaskFile {
  /** Relative path below `/keptn`, with `/` separators and no leading slash. */
  readonly path: string;
  readonly content: Buffer;
}

/** The files that travel with a config: looked up in the same place the config came from. */
export interface FileSource {
  /**
   * One `files` entry: a file, or a folder whose files are all returned. Throws FILE_NOT_FOUND naming the
   * entry when there is neither, FILE_REFUSED when it leaves the config's folder (`..`, a symbolic link
   * pointing out) or breaks a limit. Use `readTaskFiles` for all entries of a task: it shares one budget.
   */
  read(entry: string, signal?: AbortSignal, budget?: FileBudget): Promise<TaskFile[]>;
}

export type ConfigLevel = 'service' | 'stage' | 'project' | 'global' | 'file';

export interface LoadedConfig {
  readonly config: JobConfig;
  /** SHA3-224 of the raw file, as JES labels its Jobs. */
  readonly hash: string;
  /**
   * Where it came from, for messages: the path relative to the config root (`proj/stage/job/config.yaml`) or
   * a resource address, never an absolute path of the service's machine (it reaches HTTP callers and events).
   */
  readonly origin: string;
  readonly level: ConfigLevel;
  readonly files: FileSource;
}

export interface ConfigSource {
  /** Throws CONFIG_NOT_FOUND when no level has a config, CONFIG_INVALID (naming every problem) when it is bad. */
  load(scope: ConfigScope, signal?: AbortSignal): Promise<LoadedConfig>;
  /** One line for logs and the README's startup banner. */
  describe(): string;
}
