import type { Logger } from 'pino';
import { z } from 'zod';
import { JobExecutorError, isJobExecutorError } from '../../errors.js';
import { KeptnApiClient, isKeptnApiError } from '../../keptn/api-client.js';
import { Backoff, sleep } from '../../util/backoff.js';
import { LIMITS } from '../limits.js';
import { loadJobConfig } from '../parse.js';
import { TOO_LARGE } from '../read.js';
import { filesEntryProblem } from '../rules.js';
import type { ConfigLevel, ConfigScope, ConfigSource, FileSource, LoadedConfig, TaskFile } from '../source.js';
import { FileBudget } from '../task-files.js';

const CONFIG_URI = 'job/config.yaml';

/**
 * How `{resourceURI}` is encoded (keptn-protocol.md §3.3): `double` through the API gateway (nginx decodes once,
 * the resource service once more; also fine directly against resource-service:8080), `single` through the
 * distributor's proxy (which escapes the segment once more itself).
 */
export type ResourceUriEncoding = 'single' | 'double';

export interface KeptnResourceSourceOptions {
  /** `{API}/resource-service`, `http://resource-service:8080`, or the distributor's `http://localhost:8081/resource-service`. */
  readonly baseUrl: string;
  readonly token?: string;
  readonly encoding: ResourceUriEncoding;
  readonly timeoutMs: number;
  /** How long a lookup that can change (no commit, project level, not found) is reused. */
  readonly cacheMs: number;
  readonly logger: Logger;
  /** Attempts for one resource GET when the service answers 5xx or cannot be reached. */
  readonly attempts?: number;
}

type Level = Extract<ConfigLevel, 'service' | 'stage' | 'project'>;

const ResourceSchema = z
  .object({
    resourceURI: z.string().optional(),
    resourceContent: z.string(),
    metadata: z.object({ version: z.string().optional() }).loose().optional(),
  })
  .loose();
const ResourceListSchema = z
  .object({
    resources: z.array(z.object({ resourceURI: z.string() }).loose()).nullish(),
    nextPageKey: z.string().nullish(),
  })
  .loose();

/** The resource path of one level, with names encoded once (Keptn names are `[a-z0-9-]`, so this only guards). */
function levelPath(level: Level, scope: ConfigScope): string {
  const p = `/v1/project/${encodeURIComponent(scope.project)}`;
  if (level === 'project') return p;
  const s = `${p}/stage/${encodeURIComponent(scope.stage)}`;
  return level === 'stage' ? s : `${s}/service/${encodeURIComponent(scope.service)}`;
}

/** A commit belongs to the stage branch: it is sent for service and stage lookups, never for the project (default branch). */
function commitFor(level: Level, scope: ConfigScope): string | undefined {
  return level === 'project' ? undefined : scope.gitcommitid;
}

/** `files` entries: relative, no `..`, `.` or `~` (the resource service refuses them with 400; the schema too). */
function resourceUri(entry: string): string {
  const problem = filesEntryProblem(entry);
  if (problem) throw new JobExecutorError('FILE_REFUSED', `files: ${problem}`);
  return entry.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** Bytes that base64 text decodes to, without decoding it. */
function decodedSize(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.floor((base64.replace(/\s/g, '').length * 3) / 4) - padding;
}

interface Cached {
  readonly outcome: Promise<LoadedConfig>;
  expires: number;
}

/**
 * `job/config.yaml` and task files from Keptn's git-backed resource service (keptn-protocol.md §3.3), looked up
 * at service, stage, then project level like JES (jes-anchor.md §2.4): service and stage at the event's
 * `gitcommitid`, the project level at the head of the default branch (the commit is not on that branch).
 *
 * Unlike JES, only a 404 falls through to the next level: an unreachable or failing resource service is an
 * error that says so (KEPTN_API_ERROR), not a misleading "no config". Such errors are retried a few times
 * and never cached.
 *
 * Cache: a config found at service or stage level at a commit cannot change, so it is kept (up to 500
 * entries); everything else (no commit, project level, not found, invalid) is reused for `cacheMs` only, so a
 * pushed fix is seen soon. Lookups for the same scope and commit that overlap share one set of requests.
 */
export class KeptnResourceConfigSource implements ConfigSource {
  private readonly api: KeptnApiClient;
  private readonly cache = new Map<string, Cached>();
  private readonly attempts: number;

  constructor(private readonly options: KeptnResourceSourceOptions) {
    this.api = new KeptnApiClient({
      baseUrl: options.baseUrl,
      ...(options.token ? { token: options.token } : {}),
      timeoutMs: options.timeoutMs,
      endpointSetting: 'RESOURCE_SERVICE_URL (or KEPTN_API_ENDPOINT)',
    });
    this.attempts = options.attempts ?? 3;
  }

  describe(): string {
    return `keptn resource service ${this.api.baseUrl} (${this.options.encoding}-encoded URIs)`;
  }

  load(scope: ConfigScope, signal?: AbortSignal): Promise<LoadedConfig> {
    for (const name of ['project', 'stage', 'service'] as const) {
      if (scope[name] === '' || scope[name].includes('/')) {
        return Promise.reject(
          new JobExecutorError('CONFIG_NOT_FOUND', `data.${name}: "${scope[name]}" cannot name a Keptn ${name}`),
        );
      }
    }
    const key = `${scope.project}/${scope.stage}/${scope.service}@${scope.gitcommitid ?? ''}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) return hit.outcome;
    const entry: Cached = { outcome: this.lookup(scope, signal), expires: Number.POSITIVE_INFINITY };
    this.cache.set(key, entry);
    entry.outcome.then(
      (loaded) => {
        const immutable = scope.gitcommitid !== undefined && loaded.level !== 'project';
        entry.expires = immutable ? Number.POSITIVE_INFINITY : Date.now() + this.options.cacheMs;
      },
      (e: unknown) => {
        // A config that is invalid at a commit stays invalid; "not found" may change; API trouble is never kept.
        const keep = isJobExecutorError(e) && (e.code === 'CONFIG_INVALID' || e.code === 'CONFIG_NOT_FOUND');
        if (keep) entry.expires = Date.now() + this.options.cacheMs;
        else if (this.cache.get(key) === entry) this.cache.delete(key);
      },
    );
    this.prune(now);
    return entry.outcome;
  }

  private prune(now: number): void {
    for (const [k, v] of this.cache) if (v.expires <= now) this.cache.delete(k);
    while (this.cache.size > 500) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  private async lookup(scope: ConfigScope, signal?: AbortSignal): Promise<LoadedConfig> {
    const levels: Level[] = ['service', 'stage', 'project'];
    for (const level of levels) {
      const commit = commitFor(level, scope);
      const origin = `keptn:${this.where(level, scope)}/${CONFIG_URI}${commit ? `@${commit}` : ''}`;
      const found = await this.get(level, scope, CONFIG_URI, commit, signal, (size) => {
        if (size > LIMITS.configBytes)
          throw new JobExecutorError('CONFIG_INVALID', `${origin}: invalid job config: ${TOO_LARGE}`);
      });
      if (!found) continue;
      const parsed = await loadJobConfig(found.toString('utf8'), origin, signal);
      this.options.logger.debug({ origin }, 'job config loaded from the resource service');
      return { ...parsed, origin, level, files: new KeptnResourceFileSource(this, scope) };
    }
    throw new JobExecutorError(
      'CONFIG_NOT_FOUND',
      `no ${CONFIG_URI} in Keptn's resource service for ${scope.project}/${scope.stage}/${scope.service} (looked at service and stage level${
        scope.gitcommitid ? ` at commit ${scope.gitcommitid}` : ''
      }, and at project level); add it with: keptn add-resource --project=${scope.project} --stage=${scope.stage} --service=${scope.service} --resource=config.yaml --resourceUri=${CONFIG_URI}`,
    );
  }

  private where(level: Level, scope: ConfigScope): string {
    return level === 'project'
      ? scope.project
      : level === 'stage'
        ? `${scope.project}/${scope.stage}`
        : `${scope.project}/${scope.stage}/${scope.service}`;
  }

  private encode(uri: string): string {
    const once = encodeURIComponent(uri);
    return this.options.encoding === 'double' ? encodeURIComponent(once) : once;
  }

  /** Retries what may pass (5xx, unreachable), not what will not (4xx). */
  private async withRetries<T>(what: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const backoff = new Backoff(300, 3000);
    for (let attempt = 1; ; attempt++) {
      try {
        return await what();
      } catch (e) {
        if (!isKeptnApiError(e) || !e.transient || attempt >= this.attempts || signal?.aborted) throw e;
        this.options.logger.warn({ err: e.message, attempt }, 'resource service call failed; retrying');
        await sleep(backoff.next(), signal);
      }
    }
  }

  /**
   * One resource's bytes, or undefined when this level does not have it (404). `admit` sees the decoded size
   * first and may throw, so an oversized resource is refused before it is decoded.
   */
  async get(
    level: Level,
    scope: ConfigScope,
    uri: string,
    commit: string | undefined,
    signal?: AbortSignal,
    admit?: (size: number) => void,
  ): Promise<Buffer | undefined> {
    const path = `${levelPath(level, scope)}/resource/${this.encode(uri)}`;
    let body: unknown;
    try {
      body = await this.withRetries(
        () => this.api.request('GET', path, { query: { gitCommitID: commit }, ...(signal ? { signal } : {}) }),
        signal,
      );
    } catch (e) {
      if (isKeptnApiError(e) && e.status === 404) return undefined;
      throw e;
    }
    const parsed = ResourceSchema.safeParse(body);
    if (!parsed.success) {
      throw new JobExecutorError(
        'KEPTN_API_ERROR',
        `GET ${this.api.url(path)}: the answer has no resourceContent (is RESOURCE_SERVICE_URL the resource service?)`,
      );
    }
    admit?.(decodedSize(parsed.data.resourceContent));
    // Standard base64, not URL-safe (§3.3).
    return Buffer.from(parsed.data.resourceContent, 'base64');
  }

  /** Every resource URI at a level (with the leading slash the service gives them), following `nextPageKey`. */
  async list(level: Level, scope: ConfigScope, commit: string | undefined, signal?: AbortSignal): Promise<string[]> {
    const path = `${levelPath(level, scope)}/resource`;
    const out: string[] = [];
    let nextPageKey: string | undefined;
    for (let page = 0; page < 1000; page++) {
      let body: unknown;
      try {
        body = await this.withRetries(
          () =>
            this.api.request('GET', path, {
              query: { gitCommitID: commit, pageSize: '100', nextPageKey },
              ...(signal ? { signal } : {}),
            }),
          signal,
        );
      } catch (e) {
        if (isKeptnApiError(e) && e.status === 404) return out;
        throw e;
      }
      const parsed = ResourceListSchema.safeParse(body);
      if (!parsed.success)
        throw new JobExecutorError('KEPTN_API_ERROR', `GET ${this.api.url(path)}: not a resource list`);
      for (const r of parsed.data.resources ?? [])
        out.push(r.resourceURI.startsWith('/') ? r.resourceURI : `/${r.resourceURI}`);
      nextPageKey = parsed.data.nextPageKey ?? undefined;
      if (!nextPageKey || nextPageKey === '0') return out;
    }
    return out;
  }

  /** Used by the file source: the levels in lookup order with their commits. */
  levels(scope: ConfigScope): Array<{ level: Level; commit: string | undefined; where: string }> {
    return (['service', 'stage', 'project'] as const).map((level) => ({
      level,
      commit: commitFor(level, scope),
      where: this.where(level, scope),
    }));
  }
}

/**
 * A task's `files` from the resource service, at the event's commit: each entry is a file, or else a "folder"
 * (every resource whose URI starts with `/<entry>/`). Looked up at service level first, as JES does, then at
 * stage and project level, so files can also live next to a shared config.
 */
export class KeptnResourceFileSource implements FileSource {
  constructor(
    private readonly source: KeptnResourceConfigSource,
    private readonly scope: ConfigScope,
  ) {}

  async read(entry: string, signal?: AbortSignal, budget: FileBudget = new FileBudget()): Promise<TaskFile[]> {
    const uri = resourceUri(entry);
    for (const { level, commit } of this.source.levels(this.scope)) {
      const exact = await this.source.get(level, this.scope, uri, commit, signal, (size) =>
        budget.reserve(entry, uri, size),
      );
      if (exact) return [{ path: uri, content: exact }];
      const prefix = `/${uri}/`;
      const below = (await this.source.list(level, this.scope, commit, signal))
        .filter((u) => u.startsWith(prefix))
        .sort();
      if (below.length === 0) continue;
      if (below.length > budget.filesLeft()) {
        throw new JobExecutorError(
          'FILE_REFUSED',
          `files: ${entry}: the folder holds ${below.length} files; a task may be given at most ${LIMITS.taskFiles}`,
        );
      }
      const files: TaskFile[] = [];
      for (const u of below) {
        const rel = u.slice(1);
        // A listed URI is the service's text: it must be a path below the entry like any other.
        if (filesEntryProblem(rel))
          throw new JobExecutorError(
            'FILE_REFUSED',
            `files: ${entry}: the resource service listed "${u}", which is not a plain path`,
          );
        const content = await this.source.get(level, this.scope, rel, commit, signal, (size) =>
          budget.reserve(entry, rel, size),
        );
        if (!content)
          throw new JobExecutorError(
            'FILE_NOT_FOUND',
            `files: ${u} was listed at ${level} level but could not be read`,
          );
        files.push({ path: rel, content });
      }
      return files;
    }
    const s = this.scope;
    throw new JobExecutorError(
      'FILE_NOT_FOUND',
      `files: could not find file or directory ${entry} in Keptn's resource service for ${s.project}/${s.stage}/${s.service} (looked at service, stage${
        s.gitcommitid ? ` at commit ${s.gitcommitid}` : ''
      } and project level)`,
    );
  }
}
